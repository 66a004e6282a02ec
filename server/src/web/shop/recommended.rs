//! Recommendation tiles (issue 19, [`crate::app::recommendations`]): a titled row of product
//! tiles, each a link to the recommended SKU marked `data-track="recommendation"` with its
//! list kind (`data-track-list`) and SKU (`data-track-sku`), so the page's script reports the
//! click; showing a row counts one impression of its list.

use maud::{html, Markup};

use crate::app::recommendations::Rec;
use crate::app::search::Index;
use crate::app::AppState;
use crate::web::{picture, yuan, Ctx};

/// A card titled `title` (`id` on the card) with the tiles of `recs` whose products are on
/// the shelf; nothing when none is. Counts an impression of `list`.
pub fn section(
    state: &AppState,
    ctx: &Ctx,
    index: &Index,
    id: &str,
    list: &str,
    title: &str,
    recs: &[Rec],
) -> Markup {
    let shown: Vec<_> = recs
        .iter()
        .filter_map(|r| index.get(r.product_id).map(|d| (r, d)))
        .collect();
    if shown.is_empty() {
        return html! {};
    }
    state.recommendations.shown(list);
    html! {
        section.recommendations id=(id) data-list=(list) {
            h2 { (title) }
            div.grid { @for (r, doc) in &shown {
                @let name = ctx.lang.pick(&doc.row.name_zh, &doc.row.name_en);
                a.tile.rec-tile href={ "/p/" (r.product_id) "?sku=" (r.sku_id) }
                    data-track="recommendation" data-track-list=(r.list) data-track-sku=(r.sku_id) {
                    @if let Some(image) = &doc.row.image { div.pic { (picture(image, 160, name)) } }
                    @else { div.ph { (name.chars().next().unwrap_or('·')) } }
                    span.name { (name) }
                    span.muted { (doc.row.brand) }
                    span.price { (yuan(doc.row.price_min_fen)) }
                }
            } }
        }
    }
}
