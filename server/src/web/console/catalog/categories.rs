//! The console's category screen (head office): the tree (at most three levels) with each
//! category's names, parent and display order editable in place — renaming, moving and
//! ordering — and a form to create one. Saving goes through
//! [`crate::app::catalog::save_category`] (the API's checks, the level limit, audited, on the
//! change feed).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use retail_domain::wire::catalog::CategoryRecord;
use serde::Deserialize;

use crate::actor::{Role, StaffActor};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::web::console::NoticeParams;
use crate::web::{console_page, redirect, Ctx, Form, Staff, WebResult};

/// Category screen routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/console/catalog/categories", get(page).post(save))
}

/// The tree in display order: each category with its depth (0 = top level).
fn tree(all: &[CategoryRecord]) -> Vec<(usize, &CategoryRecord)> {
    fn walk<'a>(
        all: &'a [CategoryRecord],
        parent: Option<&str>,
        depth: usize,
        out: &mut Vec<(usize, &'a CategoryRecord)>,
    ) {
        let mut children: Vec<&CategoryRecord> = all
            .iter()
            .filter(|c| c.parent_id.as_deref() == parent)
            .collect();
        children.sort_by(|a, b| a.sort.cmp(&b.sort).then(a.id.cmp(&b.id)));
        for c in children {
            out.push((depth, c));
            if depth < 8 {
                walk(all, Some(&c.id), depth + 1, out);
            }
        }
    }
    let mut out = Vec::with_capacity(all.len());
    walk(all, None, 0, &mut out);
    out
}

fn parent_select(ctx: &Ctx, all: &[CategoryRecord], current: Option<&str>, own: &str) -> Markup {
    html! {
        select name="parent_id" aria-label=(ctx.t("上级分类", "Parent")) style="max-width:180px" {
            option value="" selected[current.is_none()] { (ctx.t("（顶级）", "(top level)")) }
            @for c in all.iter().filter(|c| c.id != own) {
                option value=(c.id) selected[current == Some(c.id.as_str())] { (c.id) " " (ctx.lang.pick(&c.name_zh, &c.name_en)) }
            }
        }
    }
}

async fn view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    error: Option<&str>,
    done: bool,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let all = storage::catalog::categories(&state.store).await?;
    let body = html! {
        @if done { div.notice.ok role="status" { (ctx.t("已保存并记入审计日志。", "Saved and recorded in the audit log.")) } }
        @if let Some(e) = error { div.notice.err role="alert" #category-error { (e) } }
        form.card.row method="post" action="/console/catalog/categories" #new-category {
            (ctx.csrf_field())
            input name="code" placeholder=(ctx.t("编码", "Code")) style="max-width:110px" required;
            input name="name_zh" placeholder=(ctx.t("中文名称", "Chinese name")) style="max-width:150px" required;
            input name="name_en" placeholder=(ctx.t("英文名称", "English name")) style="max-width:150px";
            (parent_select(ctx, &all, None, ""))
            input.qty name="sort" value="0" aria-label=(ctx.t("排序", "Order")) style="width:70px!important";
            button.btn type="submit" { (ctx.t("新建分类", "New category")) }
        }
        div.card #categories {
            @for (depth, c) in tree(&all) {
                form.row method="post" action="/console/catalog/categories" style={ "padding-left:" (depth * 24) "px" } data-category=(c.id) {
                    (ctx.csrf_field())
                    input type="hidden" name="code" value=(c.id);
                    b style="min-width:70px" { (c.id) }
                    input name="name_zh" value=(c.name_zh) style="max-width:150px" aria-label=(ctx.t("中文名称", "Chinese name"));
                    input name="name_en" value=(c.name_en) style="max-width:150px" aria-label=(ctx.t("英文名称", "English name"));
                    (parent_select(ctx, &all, c.parent_id.as_deref(), &c.id))
                    input.qty name="sort" value=(c.sort) aria-label=(ctx.t("排序", "Order")) style="width:70px!important";
                    button.btn.secondary type="submit" { (ctx.t("保存", "Save")) }
                }
            }
        }
    };
    Ok(console_page(ctx, staff, ctx.t("分类", "Categories"), body))
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(n): Query<NoticeParams>,
) -> WebResult<Response> {
    view(&state, &ctx, &staff, None, n.done.is_some()).await
}

#[derive(Debug, Deserialize, Default)]
struct CategoryForm {
    #[serde(default)]
    code: String,
    parent_id: Option<String>,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    sort: String,
}

async fn save(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Form(f): Form<CategoryForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let sort = f.sort.trim();
    let result = match sort.parse::<i64>() {
        Ok(sort) => {
            crate::app::catalog::save_category(
                &state,
                &staff.actor(),
                &f.code,
                f.parent_id.as_deref(),
                &f.name_zh,
                &f.name_en,
                sort,
            )
            .await
        }
        Err(_) if sort.is_empty() => Err(AppError::field("sort", "is required")),
        Err(_) => Err(AppError::field("sort", "must be a whole number")),
    };
    match result {
        Ok(_) => Ok(redirect("/console/catalog/categories?done=1")),
        Err(err @ AppError::Invalid { .. }) => {
            let page = view(&state, &ctx, &staff, Some(&err.to_string()), false).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(err) => Err(err.into()),
    }
}
