//! The console's sales dashboards (issue 19): `/console/analytics/sales` — GMV, orders,
//! average basket and margin per day or week as SVG charts ([`crate::web::charts`]) with their
//! tables, by store and by channel, the best-selling products and categories — and the store
//! comparison `/console/analytics/stores`; every table also as CSV. Head office sees every
//! store (or one it picks), a store manager their own; cashiers are refused. Read through
//! [`crate::app::sales_report`] from the rollup tables only, never from the orders.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use retail_domain::money::Money;
use serde::Deserialize;

use super::{csv_bytes, csv_response};
use crate::actor::Role;
use crate::app::sales_report::{self as sales, Granularity, Line, Report, Top};
use crate::app::AppState;
use crate::error::AppError;
use crate::web::charts::{bar_chart, line_chart, Chart, Series};
use crate::web::{console_page, urlencode, yuan, Ctx, Staff, WebResult};

/// The sales dashboards' routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/analytics/sales", get(page))
        .route("/console/analytics/sales/{file}", get(csv))
        .route("/console/analytics/stores", get(stores_page))
        .route("/console/analytics/stores.csv", get(stores_csv))
}

/// What the range form asks for.
#[derive(Debug, Deserialize, Default)]
struct Params {
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
    store: Option<String>,
}

/// Days shown when no range is asked for: the last thirty, today included.
const DEFAULT_DAYS: i64 = 30;

/// The range asked for (China day numbers), or the last [`DEFAULT_DAYS`] days; `false` when
/// what was asked for was not a date.
fn range(p: &Params) -> (i64, i64, bool) {
    super::day_range_of(&p.from, &p.to, DEFAULT_DAYS)
}

/// The report asked for, or (for a bad range) none and the error shown.
async fn load(
    state: &AppState,
    staff: &crate::actor::StaffActor,
    p: &Params,
) -> WebResult<(i64, i64, Granularity, Option<Report>)> {
    let (from, to, dates_ok) = range(p);
    let granularity = Granularity::parse(p.granularity.as_deref()).unwrap_or(Granularity::Day);
    match sales::report(state, staff, from, to, granularity, p.store.as_deref()).await {
        Ok(r) => Ok((from, to, granularity, dates_ok.then_some(r))),
        Err(AppError::Invalid { .. }) => Ok((from, to, granularity, None)),
        Err(e) => Err(e.into()),
    }
}

/// A value axis tick in whole yuan.
fn yuan_tick(fen: i64) -> String {
    format!("¥{}", fen / 100)
}

fn count_tick(n: i64) -> String {
    n.to_string()
}

/// Money as CSV writes it (`12.50`).
fn plain(fen: i64) -> String {
    Money::from_fen(fen).to_string()
}

fn permille(p: Option<i64>) -> String {
    match p {
        Some(p) => format!("{}.{}%", p / 10, (p % 10).abs()),
        None => "—".to_owned(),
    }
}

/// A channel for people.
fn channel_name(ctx: &Ctx, channel: &str) -> String {
    match channel {
        "delivery" => ctx.t("线上配送", "Online delivery"),
        "pickup" => ctx.t("门店自提", "Pickup"),
        "lane" => ctx.t("收银通道", "Lane (POS)"),
        "scan_and_go" => ctx.t("扫码购", "Scan & Go"),
        "total" => ctx.t("合计", "Total"),
        _ => return channel.to_owned(),
    }
    .to_owned()
}

/// The CSV header of a figures table, its first column named `first`.
fn line_header(first: &'static str) -> Vec<&'static str> {
    vec![
        first,
        "orders",
        "gmv",
        "avg_basket",
        "items",
        "discounts",
        "refunds",
        "refunded",
        "net",
        "costed_sales",
        "cost",
        "margin",
        "margin_pct",
    ]
}

fn line_row(first: String, l: &Line) -> Vec<String> {
    vec![
        first,
        l.orders.to_string(),
        plain(l.gmv_fen),
        plain(l.avg_basket_fen),
        l.items.to_string(),
        plain(l.discount_fen),
        l.refunds.to_string(),
        plain(l.refund_fen),
        plain(l.net_fen),
        plain(l.costed_amount_fen),
        plain(l.cost_fen),
        plain(l.margin_fen),
        permille(l.margin_permille),
    ]
}

/// A figures table: the header, one row per line (its first cell `first(line)`), the total.
fn lines_table(
    ctx: &Ctx,
    id: &str,
    first: &str,
    lines: &[Line],
    name: impl Fn(&Line) -> String,
    total: Option<&Line>,
) -> Markup {
    let t = |zh, en| ctx.t(zh, en);
    let cells = |l: &Line| {
        html! {
            td data-col="orders" { (l.orders) }
            td data-col="gmv" { (yuan(l.gmv_fen)) }
            td data-col="avg_basket" { (yuan(l.avg_basket_fen)) }
            td data-col="items" { (l.items) }
            td data-col="discounts" { (yuan(l.discount_fen)) }
            td data-col="refunds" { (l.refunds) }
            td data-col="refunded" { (yuan(l.refund_fen)) }
            td data-col="net" { (yuan(l.net_fen)) }
            td data-col="costed_sales" { (yuan(l.costed_amount_fen)) }
            td data-col="cost" { (yuan(l.cost_fen)) }
            td data-col="margin" { (yuan(l.margin_fen)) }
            td data-col="margin_pct" { (permille(l.margin_permille)) }
        }
    };
    html! {
        div.table-wrap { table id=(id) {
            thead { tr {
                th { (first) } th { (t("订单", "Orders")) } th { "GMV" } th { (t("客单价", "Avg basket")) }
                th { (t("件数", "Items")) } th { (t("优惠", "Discounts")) } th { (t("退款笔数", "Refunds")) }
                th { (t("退款额", "Refunded")) } th { (t("净销售", "Net")) } th { (t("有成本销售额", "Costed sales")) }
                th { (t("成本", "Cost")) } th { (t("毛利", "Margin")) } th { (t("毛利率", "Margin %")) }
            } }
            tbody {
                @for l in lines { tr data-key=(l.key) { td { (name(l)) } (cells(l)) } }
                @if let Some(total) = total {
                    tr.total data-key="total" { td { b { (t("合计", "Total")) } } (cells(total)) }
                }
            }
        } }
    }
}

fn top_table(ctx: &Ctx, id: &str, first: &str, rows: &[Top]) -> Markup {
    html! {
        @if rows.is_empty() { p.muted { (ctx.t("此期间暂无销售。", "No sales in this range.")) } }
        @else {
            div.table-wrap { table id=(id) {
                thead { tr { th { "#" } th { (first) } th { (ctx.t("名称", "Name")) }
                    th { (ctx.t("数量", "Quantity")) } th { (ctx.t("销售额", "Amount")) } } }
                tbody { @for (i, r) in rows.iter().enumerate() { tr data-key=(r.key) {
                    td { (i + 1) } td { (r.key) } td { (ctx.lang.pick(&r.name_zh, &r.name_en)) }
                    td data-col="qty" { (r.qty) } td data-col="amount" { (yuan(r.amount_fen)) }
                } } }
            } }
        }
    }
}

/// The query string of the range (for the CSV links).
fn query(from: i64, to: i64, g: Granularity, store: Option<&str>) -> String {
    format!(
        "from={}&to={}&granularity={}&store={}",
        urlencode(&sales::date(from)),
        urlencode(&sales::date(to)),
        g.as_str(),
        urlencode(store.unwrap_or(""))
    )
}

/// The range form (with `pick_store`, the store picker, for head office only).
async fn range_form(
    ctx: &Ctx,
    state: &AppState,
    staff: &crate::actor::StaffActor,
    action: &str,
    (from, to, g): (i64, i64, Granularity),
    store: Option<&str>,
    pick_store: bool,
) -> WebResult<Markup> {
    let stores = if pick_store && staff.role == Role::HeadOfficeAdmin {
        crate::storage::sales_report::stores(&state.store).await?
    } else {
        Vec::new()
    };
    Ok(html! {
        form.card.row #range-form method="get" action=(action) {
            label for="from" { (ctx.t("从", "From")) }
            input #from type="date" name="from" value=(sales::date(from)) style="max-width:170px";
            label for="to" { (ctx.t("到", "To")) }
            input #to type="date" name="to" value=(sales::date(to)) style="max-width:170px";
            label for="granularity" { (ctx.t("粒度", "Per")) }
            select #granularity name="granularity" style="max-width:120px" {
                option value="day" selected[g == Granularity::Day] { (ctx.t("日", "Day")) }
                option value="week" selected[g == Granularity::Week] { (ctx.t("周", "Week")) }
            }
            @if !stores.is_empty() {
                label for="store" { (ctx.t("门店", "Store")) }
                select #store name="store" style="max-width:200px" {
                    option value="" { (ctx.t("全部门店", "All stores")) }
                    @for (id, zh, en) in &stores {
                        option value=(id) selected[store == Some(id.as_str())] { (id) " " (ctx.lang.pick(zh, en)) }
                    }
                }
            }
            button.btn type="submit" { (ctx.t("查看", "Show")) }
        }
    })
}

fn range_error(ctx: &Ctx) -> Markup {
    html! {
        div.notice.err role="alert" #range-error {
            (ctx.t("请输入有效的日期范围（最多 366 天）。", "Enter a valid date range (at most 366 days)."))
        }
    }
}

fn margin_note(ctx: &Ctx, total: &Line) -> Markup {
    html! {
        p.muted #margin-note {
            (ctx.t("毛利只按已设置成本的商品行计算（在商品编辑中设置成本）：",
                "Margin is over the lines whose SKU has a cost (set in the catalog's SKU editor): "))
            (yuan(total.costed_amount_fen)) (ctx.t(" / 销售额 ", " of ")) (yuan(total.gmv_fen))
            (ctx.t("；退款不计入毛利。数据由汇总任务定期更新，不扫描订单。",
                " sold; refunds are not taken from the margin. Figures come from the sales rollup, updated every few seconds; the page never scans orders."))
        }
    }
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<Params>,
) -> WebResult<Response> {
    let (from, to, g, report) = load(&state, &staff, &p).await?;
    let store = sales::scope(&staff, p.store.as_deref())?;
    let form = range_form(
        &ctx,
        &state,
        &staff,
        "/console/analytics/sales",
        (from, to, g),
        store.as_deref(),
        true,
    )
    .await?;
    let q = query(from, to, g, store.as_deref());
    let t = |zh, en| ctx.t(zh, en);
    let body = match report {
        None => html! { (range_error(&ctx)) (form) },
        Some(r) => {
            let labels: Vec<String> = r.series.iter().map(|l| l.key.clone()).collect();
            let gmv: Vec<i64> = r.series.iter().map(|l| l.gmv_fen).collect();
            let net: Vec<i64> = r.series.iter().map(|l| l.net_fen).collect();
            let orders: Vec<i64> = r.series.iter().map(|l| l.orders).collect();
            let basket: Vec<i64> = r.series.iter().map(|l| l.avg_basket_fen).collect();
            let margin: Vec<i64> = r.series.iter().map(|l| l.margin_fen).collect();
            let x = if g == Granularity::Week {
                t("周（周一）", "Week (Monday)")
            } else {
                t("日期", "Day")
            };
            let store_labels: Vec<String> = r.by_store.iter().map(|l| l.key.clone()).collect();
            let store_gmv: Vec<i64> = r.by_store.iter().map(|l| l.gmv_fen).collect();
            let channel_labels: Vec<String> = r
                .by_channel
                .iter()
                .map(|l| channel_name(&ctx, &l.key))
                .collect();
            let channel_gmv: Vec<i64> = r.by_channel.iter().map(|l| l.gmv_fen).collect();
            let chart = |id, title, y, series: &[Series], format: fn(i64) -> String| {
                line_chart(&Chart {
                    id,
                    title,
                    x_label: x,
                    y_label: y,
                    labels: &labels,
                    series,
                    format,
                })
            };
            html! {
                (form)
                div.card #summary {
                    div.chips {
                        span.chip #sum-gmv { "GMV " (yuan(r.total.gmv_fen)) }
                        span.chip #sum-orders { (t("订单 ", "Orders ")) (r.total.orders) }
                        span.chip #sum-basket { (t("客单价 ", "Avg basket ")) (yuan(r.total.avg_basket_fen)) }
                        span.chip #sum-margin { (t("毛利 ", "Margin ")) (yuan(r.total.margin_fen)) " (" (permille(r.total.margin_permille)) ")" }
                        span.chip #sum-refunds { (t("退款 ", "Refunded ")) (yuan(r.total.refund_fen)) }
                    }
                    (margin_note(&ctx, &r.total))
                }
                div.card #trend {
                    b { (t("趋势", "Trend")) }
                    (chart("chart-gmv", t("GMV 与净销售", "GMV and net sales"), t("元", "Yuan"),
                        &[Series { name: "GMV", values: &gmv }, Series { name: t("净销售", "Net"), values: &net }], yuan_tick))
                    (chart("chart-orders", t("订单数", "Orders"), t("订单", "Orders"),
                        &[Series { name: t("订单", "Orders"), values: &orders }], count_tick))
                    (chart("chart-basket", t("客单价", "Average basket"), t("元", "Yuan"),
                        &[Series { name: t("客单价", "Avg basket"), values: &basket }], yuan_tick))
                    (chart("chart-margin", t("毛利（有成本的商品行）", "Margin (lines with a cost)"), t("元", "Yuan"),
                        &[Series { name: t("毛利", "Margin"), values: &margin }], yuan_tick))
                    p { a.btn.secondary #series-csv href={ "/console/analytics/sales/series.csv?" (q) } { (t("导出 CSV", "Export CSV")) } }
                    (lines_table(&ctx, "series", x, &r.series, |l| l.key.clone(), Some(&r.total)))
                }
                div.card #stores-card {
                    b { (t("按门店", "By store")) }
                    (bar_chart(&Chart { id: "chart-stores", title: t("各门店 GMV", "GMV by store"), x_label: t("门店", "Store"),
                        y_label: t("元", "Yuan"), labels: &store_labels, series: &[Series { name: "GMV", values: &store_gmv }], format: yuan_tick }))
                    p { a.btn.secondary #stores-csv href={ "/console/analytics/sales/stores.csv?" (q) } { (t("导出 CSV", "Export CSV")) } }
                    (lines_table(&ctx, "by-store", t("门店", "Store"), &r.by_store, |l| l.label.clone(), None))
                }
                div.card #channels-card {
                    b { (t("按渠道", "By channel")) }
                    (bar_chart(&Chart { id: "chart-channels", title: t("各渠道 GMV", "GMV by channel"), x_label: t("渠道", "Channel"),
                        y_label: t("元", "Yuan"), labels: &channel_labels, series: &[Series { name: "GMV", values: &channel_gmv }], format: yuan_tick }))
                    p { a.btn.secondary #channels-csv href={ "/console/analytics/sales/channels.csv?" (q) } { (t("导出 CSV", "Export CSV")) } }
                    (lines_table(&ctx, "by-channel", t("渠道", "Channel"), &r.by_channel, |l| channel_name(&ctx, &l.key), None))
                }
                div.card #products-card {
                    b { (t("畅销商品", "Top products")) }
                    p { a.btn.secondary #products-csv href={ "/console/analytics/sales/products.csv?" (q) } { (t("导出 CSV", "Export CSV")) } }
                    (top_table(&ctx, "top-products", "SKU", &r.top_products))
                }
                div.card #categories-card {
                    b { (t("畅销分类", "Top categories")) }
                    p { a.btn.secondary #categories-csv href={ "/console/analytics/sales/categories.csv?" (q) } { (t("导出 CSV", "Export CSV")) } }
                    (top_table(&ctx, "top-categories", t("分类", "Category"), &r.top_categories))
                }
                p { a href={ "/console/analytics/stores?" (q) } { (t("门店对比 →", "Store comparison →")) } }
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        t("销售分析", "Sales analytics"),
        body,
    ))
}

/// The CSV of one of the sales page's tables: `series.csv`, `stores.csv`, `channels.csv`,
/// `products.csv`, `categories.csv`.
async fn csv(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(file): Path<String>,
    Query(p): Query<Params>,
) -> WebResult<Response> {
    let (from, to, _) = range(&p);
    let g = Granularity::parse(p.granularity.as_deref())?;
    let table = file
        .strip_suffix(".csv")
        .ok_or_else(|| AppError::not_found("no such table"))?;
    let r = sales::report(&state, &staff, from, to, g, p.store.as_deref()).await?;
    let top = |rows: &[Top]| {
        rows.iter()
            .map(|t| {
                vec![
                    t.key.clone(),
                    t.name_zh.clone(),
                    t.name_en.clone(),
                    t.qty.to_string(),
                    plain(t.amount_fen),
                ]
            })
            .collect::<Vec<_>>()
    };
    let bytes = match table {
        "series" => {
            let mut rows: Vec<Vec<String>> = r
                .series
                .iter()
                .map(|l| line_row(l.key.clone(), l))
                .collect();
            rows.push(line_row("total".into(), &r.total));
            csv_bytes(&line_header(g.as_str()), rows)?
        }
        "stores" => csv_bytes(
            &line_header("store"),
            r.by_store
                .iter()
                .map(|l| line_row(l.key.clone(), l))
                .collect(),
        )?,
        "channels" => csv_bytes(
            &line_header("channel"),
            r.by_channel
                .iter()
                .map(|l| line_row(l.key.clone(), l))
                .collect(),
        )?,
        "products" => csv_bytes(
            &["sku", "name_zh", "name_en", "qty", "amount"],
            top(&r.top_products),
        )?,
        "categories" => csv_bytes(
            &["category", "name_zh", "name_en", "qty", "amount"],
            top(&r.top_categories),
        )?,
        _ => return Err(AppError::not_found("no such table").into()),
    };
    Ok(csv_response(
        &format!("sales-{table}-{}-{}.csv", r.from, r.to),
        bytes,
    ))
}

async fn stores_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(mut p): Query<Params>,
) -> WebResult<Response> {
    p.store = None;
    let (from, to, g, report) = load(&state, &staff, &p).await?;
    let form = range_form(
        &ctx,
        &state,
        &staff,
        "/console/analytics/stores",
        (from, to, g),
        None,
        false,
    )
    .await?;
    let t = |zh, en| ctx.t(zh, en);
    let q = query(from, to, g, None);
    let body = match report {
        None => html! { (range_error(&ctx)) (form) },
        Some(r) => {
            let labels: Vec<String> = r.by_store.iter().map(|l| l.key.clone()).collect();
            let gmv: Vec<i64> = r.by_store.iter().map(|l| l.gmv_fen).collect();
            let basket: Vec<i64> = r.by_store.iter().map(|l| l.avg_basket_fen).collect();
            html! {
                (form)
                div.card #compare {
                    (bar_chart(&Chart { id: "chart-store-gmv", title: t("各门店 GMV", "GMV by store"), x_label: t("门店", "Store"),
                        y_label: t("元", "Yuan"), labels: &labels, series: &[Series { name: "GMV", values: &gmv }], format: yuan_tick }))
                    (bar_chart(&Chart { id: "chart-store-basket", title: t("各门店客单价", "Average basket by store"), x_label: t("门店", "Store"),
                        y_label: t("元", "Yuan"), labels: &labels, series: &[Series { name: t("客单价", "Avg basket"), values: &basket }], format: yuan_tick }))
                    p { a.btn.secondary #compare-csv href={ "/console/analytics/stores.csv?" (q) } { (t("导出 CSV", "Export CSV")) } }
                    (lines_table(&ctx, "store-comparison", t("门店", "Store"), &r.by_store, |l| l.label.clone(), Some(&r.total)))
                    (margin_note(&ctx, &r.total))
                }
                p { a href={ "/console/analytics/sales?" (q) } { (t("← 销售分析", "← Sales analytics")) } }
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        t("门店对比", "Store comparison"),
        body,
    ))
}

async fn stores_csv(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Query(p): Query<Params>,
) -> WebResult<Response> {
    let (from, to, _) = range(&p);
    let r = sales::report(&state, &staff, from, to, Granularity::Day, None).await?;
    let mut rows: Vec<Vec<String>> = r
        .by_store
        .iter()
        .map(|l| line_row(l.key.clone(), l))
        .collect();
    rows.push(line_row("total".into(), &r.total));
    let bytes = csv_bytes(&line_header("store"), rows)?;
    Ok(csv_response(
        &format!("stores-{}-{}.csv", r.from, r.to),
        bytes,
    ))
}
