//! The console's export to a big-data platform (head office, [`crate::app::export`]): the
//! export runs (day, status, rows, bytes, where, who) with "run now" for a day, and the upload
//! of member tags computed by the platform (CSV or Parquet) with its report of rejected rows.

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Query, Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;
use serde::Deserialize;

use crate::actor::{Role, StaffActor};
use crate::app::export::{self as export_app, Origin, TagImportReport, MAX_TAG_FILE_BYTES};
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{
    check_csrf, console_page, redirect, when, Ctx, Form, Sid, Staff, WebError, WebResult,
};

/// Export routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/analytics/export", get(page).post(run_now))
        .route(
            "/console/analytics/tag-import",
            get(import_page)
                .post(import)
                .layer(DefaultBodyLimit::max(MAX_TAG_FILE_BYTES + (64 << 10))),
        )
}

#[derive(Debug, Deserialize, Default)]
struct PageParams {
    started: Option<String>,
    error: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<PageParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let runs = export_app::recent_runs(&state, 100).await?;
    let yesterday = chrono::Utc::now()
        .with_timezone(&crate::app::china_offset())
        .date_naive()
        .pred_opt()
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let settings = &state.settings.export;
    let body = html! {
        @if let Some(day) = &p.started { div.notice.ok role="status" #export-started {
            (ctx.t("已开始导出：", "Export started: ")) (day) (ctx.t("（刷新查看结果）", " (reload to see how it ends)"))
        } }
        @if p.error.is_some() { div.notice.err role="alert" #export-error {
            (ctx.t("请输入有效的日期（YYYY-MM-DD）。", "Enter a valid date (YYYY-MM-DD)."))
        } }
        form.card.row #run-now method="post" action="/console/analytics/export" {
            (ctx.csrf_field())
            label for="day" { (ctx.t("导出日期（北京时间）", "Day (China time)")) }
            input #day type="date" name="day" value=(yesterday) required style="max-width:170px";
            button.btn type="submit" #run-now-submit { (ctx.t("立即导出", "Run now")) }
        }
        div.card #export-settings {
            p.muted {
                (ctx.t("每日自动导出：", "Daily export: "))
                @if settings.enabled {
                    (ctx.t("已开启，", "on, at ")) (settings.hour) ":00 " (ctx.t("导出前 ", "(China time), the "))
                    (settings.days_back) (ctx.t(" 天。", " day(s) before today."))
                } @else { (ctx.t("未开启（[export] enabled）。", "off ([export] enabled).")) }
                " " (ctx.t("格式：Parquet，每天每个数据集一个文件，附 manifest.json；会员以假名导出。", "Format: Parquet, one file per dataset and day, with a manifest.json; members are pseudonymised."))
            }
            a.btn.secondary href="/console/analytics/tag-import" { (ctx.t("导入会员标签", "Import member tags")) }
        }
        div.card #export-runs {
            b { (ctx.t("导出记录", "Export runs")) }
            @if runs.is_empty() { p.muted { (ctx.t("暂无导出。", "No exports yet.")) } }
            @else {
                div.table-wrap { table {
                    thead { tr {
                        th { (ctx.t("日期", "Day")) } th { (ctx.t("状态", "Status")) } th { (ctx.t("来源", "Origin")) }
                        th { (ctx.t("行数", "Rows")) } th { (ctx.t("字节", "Bytes")) } th { (ctx.t("位置", "Destination")) }
                        th { (ctx.t("开始", "Started")) } th { (ctx.t("操作人", "By")) }
                    } }
                    tbody { @for r in &runs {
                        tr data-run=(r.id) data-day=(r.day) data-status=(r.status) {
                            td { (r.day) }
                            td {
                                @match r.status.as_str() {
                                    "succeeded" => { span.chip { (ctx.t("成功", "succeeded")) } }
                                    "running" => { span.chip { (ctx.t("进行中", "running")) } }
                                    _ => { span.chip { (ctx.t("失败", "failed")) } }
                                }
                                @if let Some(e) = &r.error { br; small.muted { (e) } }
                            }
                            td { (r.trigger) }
                            td data-rows=(r.rows) { (r.rows) }
                            td { (r.bytes) }
                            td { code { (r.destination) } }
                            td { (when(r.started_at)) }
                            td { (r.requested_by) }
                        }
                    } }
                } }
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("数据导出", "Data export"),
        body,
    ))
}

#[derive(Debug, Deserialize)]
struct RunForm {
    day: String,
}

async fn run_now(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<RunForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let Ok(day) = export_app::parse_day(&form.day) else {
        return Ok(redirect("/console/analytics/export?error=day"));
    };
    // In the background: a day of a million events takes a while; the list shows the run.
    let (bg, by) = (state.clone(), staff.username.clone());
    tokio::spawn(async move {
        if let Err(e) = export_app::export_day(&bg, day, Origin::Console, &by).await {
            tracing::warn!(error = %e, "the export asked for in the console failed");
        }
    });
    Ok(redirect(&format!(
        "/console/analytics/export?started={}",
        day.format("%Y-%m-%d")
    )))
}

fn import_view(
    ctx: &Ctx,
    staff: &StaffActor,
    report: Option<&TagImportReport>,
    error: Option<&str>,
) -> Response {
    let body = html! {
        @if let Some(e) = error { div.notice.err role="alert" #import-error { (e) } }
        @if let Some(r) = report {
            div.notice.ok role="status" #import-report {
                (ctx.t("已导入：", "Imported: ")) span #accepted { (r.accepted) } " / " (r.rows)
                (ctx.t(" 行；更新标签 ", " rows; tags changed: ")) span #changed { (r.changed) }
                (ctx.t("；拒绝 ", "; rejected: ")) span #rejected-count { (r.rejected.len()) }
            }
            @if !r.rejected.is_empty() {
                div.card #rejected {
                    b { (ctx.t("被拒绝的行", "Rejected rows")) }
                    ul { @for row in &r.rejected {
                        li data-line=(row.line) { (ctx.t("第 ", "Line ")) (row.line) (ctx.t(" 行：", ": ")) (row.reason) }
                    } }
                }
            }
        }
        form.card method="post" action="/console/analytics/tag-import" enctype="multipart/form-data" {
            (ctx.csrf_field())
            div.field {
                label for="file" { (ctx.t("CSV 或 Parquet 文件（最大 16 MiB）", "CSV or Parquet file (at most 16 MiB)")) }
                input #file type="file" name="file" accept=".csv,.parquet,text/csv" required;
            }
            button.btn type="submit" #import-submit { (ctx.t("校验并导入", "Check and import")) }
        }
        div.card {
            p.muted { (ctx.t("列：member（会员 ID 或导出中的会员假名 member_key）、tag、value。CSV 第一行为表头。有效的行一次性全部应用，无效的行列出行号与原因；重复导入同一文件不会改变任何内容。",
                "Columns: member (the member id or the export's member_key), tag, value. A CSV starts with its header line. The valid rows are applied together; the others are listed with their line and reason; importing the same file again changes nothing.")) }
        }
    };
    console_page(
        ctx,
        staff,
        ctx.t("导入会员标签", "Import member tags"),
        body,
    )
}

async fn import_page(ctx: Ctx, Staff(staff): Staff) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(import_view(&ctx, &staff, None, None))
}

async fn import(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    axum::Extension(sid): axum::Extension<Sid>,
    request: Request,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let bad = || {
        WebError::App(AppError::bad_request(
            "invalid_form",
            "the upload could not be read",
        ))
    };
    let (parts, body) = request.into_parts();
    let mut multipart =
        Multipart::from_request(Request::from_parts(parts, Body::new(body)), &state)
            .await
            .map_err(|_| bad())?;
    let mut csrf = None;
    let mut file: Option<(String, Bytes)> = None;
    while let Some(part) = multipart.next_field().await.map_err(|_| bad())? {
        match part.name() {
            Some("_csrf") => csrf = Some(part.text().await.map_err(|_| bad())?),
            Some("file") => {
                let name = part.file_name().unwrap_or("upload").to_owned();
                file = Some((name, part.bytes().await.map_err(|_| bad())?));
            }
            _ => {}
        }
    }
    check_csrf(&state, &sid.0, csrf.as_deref())?;
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return Ok(import_view(
            &ctx,
            &staff,
            None,
            Some(ctx.t("请选择文件", "Choose a file")),
        ));
    };
    match export_app::import_member_tags(&state, &staff.username, &name, bytes).await {
        Ok(report) => Ok(import_view(&ctx, &staff, Some(&report), None)),
        Err(AppError::Invalid { message, .. }) => {
            Ok(import_view(&ctx, &staff, None, Some(&message)))
        }
        Err(e) => Err(e.into()),
    }
}
