//! Console: promotions (head office creates and ends them; store managers see them). Creating
//! goes through the same validation and storage as `POST /api/v1/promotions`; the lanes get the
//! change with their next pricing-context pull.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{Duration, Utc};
use maud::html;
use retail_domain::money::Money;
use retail_domain::pricing::{
    Audience, Promotion, PromotionRule, ReductionTier, Scope, SkuPrice, Stacking,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::actor::{Role, StaffActor};
use crate::app::promotions::{create_promotion, CreatePromotion};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::paging::{Cursor, PAGE_SIZE};
use crate::storage::promotions::FlashLimits;
use crate::web::{console_page, pager, redirect, when, yuan, Ctx, Form, Staff, WebResult};

/// Promotion pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/promotions", get(list).post(create))
        .route("/console/promotions/{id}/end", post(end))
}

#[derive(Debug, Deserialize, Default, Clone)]
struct PromotionForm {
    id: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    threshold: Option<String>,
    reduction: Option<String>,
    factor: Option<String>,
    barcode: Option<String>,
    price: Option<String>,
    days: Option<String>,
    store: Option<String>,
    exclusive: Option<String>,
    /// Buy X get Y: units to buy and units free.
    buy: Option<String>,
    get: Option<String>,
    /// Flash sale: units on offer and most per member.
    qty: Option<String>,
    per_member: Option<String>,
    /// Start (China time, `YYYY-MM-DDTHH:MM`; empty: now) and length in hours (empty: `days`).
    starts: Option<String>,
    hours: Option<String>,
    /// Tier price: the member tier's code.
    tier: Option<String>,
    /// Time-of-day markdown (早晚市): the category it covers (or the SKU `barcode`), the
    /// weekdays (`1,2,3`; empty: every day) and the daily window (`20:00` to `24:00`, China time).
    category: Option<String>,
    weekdays: Option<String>,
    window_from: Option<String>,
    window_until: Option<String>,
}

/// `HH:MM` (00:00 to 24:00) as minutes after midnight.
fn minute_of_day(text: Option<&str>) -> Option<u16> {
    let (h, m) = text?.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
}

/// `1,2,5` (ISO weekdays) as a list; empty text: every day.
fn weekdays(text: Option<&str>) -> Option<Vec<u8>> {
    let text = text.unwrap_or("").trim();
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split([',', ' ', '，'])
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<u8>().ok().filter(|d| (1..=7).contains(d)))
        .collect()
}

#[derive(Debug, Deserialize, Default)]
struct ListParams {
    done: Option<String>,
    /// `1`: ended and past promotions too (default: the current ones).
    all: Option<String>,
    /// The list's page cursor ([`storage::paging::Cursor`]); none on the first page.
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<ListParams>,
) -> WebResult<Response> {
    view(&state, &ctx, &staff, &PromotionForm::default(), None, &p).await
}

/// The page again (the list's first page) with the form as sent and what is wrong with it.
async fn form_again(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    form: &PromotionForm,
    problem: Option<String>,
) -> WebResult<Response> {
    view(state, ctx, staff, form, problem, &ListParams::default()).await
}

/// The list (the page of it `list` asks for) and the form, with `problem` about the form.
async fn view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    form: &PromotionForm,
    problem: Option<String>,
    list: &ListParams,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let notice = list.done.as_ref().map(|_| ctx.t("已保存", "Saved"));
    let all = list.all.as_deref() == Some("1");
    let cursor = Cursor::parse(list.cursor.as_deref())?;
    let page =
        storage::promotions::page(&state.store, !all, None, cursor.as_ref(), PAGE_SIZE).await?;
    let promotions = &page.items;
    let admin = staff.require(&[Role::HeadOfficeAdmin]).is_ok();
    let id = form
        .id
        .clone()
        .unwrap_or_else(|| retail_domain::ids::new_id().to_string());
    let kind = form.kind.as_deref().unwrap_or("full_reduction");
    let body = html! {
        @if let Some(n) = notice { div.notice role="status" { (n) } }
        @if let Some(p) = problem { div.notice.err role="alert" data-error="promotion" { (p) } }
        div.row style="margin-bottom:10px" {
            a.chip.on[!all] href="/console/promotions" { (ctx.t("进行中", "Current")) }
            " " a.chip.on[all] href="/console/promotions?all=1" { (ctx.t("全部", "All")) }
        }
        div.table-wrap { table #promotions {
            tr { th { (ctx.t("名称", "Name")) } th { (ctx.t("规则", "Rule")) } th { (ctx.t("门店", "Stores")) } th { (ctx.t("结束", "Ends")) } th {} }
            @for p in promotions {
                tr data-promotion=(p.promotion.id) {
                    td { (p.promotion.name_zh) }
                    td { (rule_text(ctx, &p.promotion.rule))
                        @if let Some(f) = &p.flash_sale { " · " (ctx.t("秒杀", "flash")) " " (f.sold_qty) "/" (f.total_qty) } }
                    td { @if p.promotion.stores.is_empty() { (ctx.t("全部", "All")) } @else { (p.promotion.stores.join(" ")) } }
                    td { (when(p.promotion.ends_at.timestamp_millis())) }
                    td { @if admin && p.ended_at.is_none() {
                        form method="post" action={ "/console/promotions/" (p.promotion.id) "/end" } {
                            (ctx.csrf_field())
                            button.btn.secondary type="submit" { (ctx.t("结束", "End")) }
                        }
                    } }
                }
            }
        } }
        (pager(ctx, "/console/promotions", &[("all", if all { "1" } else { "" })], "cursor", list.cursor.as_deref(), page.next_cursor.as_deref()))
        @if admin {
            div.card {
                b { (ctx.t("新建促销", "New promotion")) }
                form method="post" action="/console/promotions" {
                    (ctx.csrf_field())
                    input type="hidden" name="id" value=(id);
                    div.field { label for="name" { (ctx.t("名称", "Name")) }
                        input #name name="name" value=(form.name.as_deref().unwrap_or("")); }
                    div.field { label for="kind" { (ctx.t("类型", "Kind")) }
                        select #kind name="kind" {
                            option value="full_reduction" selected[kind == "full_reduction"] { (ctx.t("满减", "Spend and save")) }
                            option value="percent_off" selected[kind == "percent_off"] { (ctx.t("折扣", "Percent off")) }
                            option value="sale_price" selected[kind == "sale_price"] { (ctx.t("特价", "Sale price")) }
                            option value="buy_x_get_y" selected[kind == "buy_x_get_y"] { (ctx.t("买X送Y", "Buy X get Y")) }
                            option value="flash_sale" selected[kind == "flash_sale"] { (ctx.t("秒杀（会员、线上）", "Flash sale (members, online)")) }
                            option value="tier_price" selected[kind == "tier_price"] { (ctx.t("等级会员价", "Tier price")) }
                            option value="time_of_day_markdown" selected[kind == "time_of_day_markdown"] { (ctx.t("早晚市（时段折扣）", "Time-of-day markdown")) }
                        } }
                    div.row {
                        div.field { label for="threshold" { (ctx.t("满（元）", "Spend (¥)")) } input #threshold name="threshold" value=(form.threshold.as_deref().unwrap_or("")); }
                        div.field { label for="reduction" { (ctx.t("减（元）", "Save (¥)")) } input #reduction name="reduction" value=(form.reduction.as_deref().unwrap_or("")); }
                        div.field { label for="factor" { (ctx.t("折扣（如 0.9）", "Factor (e.g. 0.9)")) } input #factor name="factor" value=(form.factor.as_deref().unwrap_or("")); }
                    }
                    div.row {
                        div.field { label for="barcode" { (ctx.t("特价商品条码", "Sale item barcode")) } input #barcode name="barcode" value=(form.barcode.as_deref().unwrap_or("")); }
                        div.field { label for="price" { (ctx.t("特价（元）", "Sale price (¥)")) } input #price name="price" value=(form.price.as_deref().unwrap_or("")); }
                    }
                    div.row {
                        div.field { label for="buy" { (ctx.t("买（件）", "Buy (units)")) } input #buy name="buy" value=(form.buy.as_deref().unwrap_or("")); }
                        div.field { label for="get" { (ctx.t("送（件）", "Get free (units)")) } input #get name="get" value=(form.get.as_deref().unwrap_or("")); }
                        div.field { label for="qty" { (ctx.t("秒杀总量", "Flash units")) } input #qty name="qty" value=(form.qty.as_deref().unwrap_or("")); }
                        div.field { label for="per_member" { (ctx.t("每人限购", "Per member")) } input #per_member name="per_member" value=(form.per_member.as_deref().unwrap_or("")); }
                        div.field { label for="tier" { (ctx.t("会员等级代码", "Tier code")) } input #tier name="tier" value=(form.tier.as_deref().unwrap_or("")); }
                    }
                    div.row {
                        div.field { label for="category" { (ctx.t("早晚市：分类代码", "Markdown: category code")) } input #category name="category" value=(form.category.as_deref().unwrap_or("")); }
                        div.field { label for="weekdays" { (ctx.t("星期（如 1,2,3；空 = 每天）", "Weekdays (e.g. 1,2,3; empty = every day)")) } input #weekdays name="weekdays" value=(form.weekdays.as_deref().unwrap_or("")); }
                        div.field { label for="window_from" { (ctx.t("每日开始（北京时间）", "Daily from (China time)")) } input #window_from name="window_from" placeholder="20:00" value=(form.window_from.as_deref().unwrap_or("")); }
                        div.field { label for="window_until" { (ctx.t("每日结束", "Daily until")) } input #window_until name="window_until" placeholder="24:00" value=(form.window_until.as_deref().unwrap_or("")); }
                    }
                    div.row {
                        div.field { label for="starts" { (ctx.t("开始（空 = 现在）", "Starts (empty = now)")) } input #starts type="datetime-local" name="starts" value=(form.starts.as_deref().unwrap_or("")); }
                        div.field { label for="hours" { (ctx.t("小时（空 = 按天数）", "Hours (empty = days)")) } input #hours name="hours" value=(form.hours.as_deref().unwrap_or("")); }
                    }
                    div.row {
                        div.field { label for="days" { (ctx.t("天数", "Days")) } input #days name="days" value=(form.days.as_deref().unwrap_or("7")); }
                        div.field { label for="store" { (ctx.t("门店（空 = 全部）", "Store (empty = all)")) } input #store name="store" value=(form.store.as_deref().unwrap_or("")); }
                        label.row { input type="checkbox" name="exclusive" value="1" checked[form.exclusive.is_some()]; (ctx.t("不与其他优惠同享", "Exclusive")) }
                    }
                    button.btn type="submit" { (ctx.t("创建", "Create")) }
                }
            }
        }
    };
    Ok(console_page(ctx, staff, ctx.t("促销", "Promotions"), body))
}

/// A promotion rule in a few words, for listings (also the merchant home's promotions).
pub(super) fn rule_text(ctx: &Ctx, rule: &PromotionRule) -> String {
    match rule {
        PromotionRule::FullReduction { tiers, .. } => tiers
            .iter()
            .map(|t| {
                format!(
                    "{}{}{}{}",
                    ctx.t("满", "spend "),
                    yuan(t.threshold.fen()),
                    ctx.t("减", " save "),
                    yuan(t.reduction.fen())
                )
            })
            .collect::<Vec<_>>()
            .join(" / "),
        PromotionRule::PercentOff { price_factor, .. } => format!("× {price_factor}"),
        PromotionRule::SalePrice { prices } => prices
            .iter()
            .map(|p| yuan(p.price.fen()))
            .collect::<Vec<_>>()
            .join(" "),
        PromotionRule::BuyXGetY { buy, get } => format!("{buy}+{get}"),
        PromotionRule::TimeOfDayMarkdown {
            price_factor,
            days,
            from_minute,
            until_minute,
        } => format!(
            "{} {:02}:{:02}–{:02}:{:02} × {price_factor}{}",
            ctx.t("早晚市", "markdown"),
            from_minute / 60,
            from_minute % 60,
            until_minute / 60,
            until_minute % 60,
            if days.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    days.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
                )
            }
        ),
    }
}

fn money(text: Option<&str>) -> Option<Money> {
    text.and_then(|t| t.trim().parse::<Money>().ok())
}

async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Form(form): Form<PromotionForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let bad = |msg: &str| Some(msg.to_owned());
    let id = form
        .id
        .as_deref()
        .and_then(|i| Uuid::parse_str(i).ok())
        .filter(|i| retail_domain::ids::require_v7(*i).is_ok());
    let days = form
        .days
        .as_deref()
        .and_then(|d| d.trim().parse::<i64>().ok())
        .filter(|d| (1..=366).contains(d));
    let rule = match form.kind.as_deref() {
        Some("full_reduction") => match (
            money(form.threshold.as_deref()),
            money(form.reduction.as_deref()),
        ) {
            (Some(threshold), Some(reduction)) => Ok(PromotionRule::FullReduction {
                tiers: vec![ReductionTier {
                    threshold,
                    reduction,
                }],
                repeat: false,
            }),
            _ => Err(ctx.t(
                "满减需要金额：满多少、减多少",
                "Spend and save needs both amounts",
            )),
        },
        Some("percent_off") => match form.factor.as_deref().and_then(|f| f.trim().parse().ok()) {
            Some(price_factor) => Ok(PromotionRule::PercentOff {
                price_factor,
                min_spend: Money::ZERO,
            }),
            None => Err(ctx.t(
                "折扣须为 0 到 1 之间的小数，如 0.9",
                "The factor is a decimal between 0 and 1, e.g. 0.9",
            )),
        },
        Some("sale_price") => {
            let code = form.barcode.as_deref().unwrap_or("").trim().to_owned();
            let sku = match storage::catalog::sku_by_barcode(&state.store, &code, None).await? {
                Some(sku) => Some(sku.id),
                None => None,
            };
            match (sku, money(form.price.as_deref())) {
                (Some(sku_id), Some(price)) => Ok(PromotionRule::SalePrice {
                    prices: vec![SkuPrice { sku_id, price }],
                }),
                _ => Err(ctx.t(
                    "特价需要已有商品的条码和价格",
                    "A sale price needs a known barcode and a price",
                )),
            }
        }
        Some("buy_x_get_y") => {
            let units = |t: Option<&str>| {
                t.and_then(|t| t.trim().parse::<u32>().ok())
                    .filter(|n| (1..=99).contains(n))
            };
            match (units(form.buy.as_deref()), units(form.get.as_deref())) {
                (Some(buy), Some(get)) => Ok(PromotionRule::BuyXGetY { buy, get }),
                _ => Err(ctx.t(
                    "买X送Y需要 1 到 99 的件数",
                    "Buy X get Y needs unit counts of 1 to 99",
                )),
            }
        }
        Some("flash_sale") | Some("tier_price") => {
            let code = form.barcode.as_deref().unwrap_or("").trim().to_owned();
            let sku = storage::catalog::sku_by_barcode(&state.store, &code, None)
                .await?
                .map(|s| s.id);
            match (sku, money(form.price.as_deref())) {
                (Some(sku_id), Some(price)) => Ok(PromotionRule::SalePrice {
                    prices: vec![SkuPrice { sku_id, price }],
                }),
                _ => Err(ctx.t(
                    "需要已有商品的条码和价格",
                    "Needs a known barcode and a price",
                )),
            }
        }
        Some("time_of_day_markdown") => {
            let factor = form.factor.as_deref().and_then(|f| f.trim().parse().ok());
            match (
                factor,
                weekdays(form.weekdays.as_deref()),
                minute_of_day(form.window_from.as_deref()),
                minute_of_day(form.window_until.as_deref()),
            ) {
                (Some(price_factor), Some(days), Some(from_minute), Some(until_minute)) => {
                    Ok(PromotionRule::TimeOfDayMarkdown {
                        price_factor,
                        days,
                        from_minute,
                        until_minute,
                    })
                }
                _ => Err(ctx.t(
                    "早晚市需要折扣（如 0.7）、星期（1-7，可空）和每日时段（如 20:00 到 24:00）",
                    "A markdown needs a factor (e.g. 0.7), weekdays (1-7, may be empty) and a daily window (e.g. 20:00 to 24:00)",
                )),
            }
        }
        _ => Err(ctx.t("请选择类型", "Choose a kind")),
    };
    let count = |t: Option<&str>| {
        t.and_then(|t| t.trim().parse::<i64>().ok())
            .filter(|n| *n >= 1)
    };
    let flash = match form.kind.as_deref() {
        Some("flash_sale") => match (
            count(form.qty.as_deref()),
            count(form.per_member.as_deref()),
        ) {
            (Some(total_qty), Some(per_member_limit)) => Ok(Some(FlashLimits {
                total_qty,
                per_member_limit,
            })),
            _ => Err(ctx.t(
                "秒杀需要总量和每人限购（至少 1）",
                "A flash sale needs its units and a per-member limit (at least 1)",
            )),
        },
        _ => Ok(None),
    };
    let audience = match (form.kind.as_deref(), form.tier.as_deref().map(str::trim)) {
        (Some("tier_price"), Some(tier)) if !tier.is_empty() => Ok(Audience::Tiers {
            tiers: vec![tier.to_owned()],
        }),
        (Some("tier_price"), _) => Err(ctx.t("请填写会员等级代码", "Enter the tier code")),
        _ => Ok(Audience::default()),
    };
    let starts_at = match form.starts.as_deref().map(str::trim) {
        None | Some("") => Ok(Utc::now()),
        Some(t) => chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M")
            .ok()
            .and_then(|n| {
                n.and_local_timezone(crate::app::reconciliation::beijing())
                    .single()
            })
            .map(|t| t.with_timezone(&Utc))
            .ok_or(ctx.t("开始时间格式不对", "The start time is not a date and time")),
    };
    let hours = form
        .hours
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| h.parse::<i64>().ok().filter(|h| (1..=24 * 366).contains(h)));
    let (flash, audience, starts_at) = match (flash, audience, starts_at, hours) {
        (Ok(f), Ok(a), Ok(s), None | Some(Some(_))) => (f, a, s),
        (Err(msg), ..) | (_, Err(msg), ..) | (_, _, Err(msg), _) => {
            return form_again(&state, &ctx, &staff, &form, bad(msg)).await
        }
        (.., Some(None)) => {
            let msg = ctx.t("小时须为 1 到 8784 的整数", "Hours must be 1 to 8784");
            return form_again(&state, &ctx, &staff, &form, bad(msg)).await;
        }
    };
    let name = form.name.as_deref().unwrap_or("").trim().to_owned();
    let problem = match (&rule, id, days) {
        (Err(msg), _, _) => bad(msg),
        (_, None, _) => bad(ctx.t("表单已过期，请重试", "The form expired; try again")),
        (_, _, None) => bad(ctx.t("天数须为 1 到 366", "Days must be 1 to 366")),
        _ => None,
    };
    let (Ok(rule), Some(id), Some(days), None) = (rule, id, days, problem.clone()) else {
        return form_again(&state, &ctx, &staff, &form, problem).await;
    };
    let store = form.store.as_deref().unwrap_or("").trim().to_uppercase();
    let ends_at = match hours {
        Some(Some(h)) => starts_at + Duration::hours(h),
        _ => starts_at + Duration::days(days),
    };
    let scope = match &rule {
        PromotionRule::BuyXGetY { .. } => {
            let code = form.barcode.as_deref().unwrap_or("").trim().to_owned();
            match storage::catalog::sku_by_barcode(&state.store, &code, None).await? {
                Some(sku) => Scope {
                    skus: vec![sku.id],
                    ..Scope::default()
                },
                None if code.is_empty() => Scope::default(),
                None => {
                    let msg = ctx.t("没有这个条码", "No SKU with this barcode");
                    return form_again(&state, &ctx, &staff, &form, bad(msg)).await;
                }
            }
        }
        PromotionRule::TimeOfDayMarkdown { .. } => {
            let category = form.category.as_deref().unwrap_or("").trim().to_uppercase();
            let code = form.barcode.as_deref().unwrap_or("").trim().to_owned();
            if !category.is_empty() {
                if storage::catalog::category(&state.store, &category)
                    .await?
                    .is_none()
                {
                    let msg = ctx.t("没有这个分类", "No such category");
                    return form_again(&state, &ctx, &staff, &form, bad(msg)).await;
                }
                Scope::categories([category])
            } else {
                match storage::catalog::sku_by_barcode(&state.store, &code, None).await? {
                    Some(sku) if !code.is_empty() => Scope::skus([sku.id]),
                    _ => {
                        let msg = ctx.t(
                            "早晚市需要分类代码或商品条码",
                            "A markdown needs a category code or a product barcode",
                        );
                        return form_again(&state, &ctx, &staff, &form, bad(msg)).await;
                    }
                }
            }
        }
        _ => Scope::default(),
    };
    let request = CreatePromotion {
        promotion: Promotion {
            id,
            name_zh: name.clone(),
            name_en: name,
            starts_at,
            ends_at,
            stores: if store.is_empty() {
                Vec::new()
            } else {
                vec![store]
            },
            audience,
            scope,
            rule,
            stacking: if form.exclusive.is_some() {
                Stacking::Exclusive
            } else {
                Stacking::Stackable
            },
            priority: 0,
        },
        flash_sale: flash,
    };
    match create_promotion(&state, &staff.actor(), request).await {
        Ok(_) => Ok(redirect("/console/promotions?done=1")),
        Err(e @ AppError::Invalid { .. }) => {
            let text = e.to_string();
            form_again(
                &state,
                &ctx,
                &staff,
                &PromotionForm { id: None, ..form },
                Some(text),
            )
            .await
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
    storage::promotions::end(&mut tx, id, &staff.actor()).await?;
    tx.commit().await?;
    Ok(redirect("/console/promotions?done=1"))
}
