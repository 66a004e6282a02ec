//! Console: moving orders on after payment — ship and confirm delivery of delivery orders, and
//! the after-sale refund of collected, delivered or completed orders (售后退款: chosen units of
//! chosen lines come back, refunded at what was actually paid for them). Every move goes
//! through the order state machine in storage (`change_status`) and returns through
//! [`crate::app::lane_sales::apply_return`], the same path as `POST /api/v1/returns`. The order's page
//! ([`super::orders`]) shows the forms.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use retail_domain::order::OrderStatus;
use retail_domain::wire::sales::{CreateReturn, ReturnLineRequest};
use uuid::Uuid;

use crate::actor::{Caller, Role};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::orders::OrderView;
use crate::web::{redirect, Form, Staff, WebResult};

/// Delivery and after-sale routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/orders/{id}/ship", post(ship))
        .route("/console/orders/{id}/deliver", post(deliver))
        .route("/console/orders/{id}/return", post(refund))
}

/// An order of the staff member's own location (head office: any), for a manager.
async fn managed_order(
    state: &AppState,
    staff: &crate::actor::StaffActor,
    id: Uuid,
) -> WebResult<OrderView> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let order = storage::orders::get(&state.store, id).await?;
    staff.require_store(&order.location_id)?;
    Ok(order)
}

/// Moves a delivery order to `to` from exactly `from` (a repeated click answers the order
/// already moved); any other state comes back as the page's "not possible now" message.
async fn advance(
    state: &AppState,
    staff: &crate::actor::StaffActor,
    id: Uuid,
    (from, to): (OrderStatus, OrderStatus),
    done: &str,
) -> WebResult<Response> {
    managed_order(state, staff, id).await?;
    match crate::app::orders::change_status_from(
        &state.store,
        id,
        Some(from),
        to,
        &staff.actor(),
        done,
    )
    .await
    {
        // Answered unchanged when the order was not in `from` (a repeat of the move answers
        // it already moved).
        Ok(order) if order.status == to => {
            Ok(redirect(&format!("/console/orders/{id}?done={done}")))
        }
        Ok(_) | Err(AppError::Conflict { .. }) => {
            Ok(redirect(&format!("/console/orders/{id}?error=state")))
        }
        Err(e) => Err(e.into()),
    }
}

async fn ship(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    advance(
        &state,
        &staff,
        id,
        (OrderStatus::Paid, OrderStatus::Shipped),
        "shipped",
    )
    .await
}

async fn deliver(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    advance(
        &state,
        &staff,
        id,
        (OrderStatus::Shipped, OrderStatus::Delivered),
        "delivered",
    )
    .await
}

/// The lines of the after-sale form: `qty_N` fields with a positive whole number (zero and
/// empty fields are skipped); `None` when a field is not a number ≥ 0 or nothing is returned.
fn return_lines(form: &HashMap<String, String>) -> Option<Vec<ReturnLineRequest>> {
    let mut lines = Vec::new();
    for (key, value) in form {
        let Some(line) = key.strip_prefix("qty_") else {
            continue;
        };
        let line_no: u32 = line.parse().ok()?;
        let value = value.trim();
        let qty: i64 = if value.is_empty() {
            0
        } else {
            value.parse().ok()?
        };
        if qty < 0 {
            return None;
        }
        if qty > 0 {
            lines.push(ReturnLineRequest { line_no, qty });
        }
    }
    lines.sort_by_key(|l| l.line_no);
    (!lines.is_empty()).then_some(lines)
}

async fn refund(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    managed_order(&state, &staff, id).await?;
    let return_id = form
        .get("return_id")
        .and_then(|r| Uuid::parse_str(r).ok())
        .filter(|r| retail_domain::ids::require_v7(*r).is_ok())
        .ok_or_else(|| AppError::bad_request("invalid_form", "the form could not be read"))?;
    let Some(lines) = return_lines(&form) else {
        return Ok(redirect(&format!("/console/orders/{id}?error=return_qty")));
    };
    let reason: String = form
        .get("reason")
        .map(|r| r.trim().chars().take(200).collect())
        .unwrap_or_default();
    let reason = if reason.is_empty() {
        "after-sale refund".to_owned()
    } else {
        reason
    };
    let request = CreateReturn {
        id: return_id,
        order_id: id,
        lines,
        reason: Some(reason),
        approval: None,
        cashier: None,
    };
    match crate::app::lane_sales::create_return(&state, &Caller::Staff(staff), &request).await {
        Ok(_) => Ok(redirect(&format!("/console/orders/{id}?done=returned"))),
        Err(AppError::Conflict { code, .. }) => Ok(redirect(&format!(
            "/console/orders/{id}?error={}",
            if code == "return_exceeds_sale" {
                "return_qty"
            } else {
                "state"
            }
        ))),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn return_lines_take_positive_quantities_only() {
        let lines = return_lines(&form(&[
            ("qty_2", "1"),
            ("qty_1", "0"),
            ("qty_3", ""),
            ("reason", "x"),
        ]));
        assert_eq!(lines, Some(vec![ReturnLineRequest { line_no: 2, qty: 1 }]));
        assert_eq!(return_lines(&form(&[("qty_1", "0")])), None, "nothing");
        assert_eq!(return_lines(&form(&[("qty_1", "-1")])), None);
        assert_eq!(return_lines(&form(&[("qty_1", "abc")])), None);
        assert_eq!(return_lines(&form(&[("qty_x", "1")])), None);
    }
}
