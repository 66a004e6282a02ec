//! The console's recharge packages (充值套餐), head office only: the list with what each sold,
//! creating one (pay ¥100, get ¥110), retiring it and offering it again — through the same
//! functions as the JSON API ([`crate::app::recharges`]), so the rules are the API's.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use retail_domain::money::Money;
use serde::Deserialize;
use uuid::Uuid;

use crate::actor::StaffActor;
use crate::app::recharges::PackageAsk;
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{console_page, redirect, yuan, Ctx, Form, Staff, WebResult};

/// Recharge package routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/recharge-packages", get(list).post(create))
        .route("/console/recharge-packages/{id}/retire", post(retire))
        .route("/console/recharge-packages/{id}/offer", post(offer))
}

#[derive(Debug, Deserialize, Default, Clone)]
struct PackageForm {
    id: Option<String>,
    name: Option<String>,
    pay: Option<String>,
    bonus: Option<String>,
    sort: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct ListParams {
    done: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<ListParams>,
) -> WebResult<Response> {
    let notice = p.done.map(|_| ctx.t("已保存", "Saved").to_owned());
    view(&state, &ctx, &staff, &PackageForm::default(), None, notice).await
}

async fn view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    form: &PackageForm,
    problem: Option<String>,
    notice: Option<String>,
) -> WebResult<Response> {
    let packages = crate::app::recharges::all_packages(state, staff).await?;
    let id = form
        .id
        .clone()
        .unwrap_or_else(|| retail_domain::ids::new_id().to_string());
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let body = html! {
        @if let Some(n) = notice { div.notice role="status" { (n) } }
        @if let Some(p) = problem { div.notice.err role="alert" data-error="package" { (p) } }
        p.muted { (ctx.t("会员在商城充值时可选的套餐。赠送金额在消费时最后使用，不可提现。",
            "What members can buy in the shop's recharge. Bonus is spent last and never paid out.")) }
        div.table-wrap { table #packages {
            tr { th { (ctx.t("名称", "Name")) } th { (ctx.t("支付", "Pay")) } th { (ctx.t("赠送", "Bonus")) }
                th { (ctx.t("排序", "Order")) } th { (ctx.t("状态", "State")) } th {} }
            @for p in &packages {
                tr data-package=(p.id) data-active=(p.active) {
                    td { (p.name) } td { (yuan(p.pay.fen())) } td { (yuan(p.bonus.fen())) } td { (p.sort) }
                    td { @if p.active { (ctx.t("在售", "Offered")) } @else { (ctx.t("已停售", "Retired")) } }
                    td {
                        @let action = if p.active { "retire" } else { "offer" };
                        form.inline method="post" action={ "/console/recharge-packages/" (p.id) "/" (action) } {
                            (ctx.csrf_field())
                            button.link type="submit" data-action=(action) {
                                @if p.active { (ctx.t("停售", "Retire")) } @else { (ctx.t("重新上架", "Offer again")) }
                            }
                        }
                    }
                }
            }
        } }
        h2 { (ctx.t("新建套餐", "New package")) }
        form.card #new-package method="post" action="/console/recharge-packages" {
            (ctx.csrf_field())
            input type="hidden" name="id" value=(id);
            div.field { label for="name" { (ctx.t("名称", "Name")) } input #name name="name" value=(value(&form.name)) placeholder="充100送10"; }
            div.field { label for="pay" { (ctx.t("支付金额（元）", "Pay (yuan)")) } input #pay name="pay" inputmode="decimal" value=(value(&form.pay)); }
            div.field { label for="bonus" { (ctx.t("赠送金额（元）", "Bonus (yuan)")) } input #bonus name="bonus" inputmode="decimal" value=(form.bonus.clone().unwrap_or_else(|| "0".into())); }
            div.field { label for="sort" { (ctx.t("排序", "Order")) } input #sort name="sort" inputmode="numeric" value=(form.sort.clone().unwrap_or_else(|| "0".into())); }
            button.btn #create-package type="submit" { (ctx.t("保存", "Save")) }
        }
    };
    Ok(console_page(
        ctx,
        staff,
        ctx.t("充值套餐", "Recharge packages"),
        body,
    ))
}

async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Form(form): Form<PackageForm>,
) -> WebResult<Response> {
    let money = |text: &Option<String>, field: &str| {
        Money::parse(text.as_deref().unwrap_or("").trim())
            .map_err(|_| AppError::field(field, "an amount in yuan, e.g. 100 or 100.00"))
    };
    let ask = (|| {
        Ok::<_, AppError>(PackageAsk {
            id: form
                .id
                .as_deref()
                .and_then(|i| Uuid::try_parse(i).ok())
                .ok_or_else(|| AppError::field("id", "missing"))?,
            name: form.name.clone().unwrap_or_default(),
            pay: money(&form.pay, "pay")?,
            bonus: money(&form.bonus, "bonus")?,
            sort: form
                .sort
                .as_deref()
                .unwrap_or("0")
                .trim()
                .parse()
                .map_err(|_| AppError::field("sort", "a whole number"))?,
        })
    })();
    let outcome = match ask {
        Ok(ask) => crate::app::recharges::create_package(&state, &staff, &ask).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => Ok(redirect("/console/recharge-packages?done=saved")),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            view(&state, &ctx, &staff, &form, Some(e.to_string()), None).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn retire(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    crate::app::recharges::set_package_active(&state, &staff, id, false).await?;
    Ok(redirect("/console/recharge-packages?done=saved"))
}

async fn offer(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    crate::app::recharges::set_package_active(&state, &staff, id, true).await?;
    Ok(redirect("/console/recharge-packages?done=saved"))
}
