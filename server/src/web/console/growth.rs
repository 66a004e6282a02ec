//! The console's growth analytics, head office only (`docs/ANALYTICS.md`): the conversion
//! funnel (`/console/analytics/funnel`, bars per step with conversion and drop-off, tables by
//! day, channel and campaign), retention cohorts (`/console/analytics/retention`, a heat-map
//! table), promotion and coupon ROI (`/console/analytics/promotions`) and the flash-sale /
//! group-buy / bargain report (`/console/analytics/campaigns`), each table with its CSV export
//! (`….csv?table=…`, the same rows and figures as shown) — thin pages over
//! [`crate::app::growth`], which reads only the rollups.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::{channel_label, csv_bytes, csv_response, day_range, day_text, range_form, RangeParams};
use crate::app::growth::{self as growth_app, FunnelReport, StepCounts};
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{console_page, urlencode, yuan, Ctx, Staff, WebResult};

/// Growth analytics routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/analytics/funnel", get(funnel_page))
        .route("/console/analytics/funnel.csv", get(funnel_csv))
        .route("/console/analytics/retention", get(retention_page))
        .route("/console/analytics/retention.csv", get(retention_csv))
        .route("/console/analytics/promotions", get(promotions_page))
        .route("/console/analytics/promotions.csv", get(promotions_csv))
        .route("/console/analytics/campaigns", get(campaigns_page))
        .route("/console/analytics/campaigns.csv", get(campaigns_csv))
}

/// The query of every growth page: the range, the funnel's filters, the CSV's table.
#[derive(Debug, Deserialize, Default)]
struct Params {
    from: Option<String>,
    to: Option<String>,
    channel: Option<String>,
    campaign: Option<String>,
    table: Option<String>,
}

impl Params {
    fn range(&self) -> (i64, i64, bool) {
        day_range(&RangeParams {
            from: self.from.clone(),
            to: self.to.clone(),
        })
    }
    fn channel(&self) -> Option<&str> {
        self.channel.as_deref().filter(|c| !c.is_empty())
    }
    /// The campaign filter: absent or `*` for all, `-` for "no campaign", else its name.
    fn campaign(&self) -> Option<&str> {
        match self.campaign.as_deref() {
            None | Some("") | Some("*") => None,
            Some("-") => Some(""),
            Some(c) => Some(c),
        }
    }
    /// The query string of the range and filters (for the export links).
    fn query(&self, from: i64, to: i64) -> String {
        format!(
            "from={}&to={}&channel={}&campaign={}",
            urlencode(&day_text(from)),
            urlencode(&day_text(to)),
            urlencode(self.channel.as_deref().unwrap_or("")),
            urlencode(self.campaign.as_deref().unwrap_or("")),
        )
    }
}

/// A use case's answer, or `None` when the range was refused (shown as a notice).
fn or_range_error<T>(result: Result<T, AppError>) -> WebResult<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(AppError::Invalid { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn range_error(ctx: &Ctx) -> Markup {
    html! { div.notice.err role="alert" #range-error {
        (ctx.t("请输入有效的日期范围（最多 366 天）。", "Enter a valid date range (at most 366 days)."))
    } }
}

fn step_label(ctx: &Ctx, step: &str) -> &'static str {
    match step {
        "view" => ctx.t("浏览商品", "Product view"),
        "cart" => ctx.t("加入购物车", "Add to cart"),
        "checkout" => ctx.t("去结算", "Checkout"),
        "paid" => ctx.t("已支付", "Paid"),
        _ => ctx.t("其他", "Other"),
    }
}

fn campaign_label(ctx: &Ctx, campaign: &str) -> String {
    if campaign.is_empty() {
        ctx.t("（无）", "(none)").to_owned()
    } else {
        campaign.to_owned()
    }
}

/// The funnel's tables as CSV rows: `steps`, `days`, `channels`, `campaigns`.
fn funnel_table(report: &FunnelReport, table: &str) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let counts = |key: String, c: &StepCounts| {
        let mut row = vec![key];
        row.extend(c.iter().map(i64::to_string));
        row
    };
    match table {
        "days" | "channels" | "campaigns" => {
            let (key, rows) = match table {
                "days" => ("date", &report.by_day),
                "channels" => ("channel", &report.by_channel),
                _ => ("campaign", &report.by_campaign),
            };
            (
                vec![key, "view", "cart", "checkout", "paid"],
                rows.iter().map(|(k, c)| counts(k.clone(), c)).collect(),
            )
        }
        _ => (
            vec!["step", "visitors", "conversion", "dropped", "drop_off"],
            report
                .steps
                .iter()
                .map(|s| {
                    vec![
                        s.step.to_owned(),
                        s.visitors.to_string(),
                        s.conversion.clone().unwrap_or_default(),
                        s.dropped.to_string(),
                        s.drop_off.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
        ),
    }
}

fn counts_table(ctx: &Ctx, id: &str, key: &str, rows: &[(String, Markup, StepCounts)]) -> Markup {
    html! {
        div.table-wrap { table id=(id) {
            thead { tr {
                th { (key) }
                @for s in growth_app::STEPS_LIST { th { (step_label(ctx, s)) } }
            } }
            tbody { @for (k, label, c) in rows { tr data-key=(k) {
                td { (label) }
                @for (i, n) in c.iter().enumerate() { td data-step=(growth_app::STEPS_LIST[i]) { (n) } }
            } } }
        } }
    }
}

async fn funnel_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<Params>,
) -> WebResult<Response> {
    let (from, to, dates_ok) = p.range();
    let report = or_range_error(
        growth_app::funnel(&state, &staff, from, to, p.channel(), p.campaign()).await,
    )?;
    let (from_s, to_s) = (day_text(from), day_text(to));
    let q = p.query(from, to);
    let csv = |table: &str| format!("/console/analytics/funnel.csv?{q}&table={table}");
    let channel = p.channel.clone().unwrap_or_default();
    let campaign = p.campaign.clone().unwrap_or_default();
    let campaigns = report
        .as_ref()
        .map(|r| r.campaigns.clone())
        .unwrap_or_default();
    let extra = html! {
        label for="channel" { (ctx.t("渠道", "Channel")) }
        select #channel name="channel" {
            option value="" selected[channel.is_empty()] { (ctx.t("全部", "All")) }
            @for ch in ["online", "scan_and_go"] {
                option value=(ch) selected[channel == ch] { (channel_label(&ctx, ch)) }
            }
        }
        label for="campaign" { (ctx.t("活动", "Campaign")) }
        select #campaign name="campaign" {
            option value="" selected[campaign.is_empty() || campaign == "*"] { (ctx.t("全部", "All")) }
            option value="-" selected[campaign == "-"] { (ctx.t("（无）", "(none)")) }
            @for c in &campaigns { option value=(c) selected[&campaign == c] { (c) } }
        }
    };
    let body = html! {
        @if !dates_ok || report.is_none() { (range_error(&ctx)) }
        (range_form(&ctx, "/console/analytics/funnel", &from_s, &to_s, extra, &[("funnel-csv", csv("steps"))]))
        @if let Some(r) = &report {
            div.card #funnel {
                b { (ctx.t("转化漏斗（每日去重访客，按设备）", "Conversion funnel (distinct visitors per day, by device)")) }
                @let max = r.steps.iter().map(|s| s.visitors).max().unwrap_or(0).max(1);
                div.bars #funnel-bars {
                    @for s in &r.steps {
                        div.bar data-step=(s.step) {
                            span.l { (step_label(&ctx, s.step)) }
                            i style={ "width:" (s.visitors.saturating_mul(60) / max) "%" } {}
                            span.n { (s.visitors) }
                        }
                    }
                }
                div.table-wrap { table #funnel-steps {
                    thead { tr {
                        th { (ctx.t("步骤", "Step")) } th { (ctx.t("访客", "Visitors")) }
                        th { (ctx.t("转化率", "Conversion")) } th { (ctx.t("流失", "Dropped")) }
                        th { (ctx.t("流失率", "Drop-off")) }
                    } }
                    tbody { @for s in &r.steps { tr data-step=(s.step) {
                        td { (step_label(&ctx, s.step)) }
                        td.visitors { (s.visitors) }
                        td.conversion { (s.conversion.clone().unwrap_or_else(|| "—".into())) }
                        td.dropped { (s.dropped) }
                        td.drop-off { (s.drop_off.clone().unwrap_or_else(|| "—".into())) }
                    } } }
                } }
            }
            div.card #funnel-by-day {
                b { (ctx.t("按日", "By day")) } " "
                a #funnel-days-csv href=(csv("days")) { (ctx.t("导出 CSV", "Export CSV")) }
                (counts_table(&ctx, "funnel-days", ctx.t("日期", "Day"),
                    &r.by_day.iter().map(|(d, c)| (d.clone(), html! { (d) }, *c)).collect::<Vec<_>>()))
            }
            div.card #funnel-by-channel {
                b { (ctx.t("按渠道", "By channel")) } " "
                a #funnel-channels-csv href=(csv("channels")) { (ctx.t("导出 CSV", "Export CSV")) }
                (counts_table(&ctx, "funnel-channels", ctx.t("渠道", "Channel"),
                    &r.by_channel.iter().map(|(ch, c)| (ch.clone(), html! { (channel_label(&ctx, ch)) }, *c)).collect::<Vec<_>>()))
            }
            div.card #funnel-by-campaign {
                b { (ctx.t("按活动", "By campaign")) } " "
                a #funnel-campaigns-csv href=(csv("campaigns")) { (ctx.t("导出 CSV", "Export CSV")) }
                (counts_table(&ctx, "funnel-campaigns", ctx.t("活动", "Campaign"),
                    &r.by_campaign.iter().map(|(k, c)| (k.clone(), html! { (campaign_label(&ctx, k)) }, *c)).collect::<Vec<_>>()))
            }
            p.muted { (ctx.t(
                "步骤：商品页浏览 → 加入购物车 → 去结算/提交订单 → 支付成功；同一设备同一天每步只计一次。口径见 docs/ANALYTICS.md。",
                "Steps: product page view → add to cart → checkout / place order → paid; a device counts once per step and day. Definitions: docs/ANALYTICS.md.")) }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("转化漏斗", "Conversion funnel"),
        body,
    ))
}

async fn funnel_csv(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Query(p): Query<Params>,
) -> WebResult<Response> {
    let (from, to, _) = p.range();
    let report = growth_app::funnel(&state, &staff, from, to, p.channel(), p.campaign()).await?;
    let table = p.table.clone().unwrap_or_else(|| "steps".into());
    let (header, rows) = funnel_table(&report, &table);
    let bytes = csv_bytes(&header, rows)?;
    Ok(csv_response(
        &format!("funnel-{table}-{}-{}.csv", day_text(from), day_text(to)),
        bytes,
    ))
}

fn retention_rows(cohorts: &[growth_app::Cohort]) -> (Vec<String>, Vec<Vec<String>>) {
    let width = cohorts.iter().map(|c| c.active.len()).max().unwrap_or(1);
    let mut header = vec!["cohort_week".to_owned(), "members".to_owned()];
    for w in 0..width {
        header.push(format!("week_{w}"));
        header.push(format!("week_{w}_pct"));
    }
    let rows = cohorts
        .iter()
        .map(|c| {
            let mut row = vec![c.week.clone(), c.size.to_string()];
            for w in 0..width {
                match c.active.get(w) {
                    Some(n) => {
                        row.push(n.to_string());
                        row.push(growth_app::percent(*n, c.size).unwrap_or_default());
                    }
                    None => {
                        row.push(String::new());
                        row.push(String::new());
                    }
                }
            }
            row
        })
        .collect();
    (header, rows)
}

async fn retention_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<Params>,
) -> WebResult<Response> {
    let (from, to, dates_ok) = p.range();
    let cohorts = or_range_error(growth_app::retention(&state, &staff, from, to).await)?;
    let (from_s, to_s) = (day_text(from), day_text(to));
    let href = format!(
        "/console/analytics/retention.csv?from={}&to={}",
        urlencode(&from_s),
        urlencode(&to_s)
    );
    let width = cohorts
        .as_ref()
        .and_then(|c| c.iter().map(|c| c.active.len()).max())
        .unwrap_or(1);
    let body = html! {
        @if !dates_ok || cohorts.is_none() { (range_error(&ctx)) }
        (range_form(&ctx, "/console/analytics/retention", &from_s, &to_s, html! {}, &[("retention-csv", href)]))
        @if let Some(cohorts) = &cohorts {
            div.card #retention {
                b { (ctx.t("留存（首单周 × 之后第 N 周有支付订单的会员）", "Retention (week of first paid order × members with a paid order N weeks after)")) }
                div.table-wrap { table #retention-table {
                    thead { tr {
                        th { (ctx.t("首单周", "Cohort week")) } th { (ctx.t("会员", "Members")) }
                        @for w in 0..width { th { (ctx.t("第", "Week ")) (w) (ctx.t(" 周", "")) } }
                    } }
                    tbody { @for c in cohorts { tr data-week=(c.week) {
                        td { (c.week) } td.size { (c.size) }
                        @for w in 0..width {
                            @match c.active.get(w) {
                                Some(n) => {
                                    @let alpha = if c.size > 0 { n.saturating_mul(100) / c.size } else { 0 };
                                    td.heat data-after=(w) data-members=(n)
                                        style={ "background:rgba(10,125,79," (alpha / 100) "." (format!("{:02}", alpha % 100)) ");" (if alpha > 55 { "color:#fff" } else { "" }) } {
                                        (growth_app::percent(*n, c.size).unwrap_or_else(|| "—".into()))
                                        br; small { (n) }
                                    }
                                }
                                None => { td {} }
                            }
                        }
                    } } }
                } }
                p.muted { (ctx.t(
                    "会员的支付订单（线上、扫码购、门店收银）按中国时间周一为周首；颜色越深留存越高。",
                    "Members' paid orders (online, scan & go, lanes), weeks starting Monday China time; darker means more retained.")) }
            }
        }
    };
    Ok(console_page(&ctx, &staff, ctx.t("留存", "Retention"), body))
}

async fn retention_csv(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Query(p): Query<Params>,
) -> WebResult<Response> {
    let (from, to, _) = p.range();
    let cohorts = growth_app::retention(&state, &staff, from, to).await?;
    let (header, rows) = retention_rows(&cohorts);
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let bytes = csv_bytes(&header, rows)?;
    Ok(csv_response(
        &format!("retention-{}-{}.csv", day_text(from), day_text(to)),
        bytes,
    ))
}

fn money(fen: i64) -> String {
    retail_domain::money::Money::from_fen(fen).to_string()
}

fn promo_rows(r: &growth_app::PromoReport) -> Vec<Vec<String>> {
    r.rows
        .iter()
        .map(|p| {
            vec![
                p.kind.clone(),
                p.id.clone(),
                p.name.0.clone(),
                p.claimed.to_string(),
                p.used.to_string(),
                p.redemption.clone().unwrap_or_default(),
                p.orders.to_string(),
                money(p.discount_fen),
                money(p.gmv_fen),
                money(p.incremental_fen),
                p.roi.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

const PROMO_HEADER: &[&str] = &[
    "kind",
    "id",
    "name",
    "claimed",
    "used",
    "redemption",
    "orders",
    "discount",
    "gmv",
    "incremental_gmv",
    "roi",
];

async fn promotions_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<Params>,
) -> WebResult<Response> {
    let (from, to, dates_ok) = p.range();
    let report = or_range_error(growth_app::promotions(&state, &staff, from, to).await)?;
    let (from_s, to_s) = (day_text(from), day_text(to));
    let href = format!(
        "/console/analytics/promotions.csv?from={}&to={}",
        urlencode(&from_s),
        urlencode(&to_s)
    );
    let body = html! {
        @if !dates_ok || report.is_none() { (range_error(&ctx)) }
        (range_form(&ctx, "/console/analytics/promotions", &from_s, &to_s, html! {}, &[("promotions-csv", href)]))
        @if let Some(r) = &report {
            div.card #baseline {
                b { (ctx.t("基准（未用促销和优惠券的支付订单）", "Baseline (paid orders with no promotion or coupon)")) }
                p { (ctx.t("订单 ", "Orders ")) span #baseline-orders { (r.baseline_orders) }
                    " · GMV " span #baseline-gmv { (yuan(r.baseline_gmv_fen)) }
                    (ctx.t(" · 平均客单价 ", " · average basket ")) span #baseline-basket { (yuan(r.baseline_basket_fen)) } }
            }
            div.card {
                @let max = r.rows.iter().map(|p| p.gmv_fen).max().unwrap_or(0).max(1);
                div.table-wrap { table #promotions-table {
                    thead { tr {
                        th { (ctx.t("类型", "Kind")) } th { (ctx.t("名称", "Name")) }
                        th { (ctx.t("领取", "Claimed")) } th { (ctx.t("使用", "Used")) } th { (ctx.t("核销率", "Redemption")) }
                        th { (ctx.t("订单", "Orders")) } th { (ctx.t("优惠成本", "Discount cost")) } th { "GMV" }
                        th { (ctx.t("增量 GMV", "Incremental GMV")) } th { "ROI" }
                    } }
                    tbody { @for row in &r.rows { tr data-id=(row.id) {
                        td { (if row.kind == "coupon" { ctx.t("优惠券", "Coupon") } else { ctx.t("促销", "Promotion") }) }
                        td { (ctx.lang.pick(&row.name.0, &row.name.1)) }
                        td.claimed { (row.claimed) } td.used { (row.used) }
                        td.redemption { (row.redemption.clone().unwrap_or_else(|| "—".into())) }
                        td.orders { (row.orders) } td.discount { (yuan(row.discount_fen)) }
                        td.gmv { div.bars { div.bar { i style={ "width:" (row.gmv_fen.max(0).saturating_mul(60) / max) "%" } {} span { (yuan(row.gmv_fen)) } } } }
                        td.incremental { (yuan(row.incremental_fen)) }
                        td.roi { (row.roi.clone().unwrap_or_else(|| "—".into())) }
                    } } }
                } }
                p.muted { (ctx.t(
                    "增量 GMV = 使用订单 GMV − 使用订单数 × 基准平均客单价；ROI = 增量 GMV ÷ 优惠成本。领取数为领券中心领取。",
                    "Incremental GMV = GMV of the orders using it − their count × the baseline average basket; ROI = incremental GMV ÷ discount cost. Claimed: claims in the coupon centre.")) }
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("促销与优惠券 ROI", "Promotion and coupon ROI"),
        body,
    ))
}

async fn promotions_csv(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Query(p): Query<Params>,
) -> WebResult<Response> {
    let (from, to, _) = p.range();
    let report = growth_app::promotions(&state, &staff, from, to).await?;
    let bytes = csv_bytes(PROMO_HEADER, promo_rows(&report))?;
    Ok(csv_response(
        &format!("promotions-{}-{}.csv", day_text(from), day_text(to)),
        bytes,
    ))
}

fn kind_label(ctx: &Ctx, kind: &str) -> &'static str {
    match kind {
        "flash_sale" => ctx.t("秒杀", "Flash sale"),
        "group_buy" => ctx.t("拼团", "Group-buy"),
        "bargain" => ctx.t("砍价", "Bargain"),
        _ => ctx.t("其他", "Other"),
    }
}

const CAMPAIGN_HEADER: &[&str] = &[
    "kind",
    "id",
    "name",
    "orders",
    "units",
    "gmv",
    "succeeded",
    "failed",
    "open",
    "success_rate",
];

fn campaign_rows(rows: &[growth_app::CampaignReport]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|c| {
            vec![
                c.kind.clone(),
                c.id.clone(),
                c.name.0.clone(),
                c.orders.to_string(),
                c.units.to_string(),
                money(c.gmv_fen),
                c.succeeded.to_string(),
                c.failed.to_string(),
                c.open.to_string(),
                c.success.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

async fn campaigns_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<Params>,
) -> WebResult<Response> {
    let (from, to, dates_ok) = p.range();
    let rows = or_range_error(growth_app::campaigns(&state, &staff, from, to).await)?;
    let (from_s, to_s) = (day_text(from), day_text(to));
    let href = format!(
        "/console/analytics/campaigns.csv?from={}&to={}",
        urlencode(&from_s),
        urlencode(&to_s)
    );
    let body = html! {
        @if !dates_ok || rows.is_none() { (range_error(&ctx)) }
        (range_form(&ctx, "/console/analytics/campaigns", &from_s, &to_s, html! {}, &[("campaigns-csv", href)]))
        @if let Some(rows) = &rows {
            div.card {
                @let max = rows.iter().map(|c| c.gmv_fen).max().unwrap_or(0).max(1);
                div.table-wrap { table #campaigns-table {
                    thead { tr {
                        th { (ctx.t("类型", "Kind")) } th { (ctx.t("名称", "Name")) }
                        th { (ctx.t("订单", "Orders")) } th { (ctx.t("件数", "Units")) } th { "GMV" }
                        th { (ctx.t("成功", "Succeeded")) } th { (ctx.t("失败", "Failed")) } th { (ctx.t("进行中", "Open")) }
                        th { (ctx.t("成功率", "Success rate")) }
                    } }
                    tbody { @for c in rows { tr data-id=(c.id) data-kind=(c.kind) {
                        td { (kind_label(&ctx, &c.kind)) }
                        td { (ctx.lang.pick(&c.name.0, &c.name.1)) }
                        td.orders { (c.orders) } td.units { (c.units) }
                        td.gmv { div.bars { div.bar { i style={ "width:" (c.gmv_fen.max(0).saturating_mul(60) / max) "%" } {} span { (yuan(c.gmv_fen)) } } } }
                        td.succeeded { (c.succeeded) } td.failed { (c.failed) } td.open { (c.open) }
                        td.success { (c.success.clone().unwrap_or_else(|| "—".into())) }
                    } } }
                } }
                p.muted { (ctx.t(
                    "订单、件数、GMV 为所选期间的支付订单；成功率：拼团为成团数 ÷（成团 + 失败），砍价为下单数 ÷（下单 + 过期未买），不限期间。",
                    "Orders, units and GMV: paid orders in the range. Success rate: group-buys teams filled ÷ (filled + failed), bargains runs bought ÷ (bought + expired unbought), all time.")) }
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("秒杀 · 拼团 · 砍价", "Flash sales · group-buys · bargains"),
        body,
    ))
}

async fn campaigns_csv(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Query(p): Query<Params>,
) -> WebResult<Response> {
    let (from, to, _) = p.range();
    let rows = growth_app::campaigns(&state, &staff, from, to).await?;
    let bytes = csv_bytes(CAMPAIGN_HEADER, campaign_rows(&rows))?;
    Ok(csv_response(
        &format!("campaigns-{}-{}.csv", day_text(from), day_text(to)),
        bytes,
    ))
}
