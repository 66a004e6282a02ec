//! The console's coupon templates: head office creates 满减券, 折扣券 and 无门槛券 with scope,
//! validity, per-member limit and stock, and ends them; head office and store managers list them
//! and issue coupons to a member by phone. Creating and issuing go through the same functions as
//! the JSON API ([`crate::app::coupons`]), so the validation is the API's.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{Duration, Utc};
use maud::html;
use retail_domain::money::Money;
use retail_domain::pricing::{CouponRule, Scope};
use serde::Deserialize;
use uuid::Uuid;

use crate::actor::{Role, StaffActor};
use crate::app::coupons::{create_coupon_template, issue_coupon, CreateTemplate, IssueRequest};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::coupons::{CouponTerms, IssueOn, TemplateView};
use crate::storage::paging::{Cursor, PAGE_SIZE};
use crate::web::coupon_text::rule_text;
use crate::web::{console_page, pager, redirect, when, Ctx, Form, Lang, Staff, WebResult};

/// Coupon template routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/coupons", get(list).post(create))
        .route("/console/coupons/{id}/end", post(end))
        .route("/console/coupons/{id}/issue", post(issue))
}

fn issue_on_label(lang: Lang, how: IssueOn) -> &'static str {
    match how {
        IssueOn::Staff => lang.t("人工发放", "Issued by staff"),
        IssueOn::Signup => lang.t("注册赠送", "On sign-up"),
        IssueOn::TierUpgrade => lang.t("升级赠送", "On tier upgrade"),
        IssueOn::Claim => lang.t("领券中心", "Coupon centre"),
    }
}

/// A template's stock for people: `issued / total` or `issued / ∞`.
fn stock_text(t: &TemplateView) -> String {
    match t.stock_total {
        Some(total) => format!("{} / {total}", t.issued),
        None => format!("{} / ∞", t.issued),
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
struct TemplateForm {
    id: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    min_spend: Option<String>,
    amount: Option<String>,
    factor: Option<String>,
    max_discount: Option<String>,
    issue_on: Option<String>,
    days: Option<String>,
    valid_days: Option<String>,
    per_member_limit: Option<String>,
    stock_total: Option<String>,
    store: Option<String>,
    category: Option<String>,
    stacks: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct ListParams {
    done: Option<String>,
    /// The templates' page cursor ([`storage::paging::Cursor`]); none on the first page.
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<ListParams>,
) -> WebResult<Response> {
    view(&state, &ctx, &staff, &TemplateForm::default(), None, &p).await
}

/// The page again (the list's first page) with the form as sent and what is wrong with it.
async fn form_again(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    form: &TemplateForm,
    problem: Option<String>,
) -> WebResult<Response> {
    view(state, ctx, staff, form, problem, &ListParams::default()).await
}

/// The templates (the page of them `list` asks for) and the form, with `problem` about it.
async fn view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    form: &TemplateForm,
    problem: Option<String>,
    list: &ListParams,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let notice = list.done.as_deref().map(|d| match d {
        "issued" => ctx.t("已发放", "Issued"),
        _ => ctx.t("已保存", "Saved"),
    });
    let cursor = Cursor::parse(list.cursor.as_deref())?;
    let page = storage::coupons::templates(&state.store, None, cursor.as_ref(), PAGE_SIZE).await?;
    let templates = &page.items;
    let admin = staff.require(&[Role::HeadOfficeAdmin]).is_ok();
    let now = Utc::now();
    let id = form
        .id
        .clone()
        .unwrap_or_else(|| retail_domain::ids::new_id().to_string());
    let kind = form.kind.as_deref().unwrap_or("threshold");
    let issue_on = form.issue_on.as_deref().unwrap_or("staff");
    let value = |v: &Option<String>, d: &'static str| v.clone().unwrap_or_else(|| d.to_owned());
    let body = html! {
        @if let Some(n) = notice { div.notice role="status" { (n) } }
        @if let Some(p) = problem { div.notice.err role="alert" data-error="coupon" { (p) } }
        div.table-wrap { table #templates {
            tr { th { (ctx.t("名称", "Name")) } th { (ctx.t("规则", "Rule")) } th { (ctx.t("发放方式", "Issued")) }
                th { (ctx.t("已发/库存", "Issued / stock")) } th { (ctx.t("每人限领", "Per member")) } th { (ctx.t("有效期至", "Valid until")) } th {} }
            @for t in templates {
                @let live = t.ended_at.is_none() && t.valid_until > now;
                tr data-template=(t.id) {
                    td { (t.terms.name_zh) }
                    td { (rule_text(ctx.lang, &t.terms.rule))
                        @if !t.terms.stores.is_empty() { br; span.muted { (t.terms.stores.join(" ")) } }
                        @if !t.terms.scope.categories.is_empty() { br; span.muted { (ctx.t("品类 ", "Categories ")) (t.terms.scope.categories.join(" ")) } } }
                    td { (issue_on_label(ctx.lang, t.issue_on)) }
                    td.stock { (stock_text(t)) }
                    td { (t.per_member_limit) }
                    td { (when(t.valid_until.timestamp_millis()))
                        @if !live { br; span.status.cancelled { (ctx.t("已结束", "Ended")) } } }
                    td { @if live {
                        form.inline.issue method="post" action={ "/console/coupons/" (t.id) "/issue" } {
                            (ctx.csrf_field())
                            input type="hidden" name="coupon_id" value=(retail_domain::ids::new_id());
                            input name="phone" type="tel" placeholder=(ctx.t("会员手机号", "Member phone")) aria-label=(ctx.t("会员手机号", "Member phone")) size="12";
                            button.btn.secondary type="submit" { (ctx.t("发放", "Issue")) }
                        }
                        @if admin {
                            form.inline method="post" action={ "/console/coupons/" (t.id) "/end" } {
                                (ctx.csrf_field())
                                button.link type="submit" { (ctx.t("结束", "End")) }
                            }
                        }
                    } }
                }
            }
        } }
        (pager(ctx, "/console/coupons", &[], "cursor", list.cursor.as_deref(), page.next_cursor.as_deref()))
        @if admin {
            div.card {
                b { (ctx.t("新建优惠券", "New coupon")) }
                form #new-coupon method="post" action="/console/coupons" {
                    (ctx.csrf_field())
                    input type="hidden" name="id" value=(id);
                    div.field { label for="name" { (ctx.t("名称", "Name")) }
                        input #name name="name" value=(form.name.as_deref().unwrap_or("")); }
                    div.row {
                        div.field { label for="kind" { (ctx.t("类型", "Kind")) }
                            select #kind name="kind" {
                                option value="threshold" selected[kind == "threshold"] { (ctx.t("满减券", "Spend and save")) }
                                option value="percent" selected[kind == "percent"] { (ctx.t("折扣券", "Percent off")) }
                                option value="no_threshold" selected[kind == "no_threshold"] { (ctx.t("无门槛券", "No minimum")) }
                            } }
                        div.field { label for="issue_on" { (ctx.t("发放方式", "How issued")) }
                            select #issue_on name="issue_on" {
                                @for (code, how) in [("staff", IssueOn::Staff), ("claim", IssueOn::Claim), ("signup", IssueOn::Signup), ("tier_upgrade", IssueOn::TierUpgrade)] {
                                    option value=(code) selected[issue_on == code] { (issue_on_label(ctx.lang, how)) }
                                }
                            } }
                    }
                    div.row {
                        div.field { label for="min_spend" { (ctx.t("满（元）", "Minimum spend (¥)")) } input #min_spend name="min_spend" value=(value(&form.min_spend, "")); }
                        div.field { label for="amount" { (ctx.t("减（元）", "Amount off (¥)")) } input #amount name="amount" value=(value(&form.amount, "")); }
                        div.field { label for="factor" { (ctx.t("折扣（如 0.9）", "Factor (e.g. 0.9)")) } input #factor name="factor" value=(value(&form.factor, "")); }
                        div.field { label for="max_discount" { (ctx.t("最高减（元，可空）", "Cap (¥, optional)")) } input #max_discount name="max_discount" value=(value(&form.max_discount, "")); }
                    }
                    div.row {
                        div.field { label for="days" { (ctx.t("活动天数", "Days on offer")) } input #days name="days" value=(value(&form.days, "30")); }
                        div.field { label for="valid_days" { (ctx.t("领取后有效天数（可空）", "Valid days after issue (optional)")) } input #valid_days name="valid_days" value=(value(&form.valid_days, "")); }
                        div.field { label for="per_member_limit" { (ctx.t("每人限领", "Per member")) } input #per_member_limit name="per_member_limit" value=(value(&form.per_member_limit, "1")); }
                        div.field { label for="stock_total" { (ctx.t("库存（空 = 不限）", "Stock (empty = unlimited)")) } input #stock_total name="stock_total" value=(value(&form.stock_total, "")); }
                    }
                    div.row {
                        div.field { label for="store" { (ctx.t("门店（空 = 全部）", "Store (empty = all)")) } input #store name="store" value=(value(&form.store, "")); }
                        div.field { label for="category" { (ctx.t("品类编号（空 = 全部商品）", "Category id (empty = everything)")) } input #category name="category" value=(value(&form.category, "")); }
                        label.row { input type="checkbox" name="stacks" value="1" checked[form.stacks.is_some()]; (ctx.t("可与促销同享", "Stacks with promotions")) }
                    }
                    button.btn type="submit" { (ctx.t("创建", "Create")) }
                }
            }
        }
    };
    Ok(console_page(ctx, staff, ctx.t("优惠券", "Coupons"), body))
}

/// An optional field: empty → `Ok(None)`, a value that does not parse → `Err(())`.
fn optional<T: std::str::FromStr>(text: Option<&str>) -> Result<Option<T>, ()> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t.parse().map(Some).map_err(|_| ()),
    }
}

/// The console form as the API's request, or a message for people.
async fn template_request(
    state: &AppState,
    ctx: &Ctx,
    form: &TemplateForm,
) -> WebResult<Result<CreateTemplate, String>> {
    let fail = |zh: &'static str, en: &'static str| Ok(Err(ctx.t(zh, en).to_owned()));
    let Some(id) = form
        .id
        .as_deref()
        .and_then(|i| Uuid::parse_str(i).ok())
        .filter(|i| retail_domain::ids::require_v7(*i).is_ok())
    else {
        return fail("表单已过期，请重试", "The form expired; try again");
    };
    let (Ok(min_spend), Ok(amount), Ok(max_discount)) = (
        optional::<Money>(form.min_spend.as_deref()),
        optional::<Money>(form.amount.as_deref()),
        optional::<Money>(form.max_discount.as_deref()),
    ) else {
        return fail(
            "金额须为数字，如 20 或 9.90",
            "Amounts are numbers like 20 or 9.90",
        );
    };
    let rule = match form.kind.as_deref() {
        Some("threshold") => match (min_spend, amount) {
            (Some(min_spend), Some(amount)) => CouponRule::Threshold { min_spend, amount },
            _ => {
                return fail(
                    "满减券需要金额：满多少、减多少",
                    "A spend-and-save coupon needs both amounts",
                )
            }
        },
        Some("percent") => match optional(form.factor.as_deref()) {
            Ok(Some(price_factor)) => CouponRule::Percent {
                price_factor,
                min_spend: min_spend.unwrap_or(Money::ZERO),
                max_discount,
            },
            _ => {
                return fail(
                    "折扣须为 0 到 1 之间的小数，如 0.9",
                    "The factor is a decimal between 0 and 1, e.g. 0.9",
                )
            }
        },
        Some("no_threshold") => match amount {
            Some(amount) => CouponRule::NoThreshold { amount },
            None => return fail("无门槛券需要减多少", "A no-minimum coupon needs an amount"),
        },
        _ => return fail("请选择类型", "Choose a kind"),
    };
    let issue_on = match form.issue_on.as_deref() {
        Some("staff") => IssueOn::Staff,
        Some("claim") => IssueOn::Claim,
        Some("signup") => IssueOn::Signup,
        Some("tier_upgrade") => IssueOn::TierUpgrade,
        _ => return fail("请选择发放方式", "Choose how it is issued"),
    };
    let Ok(Some(days)) = optional::<i64>(form.days.as_deref()) else {
        return fail("活动天数须为 1 到 366", "Days on offer must be 1 to 366");
    };
    if !(1..=366).contains(&days) {
        return fail("活动天数须为 1 到 366", "Days on offer must be 1 to 366");
    }
    let (Ok(valid_days), Ok(per_member_limit), Ok(stock_total)) = (
        optional::<i64>(form.valid_days.as_deref()),
        optional::<i64>(form.per_member_limit.as_deref()),
        optional::<i64>(form.stock_total.as_deref()),
    ) else {
        return fail(
            "有效天数、每人限领和库存须为整数",
            "Valid days, per-member limit and stock are whole numbers",
        );
    };
    let store = form.store.as_deref().unwrap_or("").trim().to_uppercase();
    let category = form.category.as_deref().unwrap_or("").trim().to_owned();
    if !category.is_empty()
        && storage::catalog::category(&state.store, &category)
            .await?
            .is_none()
    {
        return fail("没有这个品类编号", "No such category id");
    }
    let name = form.name.as_deref().unwrap_or("").trim().to_owned();
    let now = Utc::now();
    Ok(Ok(CreateTemplate {
        id,
        terms: CouponTerms {
            name_zh: name.clone(),
            name_en: name,
            rule,
            scope: Scope {
                categories: if category.is_empty() {
                    Vec::new()
                } else {
                    vec![category]
                },
                ..Scope::default()
            },
            stores: if store.is_empty() {
                Vec::new()
            } else {
                vec![store]
            },
            stacks_with_promotions: form.stacks.is_some(),
            stacks_with_coupons: false,
        },
        issue_on,
        valid_from: now,
        valid_until: now + Duration::days(days),
        valid_days,
        per_member_limit: per_member_limit.unwrap_or(1),
        stock_total,
    }))
}

async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Form(form): Form<TemplateForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let request = match template_request(&state, &ctx, &form).await? {
        Ok(r) => r,
        Err(problem) => return form_again(&state, &ctx, &staff, &form, Some(problem)).await,
    };
    match create_coupon_template(&state, &staff.actor(), request).await {
        Ok(_) => Ok(redirect("/console/coupons?done=created")),
        Err(e @ AppError::Invalid { .. }) => {
            let text = e.to_string();
            form_again(&state, &ctx, &staff, &form, Some(text)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn end(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let mut tx = state.store.begin().await?;
    storage::coupons::end_template(&mut tx, id, &staff.actor()).await?;
    tx.commit().await?;
    Ok(redirect("/console/coupons?done=ended"))
}

#[derive(Debug, Deserialize, Default)]
struct IssueForm {
    coupon_id: Option<String>,
    phone: Option<String>,
}

async fn issue(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<IssueForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let problem = |msg: String| async {
        form_again(&state, &ctx, &staff, &TemplateForm::default(), Some(msg)).await
    };
    let Some(coupon_id) = form
        .coupon_id
        .as_deref()
        .and_then(|i| Uuid::parse_str(i).ok())
    else {
        return problem(
            ctx.t("表单已过期，请重试", "The form expired; try again")
                .into(),
        )
        .await;
    };
    let phone = form.phone.as_deref().unwrap_or("").trim();
    let member = match storage::members::normalize_phone(phone) {
        Ok(phone) => {
            storage::members::by_phone(&state.store, &state.keys, &state.settings.points, &phone)
                .await?
        }
        Err(_) => None,
    };
    let Some(member) = member else {
        return problem(
            ctx.t("没有这个手机号的会员", "No member has this phone number")
                .into(),
        )
        .await;
    };
    let request = IssueRequest {
        coupon_id,
        member_id: member.id,
    };
    match issue_coupon(&state, &staff.actor(), id, request).await {
        Ok(_) => Ok(redirect("/console/coupons?done=issued")),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            problem(e.to_string()).await
        }
        Err(e) => Err(e.into()),
    }
}
