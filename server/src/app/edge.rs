//! Commands to a store's edge agent (docs/DESIGN.md §6): staff print a pick slip again, print a
//! delivery order's shipping label on the store's counter printer, mark a pickup order ready,
//! open a gate or make the agent re-sync. The command is checked and completed here (a pick
//! slip gets the order's lines with their shelves, a label its full address — that reading
//! audited, and the label never stored), recorded once by its client id (`device_commands`) and
//! published on the store bus under that id; the agent executes each id once and acknowledges it.

use retail_domain::order::Fulfilment;
use retail_domain::wire::bus::Command;
use uuid::Uuid;

use super::AppState;
use crate::actor::StaffActor;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::edge::{DeviceCommand, NewCommand};

/// Sends `command` (client id `id`, also the bus message id) to an edge agent of `store`:
/// `device` when given (an active edge agent of the store, 422 otherwise), else the store's only
/// one (409 `no_edge_agent` when it has none, 422 when several). A retry with the same id answers
/// the stored command and, while it is unacknowledged, publishes it again under the same id; the
/// id used for another command or device is 409 `id_in_use`. 503 when the bus is off.
pub async fn send_command(
    state: &AppState,
    staff: &StaffActor,
    store: &str,
    id: Uuid,
    device: Option<Uuid>,
    command: Command,
) -> AppResult<DeviceCommand> {
    staff.require_store(store)?;
    retail_domain::ids::require_v7(id).map_err(|e| AppError::field("id", e.to_string()))?;
    let Some(bus) = state.bus.clone() else {
        return Err(AppError::Unavailable("the store bus is turned off".into()));
    };
    let device = match device {
        Some(device_id) => {
            let device = storage::devices::get(&state.store, device_id)
                .await
                .map_err(|_| AppError::field("device_id", "no such device"))?;
            if device.location_id != store
                || device.kind != crate::actor::DeviceKind::Edge
                || device.revoked_at.is_some()
            {
                return Err(AppError::field(
                    "device_id",
                    "not an active edge agent of this store",
                ));
            }
            device_id
        }
        None => match storage::edge::edge_agents(&state.store, store)
            .await?
            .as_slice()
        {
            [only] => *only,
            [] => {
                return Err(AppError::conflict(
                    "no_edge_agent",
                    format!("store {store} has no active edge agent"),
                ))
            }
            many => {
                return Err(AppError::field(
                    "device_id",
                    format!("store {store} has {} edge agents; name one", many.len()),
                ))
            }
        },
    };
    let command = complete(state, staff, store, command).await?;
    // What is kept (and audited) leaves the label out: the full address is read for the printer
    // only, never stored in the clear.
    let kept = match &command {
        Command::PrintShippingLabel { order_id, .. } => Command::PrintShippingLabel {
            order_id: *order_id,
            label: None,
        },
        other => other.clone(),
    };
    let json = serde_json::to_value(&kept)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding a command: {e}")))?;
    let (stored, _) = storage::edge::record_command(
        &state.store,
        NewCommand {
            id,
            device_id: device,
            location_id: store,
            kind: command.as_str(),
            command: &json,
            requested_by: &staff.actor(),
        },
    )
    .await?;
    if stored.status == "sent" {
        // First sending, or a retry of one not acknowledged yet: same message id either way.
        bus.command_as(store, device, stored.id, &command).await;
    }
    tracing::info!(command = %stored.id, kind = %stored.kind, %device, "command sent to the edge agent");
    Ok(stored)
}

/// Checks a command for `store` and fills in what the server adds: a pick slip's lines with
/// their shelves, a shipping label's contents.
async fn complete(
    state: &AppState,
    staff: &StaffActor,
    store: &str,
    command: Command,
) -> AppResult<Command> {
    match command {
        Command::PrintPickSlip { order_id, .. } => {
            let order = order_of(state, store, order_id, Fulfilment::Pickup).await?;
            let lines = super::orders::pickup_lines(state, &order).await?;
            Ok(Command::PrintPickSlip { order_id, lines })
        }
        Command::PrintShippingLabel { order_id, .. } => {
            order_of(state, store, order_id, Fulfilment::Delivery).await?;
            let label = super::delivery::shipping_label(state, staff, order_id).await?;
            Ok(Command::PrintShippingLabel {
                order_id,
                label: Some(label),
            })
        }
        Command::MarkReady { order_id } => {
            order_of(state, store, order_id, Fulfilment::Pickup).await?;
            Ok(Command::MarkReady { order_id })
        }
        Command::OpenGate { gate } => {
            let ok = !gate.is_empty()
                && gate.len() <= 32
                && gate
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Err(AppError::field(
                    "command.gate",
                    "a gate name like gate-1 (a–z, 0–9, '-', at most 32)",
                ));
            }
            Ok(Command::OpenGate { gate })
        }
        Command::Resync => Ok(Command::Resync),
    }
}

/// The order of a command: one of `store`'s orders fulfilled as `fulfilment` (422 on
/// `command.order_id` otherwise).
async fn order_of(
    state: &AppState,
    store: &str,
    order_id: Uuid,
    fulfilment: Fulfilment,
) -> AppResult<storage::orders::OrderView> {
    let order = storage::orders::get(&state.store, order_id)
        .await
        .map_err(|_| AppError::field("command.order_id", "no such order"))?;
    if order.location_id != store || order.fulfilment != fulfilment {
        let what = match fulfilment {
            Fulfilment::Delivery => "not a delivery order shipping from this store",
            _ => "not a pickup order of this store",
        };
        return Err(AppError::field("command.order_id", what));
    }
    Ok(order)
}
