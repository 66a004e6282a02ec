//! Online orders after they are placed: telling the order's store about pickup events over the
//! store bus (with the lines' shelf locations for the pick slip).

use uuid::Uuid;

use super::AppState;
use crate::error::AppResult;
use crate::storage;
use crate::storage::orders::OrderView;

/// Tells the order's store about a pickup event over the store bus; a `created` notice (paid,
/// to be picked) carries the lines with their shelf locations.
pub async fn announce(state: &AppState, order: &OrderView, event: &str) {
    if let Some(bus) = &state.bus {
        let lines = if event == "created" {
            match pickup_lines(state, order).await {
                Ok(lines) => lines,
                Err(err) => {
                    tracing::warn!(order = %order.order_no, error = %err, "reading shelf locations failed");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        bus.pickup(
            &order.location_id,
            crate::bus::PickupNotice {
                event,
                order_id: order.id,
                order_no: &order.order_no,
                lines: &lines,
            },
        )
        .await;
    }
}

/// An order's lines as the store picks them: name, quantity and the SKU's shelf in the order's
/// store when one is set.
pub async fn pickup_lines(
    state: &AppState,
    order: &OrderView,
) -> AppResult<Vec<retail_domain::wire::bus::PickupLine>> {
    let skus: Vec<Uuid> = order.lines.iter().map(|l| l.sku_id).collect();
    let shelves: std::collections::HashMap<Uuid, String> =
        storage::edge::shelves_of(&state.store, &order.location_id, &skus)
            .await?
            .into_iter()
            .collect();
    Ok(order
        .lines
        .iter()
        .map(|l| retail_domain::wire::bus::PickupLine {
            sku_id: l.sku_id,
            name: l.name.clone(),
            qty: l.qty,
            shelf: shelves.get(&l.sku_id).cloned(),
        })
        .collect())
}
