//! Browsing the shop: the home page ("for you", popular at your store, best sellers, new in),
//! categories, search with filters and sorting, suggestions as the shopper types, and a
//! product's page with its options, member price, availability for pickup by store,
//! "frequently bought together", its reviews (晒单: average, counts per star, a "with photos"
//! filter, paged, with "helpful" votes) and "similar items".

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::{cart_count, price_location, recommended, session};
use crate::app::recommendations;
use crate::app::search::{Query as SearchQuery, Sort};
use crate::app::search_words;
use crate::app::shares;
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{
    field, picture, shop_page, urlencode, yuan, Ctx, FieldErrors, Form, Lang, WebResult,
};

/// Browsing routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/categories", get(categories))
        .route("/search", get(search))
        .route("/search/suggest", get(suggest))
        .route("/search/start", get(search_start))
        .route("/search/history/clear", axum::routing::post(clear_history))
        .route("/p/{id}", get(product))
}

/// A description with simple formatting, every character escaped: a blank line starts a
/// paragraph, a line break stays one, lines starting `- ` are a list, `**…**` is bold.
fn formatted(text: &str) -> Markup {
    fn inline(line: &str) -> Markup {
        html! { @for (i, part) in line.split("**").enumerate() {
            @if i % 2 == 1 { b { (part) } } @else { (part) }
        } }
    }
    html! {
        @for block in text.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
            @let lines: Vec<&str> = block.lines().collect();
            @if lines.iter().all(|l| l.trim_start().starts_with("- ")) {
                ul { @for l in &lines { li { (inline(l.trim_start().trim_start_matches("- "))) } } }
            } @else {
                p { @for (i, l) in lines.iter().enumerate() { @if i > 0 { br; } (inline(l)) } }
            }
        }
    }
}

fn tile(ctx: &Ctx, doc: &crate::app::search::Doc) -> Markup {
    let name = ctx.lang.pick(&doc.row.name_zh, &doc.row.name_en);
    html! {
        a.tile href={ "/p/" (doc.row.id) } {
            @if let Some(image) = &doc.row.image { div.pic { (picture(image, 160, name)) } }
            @else { div.ph { (name.chars().next().unwrap_or('·')) } }
            span.name { (name) }
            span.muted { (doc.row.brand) }
            span.price { (yuan(doc.row.price_min_fen)) @if doc.row.price_min_fen > 0 { small { " " (ctx.t("起", "from")) } } }
        }
    }
}

async fn home(State(state): State<AppState>, ctx: Ctx) -> WebResult<Response> {
    let index = state.search.get(&state.store).await?;
    let cats = &index.categories;
    let session = session(&state, &ctx).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let best = index.search(&SearchQuery {
        sort: Sort::Sales,
        limit: 8,
        ..SearchQuery::default()
    });
    let newest = index.search(&SearchQuery {
        sort: Sort::Newest,
        limit: 8,
        ..SearchQuery::default()
    });
    // Recommendations at the shopper's store (the chosen pickup store, else the warehouse);
    // none while the chain has no warehouse yet (a new installation).
    let location = match session.as_ref().and_then(|s| s.pickup_store.clone()) {
        Some(store) => Some(store),
        None => state
            .catalog_cache
            .first_warehouse(&state.store)
            .await?
            .map(|l| l.id),
    };
    let member = session.as_ref().and_then(|s| s.member_id);
    let (for_you, popular) = match location {
        Some(location) => recommendations::for_home(&state, member, &location, 8).await?,
        None => Default::default(),
    };
    let for_you = recommended::section(
        &state,
        &ctx,
        &index,
        "for-you",
        recommendations::FOR_YOU,
        ctx.t("为你推荐", "For you"),
        &for_you,
    );
    let popular = recommended::section(
        &state,
        &ctx,
        &index,
        "popular-here",
        recommendations::POPULAR,
        ctx.t("本店热销", "Popular at your store"),
        &popular,
    );
    let body = html! {
        div.card {
            div.spread {
                div { b { (ctx.t("到店自提 · 门店当日可取", "Store pickup · ready today")) }
                    p.muted { (ctx.t("在线下单，选择门店，到店出示取货码", "Order online, pick a store, show your pickup code")) } }
                a.btn href="/scan" { (ctx.t("扫码购", "Scan & Go")) }
            }
        }
        div.card.spread {
            div { b { (ctx.t("领券中心", "Coupon centre")) } p.muted { (ctx.t("先领券，结算时直接抵扣", "Claim coupons now, use them at checkout")) } }
            a.btn.secondary #coupon-centre href="/coupons" { (ctx.t("去领券", "Get coupons")) }
        }
        h2 { (ctx.t("分类", "Categories")) }
        div.chips {
            @for c in cats.iter().filter(|c| c.parent_id.is_none()) {
                a.chip href={ "/categories?c=" (c.id) } { (ctx.lang.pick(&c.name_zh, &c.name_en)) }
            }
        }
        (for_you)
        (popular)
        h2 { (ctx.t("热销", "Best sellers")) }
        div.grid { @for d in &best.items { (tile(&ctx, d)) } }
        h2 { (ctx.t("新品", "New in")) }
        div.grid { @for d in &newest.items { (tile(&ctx, d)) } }
    };
    Ok(shop_page(&ctx, ctx.t("首页", "Home"), count, body))
}

#[derive(Debug, Deserialize, Default)]
struct CatParams {
    c: Option<String>,
}

async fn categories(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<CatParams>,
) -> WebResult<Response> {
    let index = state.search.get(&state.store).await?;
    let cats = &index.categories;
    let current = p.c.as_ref().and_then(|c| cats.iter().find(|x| &x.id == c));
    if p.c.is_some() && current.is_none() {
        return Err(AppError::not_found("category").into());
    }
    let parent = current.map(|c| c.id.clone());
    let children: Vec<_> = cats.iter().filter(|c| c.parent_id == parent).collect();
    // The path from the top to the current category.
    let mut trail = Vec::new();
    let mut at = current;
    while let Some(c) = at {
        trail.push(c);
        at = c
            .parent_id
            .as_ref()
            .and_then(|p| cats.iter().find(|x| &x.id == p));
        if trail.len() > 16 {
            break;
        }
    }
    trail.reverse();
    let hits = index.search(&SearchQuery {
        category: parent.clone(),
        sort: Sort::Sales,
        limit: 40,
        ..SearchQuery::default()
    });
    let session = session(&state, &ctx).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let title = current
        .map(|c| ctx.lang.pick(&c.name_zh, &c.name_en).to_owned())
        .unwrap_or_else(|| ctx.t("全部分类", "All categories").to_owned());
    let body = html! {
        p.muted {
            a href="/categories" { (ctx.t("全部", "All")) }
            @for c in &trail { " › " a href={ "/categories?c=" (c.id) } { (ctx.lang.pick(&c.name_zh, &c.name_en)) } }
        }
        h1 { (title) }
        @if !children.is_empty() {
            div.chips { @for c in &children {
                a.chip href={ "/categories?c=" (c.id) } { (ctx.lang.pick(&c.name_zh, &c.name_en)) }
            } }
        }
        @if parent.is_some() {
            p.muted { (hits.total) " " (ctx.t("件商品", "products")) }
            div.grid { @for d in &hits.items { (tile(&ctx, d)) } }
        }
    };
    Ok(shop_page(&ctx, &title, count, body))
}

#[derive(Debug, Deserialize, Default)]
struct SearchParams {
    q: Option<String>,
    c: Option<String>,
    brand: Option<String>,
    min: Option<String>,
    max: Option<String>,
    sort: Option<String>,
    page: Option<usize>,
}

/// Parses a yuan amount typed by a person ("12", "12.5") into fen.
fn parse_yuan(text: &str) -> Option<i64> {
    let text = text.trim().trim_start_matches('¥');
    if text.is_empty() {
        return None;
    }
    text.parse::<retail_domain::money::Money>()
        .ok()
        .map(|m| m.fen())
        .filter(|f| *f >= 0)
}

const PAGE: usize = 24;

async fn search(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<SearchParams>,
) -> WebResult<Response> {
    let text: String = p.q.clone().unwrap_or_default().chars().take(64).collect();
    let mut errors = FieldErrors::new();
    let min = p.min.as_deref().filter(|s| !s.trim().is_empty());
    let max = p.max.as_deref().filter(|s| !s.trim().is_empty());
    let min_fen = min.and_then(parse_yuan);
    let max_fen = max.and_then(parse_yuan);
    if min.is_some() && min_fen.is_none() {
        errors.insert(
            "min",
            ctx.t("请输入金额，如 9.90", "Enter an amount, e.g. 9.90")
                .into(),
        );
    }
    if max.is_some() && max_fen.is_none() {
        errors.insert(
            "max",
            ctx.t("请输入金额，如 9.90", "Enter an amount, e.g. 9.90")
                .into(),
        );
    }
    let sort = Sort::parse(p.sort.as_deref().unwrap_or(""));
    let page = p.page.unwrap_or(0).min(1000);
    let index = state.search.get(&state.store).await?;
    let category = p.c.clone().filter(|c| !c.is_empty());
    let brand = p.brand.clone().filter(|b| !b.is_empty());
    let hits = index.search(&SearchQuery {
        text: text.clone(),
        category: category.clone(),
        brand: brand.clone(),
        min_fen,
        max_fen,
        sort,
        offset: page * PAGE,
        limit: PAGE,
    });
    let cats = &index.categories;
    let session = session(&state, &ctx).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let member = session.as_ref().and_then(|s| s.member_id);
    // The first page of a typed search counts (not paging, sorting or filtering through it).
    if page == 0 && p.sort.is_none() && !text.trim().is_empty() {
        search_words::record(&state, member, &text, hits.total > 0).await;
    }
    let (hot, history) = if text.trim().is_empty() {
        let history = match member {
            Some(m) => search_words::history(&state, m).await?,
            None => Vec::new(),
        };
        (search_words::hot(&state).await?, history)
    } else {
        (Default::default(), Vec::new())
    };
    let link = |sort: Sort, page: usize| {
        format!(
            "/search?q={}&c={}&brand={}&min={}&max={}&sort={}&page={}",
            urlencode(&text),
            urlencode(category.as_deref().unwrap_or("")),
            urlencode(brand.as_deref().unwrap_or("")),
            urlencode(min.unwrap_or("")),
            urlencode(max.unwrap_or("")),
            sort.as_str(),
            page
        )
    };
    let sorts = [
        (Sort::Relevance, ctx.t("综合", "Relevance")),
        (Sort::Sales, ctx.t("销量", "Sales")),
        (Sort::PriceAsc, ctx.t("价格↑", "Price ↑")),
        (Sort::PriceDesc, ctx.t("价格↓", "Price ↓")),
        (Sort::Newest, ctx.t("新品", "Newest")),
    ];
    let body = html! {
        @if !hot.is_empty() {
            div.card #hot-words {
                b { (ctx.t("热门搜索", "Popular searches")) }
                div.chips { @for w in hot.iter() { a.chip href={ "/search?q=" (urlencode(w)) } { (w) } } }
            }
        }
        @if !history.is_empty() {
            div.card #search-history {
                div.spread {
                    b { (ctx.t("搜索历史", "Your searches")) }
                    form method="post" action="/search/history/clear" {
                        (ctx.csrf_field())
                        button.btn.secondary #clear-history type="submit" { (ctx.t("清空", "Clear")) }
                    }
                }
                div.chips { @for w in &history { a.chip href={ "/search?q=" (urlencode(w)) } { (w) } } }
            }
        }
        h1 { @if text.is_empty() { (ctx.t("全部商品", "All products")) } @else { "“" (text) "”" } }
        div.chips { @for (s, label) in sorts {
            a.chip.on[s == sort] href=(link(s, 0)) { (label) }
        } }
        details.card open[!errors.is_empty()] {
            summary { (ctx.t("筛选", "Filters")) }
            form method="get" action="/search" {
                input type="hidden" name="q" value=(text);
                input type="hidden" name="sort" value=(sort.as_str());
                div.field {
                    label for="c" { (ctx.t("分类", "Category")) }
                    select #c name="c" {
                        option value="" { (ctx.t("全部", "All")) }
                        @for c in cats.iter() {
                            option value=(c.id) selected[category.as_deref() == Some(c.id.as_str())] {
                                @if c.parent_id.is_some() { "— " } (ctx.lang.pick(&c.name_zh, &c.name_en))
                            }
                        }
                    }
                }
                div.field {
                    label for="brand" { (ctx.t("品牌", "Brand")) }
                    select #brand name="brand" {
                        option value="" { (ctx.t("全部", "All")) }
                        @for b in &hits.brands { option value=(b) selected[brand.as_deref() == Some(b.as_str())] { (b) } }
                    }
                }
                div.two {
                    (field(ctx.t("最低价 (元)", "Min price (¥)"), "min", "text", min.unwrap_or(""), &errors, html!{}))
                    (field(ctx.t("最高价 (元)", "Max price (¥)"), "max", "text", max.unwrap_or(""), &errors, html!{}))
                }
                button.btn type="submit" { (ctx.t("应用", "Apply")) }
            }
        }
        p.muted { (hits.total) " " (ctx.t("件商品", "products")) }
        @if hits.total == 0 {
            div.card { (ctx.t("没有找到相关商品，换个词试试。", "Nothing found; try another word.")) }
        }
        div.grid { @for d in &hits.items { (tile(&ctx, d)) } }
        div.row {
            @if page > 0 { a.btn.secondary href=(link(sort, page - 1)) { (ctx.t("上一页", "Previous")) } }
            @if (page + 1) * PAGE < hits.total { a.btn.secondary href=(link(sort, page + 1)) { (ctx.t("下一页", "Next")) } }
        }
    };
    Ok(shop_page(&ctx, ctx.t("搜索", "Search"), count, body))
}

/// What the empty search box offers: the hot words and, for a logged-in member, their recent
/// searches.
#[derive(Debug, serde::Serialize)]
struct SearchStart {
    hot: Vec<String>,
    history: Vec<String>,
}

async fn search_start(State(state): State<AppState>, ctx: Ctx) -> WebResult<Response> {
    let member = session(&state, &ctx).await?.and_then(|s| s.member_id);
    let history = match member {
        Some(m) => search_words::history(&state, m).await?,
        None => Vec::new(),
    };
    let hot = search_words::hot(&state).await?.as_ref().clone();
    Ok(axum::Json(SearchStart { hot, history }).into_response())
}

/// The member clears their search history; back to the search page.
async fn clear_history(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    if let Some(member) = session(&state, &ctx).await?.and_then(|s| s.member_id) {
        search_words::clear_history(&state, member).await?;
    }
    Ok(crate::web::redirect("/search"))
}

#[derive(Debug, Deserialize)]
struct SuggestParams {
    q: Option<String>,
}

async fn suggest(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<SuggestParams>,
) -> WebResult<Response> {
    let text: String = p.q.unwrap_or_default().chars().take(32).collect();
    let index = state.search.get(&state.store).await?;
    let list = index.suggest(&text, 8, ctx.lang == Lang::En);
    Ok(axum::Json(list).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn descriptions_are_escaped_with_simple_formatting() {
        let html = super::formatted(
            "Fresh **daily**\nfrom <script>alert(1)</script>\n\n- one\n- two & three",
        )
        .into_string();
        assert_eq!(
            html,
            "<p>Fresh <b>daily</b><br>from &lt;script&gt;alert(1)&lt;/script&gt;</p>\
             <ul><li>one</li><li>two &amp; three</li></ul>"
        );
    }
}

#[derive(Debug, Deserialize, Default)]
struct ProductParams {
    sku: Option<Uuid>,
    added: Option<u8>,
    /// Reviews with photos only (`1`).
    photos: Option<String>,
    /// Reviews of one rating only (1–5).
    star: Option<i64>,
    /// The reviews' page cursor ([`crate::storage::paging::Cursor`]).
    rcursor: Option<String>,
    /// The review just voted helpful.
    voted: Option<Uuid>,
    /// Why a vote was refused (a code, see [`crate::web::review_text::error_text`]).
    review_error: Option<String>,
    /// Why opening a group-buy team was refused (a code, see [`super::group_refusal_text`]).
    error: Option<String>,
    /// Why starting a bargain was refused (a code, see [`super::bargain_refusal_text`]).
    bargain_error: Option<String>,
    /// A share code (`crate::app::shares`): the open is recorded when it is valid for this SKU.
    s: Option<String>,
}

/// Reviews on one page of the product page.
const REVIEWS_PAGE: i64 = 10;

/// The product page's reviews: the summary (average, counts per star, with photos), filters
/// by photos and by rating, a page of published reviews newest first with their photos,
/// follow-up and the shop's reply, and a "helpful" button for logged-in members.
async fn reviews_section(
    state: &AppState,
    ctx: &Ctx,
    product: Uuid,
    member: Option<Uuid>,
    p: &ProductParams,
) -> WebResult<Markup> {
    use crate::storage::reviews::ProductFilter;
    use crate::web::review_text::{error_text, stars};
    let with_photos = p.photos.as_deref() == Some("1");
    let star = p.star.filter(|s| (1..=5).contains(s));
    let cursor = crate::storage::paging::Cursor::parse(p.rcursor.as_deref())?;
    let summary = crate::storage::reviews::summary(&state.store, product).await?;
    let page = crate::storage::reviews::product_page(
        &state.store,
        product,
        ProductFilter {
            with_photos,
            rating: star,
        },
        cursor.as_ref(),
        REVIEWS_PAGE,
    )
    .await?;
    let voted = match member {
        Some(m) => {
            let ids: Vec<Uuid> = page.items.iter().map(|r| r.id).collect();
            crate::storage::reviews::voted(&state.store, m, &ids).await?
        }
        None => Vec::new(),
    };
    let path = format!("/p/{product}");
    let sku = p.sku.map(|s| s.to_string()).unwrap_or_default();
    let star_text = star.map(|s| s.to_string()).unwrap_or_default();
    let link = |filters: &[(&str, &str)]| {
        let query = crate::web::list_query(filters, "rcursor", None);
        if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        }
    };
    let filter_link = |photos: bool, star: Option<i64>| {
        let star = star.map(|s| s.to_string()).unwrap_or_default();
        let photos = if photos { "1" } else { "" };
        format!(
            "{}#reviews",
            link(&[("sku", &sku), ("photos", photos), ("star", &star)])
        )
    };
    let back = link(&[
        ("sku", &sku),
        ("photos", if with_photos { "1" } else { "" }),
        ("star", &star_text),
        ("rcursor", p.rcursor.as_deref().unwrap_or("")),
    ]);
    let most = summary
        .by_star
        .iter()
        .map(|s| s.count)
        .max()
        .unwrap_or(0)
        .max(1);
    Ok(html! {
        div.card #reviews {
            div.spread {
                b { (ctx.t("商品评价", "Reviews")) " (" span #review-count { (summary.count) } ")" }
                @if summary.count > 0 { span { (stars(summary.average.round() as i64)) " " b #review-average { (format!("{:.1}", summary.average)) } } }
            }
            @if let Some(code) = &p.review_error { div.notice.err role="alert" #vote-error { (error_text(ctx.lang, code)) } }
            @if summary.count > 0 {
                div.bars #star-counts {
                    @for s in &summary.by_star {
                        a.bar style="color:inherit" href=(filter_link(false, Some(s.rating))) data-star=(s.rating) {
                            span.l style="width:60px" { (s.rating) " ★" }
                            i style={ "width:" (s.count * 60 / most) "%" } {}
                            span.star-count { (s.count) }
                        }
                    }
                }
                div.chips {
                    a.chip.on[!with_photos && star.is_none()] #reviews-all href=(filter_link(false, None)) { (ctx.t("全部", "All")) }
                    a.chip.on[with_photos] #reviews-with-photos href=(filter_link(true, star)) { (ctx.t("有图", "With photos")) " " (summary.with_photos) }
                    @if let Some(s) = star { span.chip.on { (s) " ★" } }
                }
            } @else {
                p.muted #no-reviews { (ctx.t("暂无评价", "No reviews yet")) }
            }
            @for r in &page.items {
                div.review id={ "review-" (r.id) } {
                    div.spread { (stars(r.rating)) span.muted { (crate::web::when(r.created_at.timestamp_millis())) } }
                    p.muted style="margin:2px 0" { (r.item_name) }
                    @if !r.body.is_empty() { p.review-body { (r.body) } }
                    @if !r.photos.is_empty() {
                        div.row.review-photos { @for photo in &r.photos {
                            img src=(crate::app::media::url(photo)) width="80" loading="lazy" alt=(ctx.t("晒单照片", "Review photo"));
                        } }
                    }
                    @if let Some(f) = &r.follow_up {
                        p.follow-up { b { (ctx.t("追评：", "Follow-up: ")) } (f.body) }
                        @if !f.photos.is_empty() {
                            div.row.review-photos { @for photo in &f.photos {
                                img src=(crate::app::media::url(photo)) width="80" loading="lazy" alt=(ctx.t("晒单照片", "Review photo"));
                            } }
                        }
                    }
                    @if let Some(reply) = &r.reply { p.reply { b { (ctx.t("商家回复：", "The shop replies: ")) } (reply) } }
                    form.inline method="post" action={ "/reviews/" (r.id) "/helpful" } {
                        (ctx.csrf_field())
                        input type="hidden" name="back" value=(back);
                        @if voted.contains(&r.id) || p.voted == Some(r.id) {
                            span.muted.helpful-done { (ctx.t("已觉得有用", "You found this helpful")) " · " span.helpful-count { (r.helpful) } }
                        } @else {
                            button.link.helpful type="submit" { (ctx.t("有用", "Helpful")) " · " span.helpful-count { (r.helpful) } }
                        }
                    }
                }
            }
            (crate::web::pager(ctx, &path, &[("sku", &sku), ("photos", if with_photos { "1" } else { "" }), ("star", &star_text)], "rcursor", p.rcursor.as_deref(), page.next_cursor.as_deref()))
        }
    })
}

async fn product(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Query(p): Query<ProductParams>,
) -> WebResult<Response> {
    let detail = state
        .catalog_cache
        .product(&state.store, id)
        .await?
        .filter(|d| d.status.as_str() == "on_shelf")
        .ok_or_else(|| AppError::not_found("product"))?;
    let skus: Vec<_> = detail
        .skus
        .iter()
        .filter(|s| s.status.as_str() == "on_shelf")
        .collect();
    let chosen = p
        .sku
        .and_then(|id| skus.iter().find(|s| s.id == id))
        .or(skus.first())
        .ok_or_else(|| AppError::not_found("product"))?;
    let session = session(&state, &ctx).await?;
    let member_id = session.as_ref().and_then(|s| s.member_id);
    let member = member_id.is_some();
    let reviews = reviews_section(&state, &ctx, detail.id, member_id, &p).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let pickup_store = session.as_ref().and_then(|s| s.pickup_store.clone());
    let prices = state
        .catalog_cache
        .sku_prices(
            &state.store,
            &price_location(&state, session.as_ref()).await?,
            &[chosen.id],
        )
        .await?;
    let price = prices.get(&chosen.id);
    let stores = state
        .catalog_cache
        .availability(&state.store, chosen.id)
        .await?;
    let name = ctx.lang.pick(&detail.name_zh, &detail.name_en);
    let images = state
        .catalog_cache
        .product_images(&state.store, detail.id)
        .await?;
    let flash = crate::app::promotions::running_flash_sale(&state, chosen.id).await?;
    let group_buys = crate::app::group_buys::running_for_sku(&state, chosen.id).await?;
    let mut bargains = Vec::new();
    for b in crate::app::bargains::running_for_sku(&state, chosen.id).await? {
        let mine = match member_id {
            Some(m) => crate::app::bargains::member_runs(&state, b.id, m).await?,
            None => Vec::new(),
        };
        bargains.push((b, mine));
    }
    let target = shares::ShareTarget::Product(chosen.id);
    if let Some(code) = p.s.as_deref() {
        shares::opened(&state, code, target, shares::opener(member_id, &ctx.sid)).await;
    }
    // A logged-in member's Share button shares the link with their attribution.
    let share_url = match member_id {
        Some(m) => Some(shares::product_share_path(&state, m, detail.id, chosen.id)),
        None => None,
    };
    let index = state.search.get(&state.store).await?;
    let together = recommended::section(
        &state,
        &ctx,
        &index,
        "bought-together",
        recommendations::TOGETHER,
        ctx.t("常一起买", "Frequently bought together"),
        &recommendations::bought_together(&state, chosen.id, 8).await?,
    );
    let similar = recommended::section(
        &state,
        &ctx,
        &index,
        "similar-items",
        recommendations::SIMILAR,
        ctx.t("相似商品", "Similar items"),
        &recommendations::similar(&state, chosen.id, 8).await?,
    );
    // A merchant's product names its seller (the platform's own trade does not).
    let seller = if detail.merchant_id == crate::storage::merchants::PLATFORM {
        None
    } else {
        match crate::app::merchants::trading(&state.store, &detail.merchant_id).await {
            Ok(merchant) => Some(merchant),
            Err(AppError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        }
    };
    let body = html! {
        @if p.added.is_some() { div.notice.ok { (ctx.t("已加入购物车", "Added to cart")) " · " a href="/cart" data-track="checkout" { (ctx.t("去结算", "Check out")) } } }
        @if let Some(code) = &p.error { div.notice.err role="alert" #group-error { (super::group_refusal_text(&ctx, code)) } }
        @if let Some(code) = &p.bargain_error { div.notice.err role="alert" #bargain-error { (super::bargain_refusal_text(&ctx, code)) } }
        div.card {
            @if images.is_empty() {
                div.tile style="min-height:0" { div.ph style="height:160px;font-size:56px" { (name.chars().next().unwrap_or('·')) } }
            } @else {
                div.gallery { @for (i, img) in images.iter().enumerate() {
                    @if i == 0 { div.pic.main { (picture(&img.image, 320, name)) } }
                    @else { div.pic { (picture(&img.image, 96, name)) } }
                } }
            }
            h1 { (name) }
            p.muted { (detail.brand) " · " (detail.code) }
            @if let Some(seller) = &seller {
                p #seller { (ctx.t("由 ", "Sold and shipped by ")) a href={ "/m/" (seller.id) } { (ctx.lang.pick(&seller.name_zh, &seller.name_en)) } (ctx.t(" 销售和发货", "")) }
            }
            @if let Some(price) = price {
                p.price style="font-size:22px" { (yuan(price.price_fen)) small { " / " (chosen.unit) } }
                @if let Some(m) = price.member_price_fen {
                    @if member { p { span.status.paid { (ctx.t("会员价", "Member price")) } " " span.price { (yuan(m)) } } }
                    @else { p.muted { (ctx.t("会员价", "Member price")) " " (yuan(m)) " · " a href={ "/login?back=/p/" (detail.id) } { (ctx.t("登录查看", "log in")) } } }
                }
            }
            @if let Some(crate::app::promotions::RunningFlashSale { price, left, ends_at: ends }) = flash {
                div.flash #flash-sale {
                    b { (ctx.t("秒杀 ", "Flash sale ")) } span.price { (yuan(price.fen())) }
                    " · " (ctx.t("剩余 ", "")) span #flash-left { (left) } (ctx.t(" 件", " left"))
                    " · " (ctx.t("距结束 ", "ends in ")) span.countdown data-countdown=(ends.timestamp_millis()) { "--:--:--" }
                    br; span.muted { (ctx.t("会员专享，线上下单", "Members only, online orders")) }
                }
            }
            @if !detail.description.is_empty() { div.description { (formatted(&detail.description)) } }
            button.btn.secondary #share type="button" data-track="share" data-track-sku=(chosen.id)
                data-share data-share-url=[share_url.as_deref()] data-share-done=(ctx.t("链接已复制", "Link copied")) { (ctx.t("分享", "Share")) }
            " "
            a.btn.secondary #make-poster href={ "/p/" (detail.id) "/poster?sku=" (chosen.id) } data-track="share" data-track-sku=(chosen.id) { (ctx.t("生成海报", "Share poster")) }
        }
        @for running in &group_buys {
            div.card.group-buy data-group-buy=(running.group_buy.id) {
                b { (ctx.t("拼团 ", "Group-buy ")) } span.price.group-price { (yuan(running.group_buy.group_price.fen())) }
                " · " (running.group_buy.team_size) (ctx.t("人团", "-member team"))
                " · " span.muted { (ctx.t("会员专享，线上下单", "Members only, online orders")) }
                @if running.open_teams.is_empty() {
                    p.muted { (ctx.t("暂无进行中的团，来开一个吧。", "No open team yet: open one.")) }
                } @else {
                    ul.open-teams { @for t in &running.open_teams {
                        li { a href={ "/group/" (t.id) } {
                            (ctx.t("还差 ", "")) (t.team_size - t.seats_taken) (ctx.t(" 人", " seats left"))
                            " · " span.countdown data-countdown=(t.deadline_at.timestamp_millis()) { "--:--:--" }
                            " · " (ctx.t("去参团", "join"))
                        } }
                    } }
                }
                form.row.open-team method="post" action="/group/open" {
                    (ctx.csrf_field())
                    input type="hidden" name="id" value=(Uuid::now_v7());
                    input type="hidden" name="group_buy" value=(running.group_buy.id);
                    select name="store" aria-label=(ctx.t("自提门店", "Pickup store")) { @for s in &stores {
                        option value=(s.location_id) selected[pickup_store.as_deref() == Some(s.location_id.as_str())] { (ctx.lang.pick(&s.name_zh, &s.name_en)) }
                    } }
                    button.btn type="submit" { (ctx.t("发起拼团", "Open a team")) }
                }
            }
        }
        @for (b, mine) in &bargains {
            div.card.bargain data-bargain=(b.id) {
                b { (ctx.t("砍价 ", "Bargain ")) } span.price.floor-price { (yuan(b.floor_price.fen())) }
                " " span.muted { (ctx.t("起 ", "from ")) (yuan(b.start_price.fen())) }
                " · " (b.helpers) (ctx.t(" 人助力砍到底价", " friends' helps to the floor"))
                " · " span.muted { (ctx.t("会员专享，线上下单", "Members only, online orders")) }
                @if !mine.is_empty() {
                    ul.my-bargains { @for r in mine {
                        li { a href={ "/bargain/" (r.id) } {
                            (ctx.t("我的砍价 ", "My bargain ")) (yuan(r.price.fen()))
                            " · " span.countdown data-countdown=(r.deadline_at.timestamp_millis()) { "--:--:--" }
                        } }
                    } }
                }
                form.row.start-bargain method="post" action="/bargain/start" {
                    (ctx.csrf_field())
                    input type="hidden" name="id" value=(Uuid::now_v7());
                    input type="hidden" name="bargain" value=(b.id);
                    button.btn type="submit" { (ctx.t("发起砍价", "Start a bargain")) }
                }
            }
        }
        div.card {
            b { (ctx.t("规格", "Options")) }
            div.chips { @for s in &skus {
                a.chip.on[s.id == chosen.id] href={ "/p/" (detail.id) "?sku=" (s.id) } {
                    (ctx.lang.pick(&s.spec_zh, &s.spec_en)) " " (yuan(s.price.fen()))
                }
            } }
            form method="post" action="/cart/add" class="row" {
                (ctx.csrf_field())
                input type="hidden" name="sku" value=(chosen.id);
                input type="hidden" name="back" value={ "/p/" (detail.id) "?sku=" (chosen.id) };
                input.qty type="number" name="qty" value="1" min="1" max="99" aria-label=(ctx.t("数量", "Quantity"));
                button.btn #add-to-cart type="submit" data-track="add_to_cart" data-track-sku=(chosen.id) { (ctx.t("加入购物车", "Add to cart")) }
            }
        }
        div.card #pickup-stores {
            b { (ctx.t("门店自提", "Pick up in store")) }
            @if pickup_store.is_some() { p.muted { (ctx.t("价格按所选门店", "Prices at the chosen store")) } }
            @for s in &stores {
                div.spread style="padding:6px 0;border-bottom:1px solid #eee" data-store=(s.location_id) {
                    span { (ctx.lang.pick(&s.name_zh, &s.name_en)) br; span.muted { (s.address) } }
                    span {
                        @if s.available > 0 {
                            span.status.paid { (ctx.t("今天可自提", "Pick up today")) " · " (s.available) }
                        } @else {
                            span.status.cancelled { (ctx.t("暂无库存", "Out of stock")) }
                        }
                        br;
                        @if pickup_store.as_deref() == Some(s.location_id.as_str()) {
                            span.status.paid.chosen-store { (ctx.t("已选门店", "Chosen")) }
                        } @else {
                            form method="post" action="/pickup-store" {
                                (ctx.csrf_field())
                                input type="hidden" name="store" value=(s.location_id);
                                input type="hidden" name="back" value={ "/p/" (detail.id) "?sku=" (chosen.id) };
                                button.link type="submit" { (ctx.t("选这家门店", "Choose this store")) }
                            }
                        }
                    }
                }
            }
        }
        (together)
        (reviews)
        (similar)
    };
    Ok(shop_page(&ctx, name, count, body))
}
