//! Cash control at the lanes (issue 21): a lane's cash events (shifts with their Z reports,
//! cash in and out with reasons, a manager's offline switches) stored exactly once by client
//! id ([`push`]); head office's view of every lane's Z reports and cash differences, store
//! staff's of their own store ([`overview`]).

use retail_domain::ids::require_v7;
use retail_domain::wire::cash_control::{
    CashEventKind, CashEventOutcome, CashEventResult, LaneCashEvent, MAX_CASH_EVENTS_PER_PUSH,
};

use crate::actor::{DeviceActor, DeviceKind, Role, StaffActor};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::cash_control::{ClosedShift, ControlEvent, Stored};

/// How far in the future (lane clock ahead) an event's time may be.
const MAX_CLOCK_AHEAD_MS: i64 = 10 * 60 * 1000;

/// Stores a lane's cash events in one transaction, each once by its id: `applied`,
/// `duplicate` (stored before by this lane) or `rejected` with the reason (bad data, an id or a
/// shift of another lane; nothing stored for it, the others unaffected).
///
/// # Errors
/// 403 for a device that is not a lane, 422 for too many events.
pub async fn push(
    state: &AppState,
    device: &DeviceActor,
    events: Vec<LaneCashEvent>,
) -> AppResult<Vec<CashEventResult>> {
    if device.kind != DeviceKind::Pos {
        return Err(AppError::Forbidden(
            "only POS terminals push cash events".into(),
        ));
    }
    if events.len() > MAX_CASH_EVENTS_PER_PUSH {
        return Err(AppError::field(
            "events",
            format!("at most {MAX_CASH_EVENTS_PER_PUSH} events per push"),
        ));
    }
    let device_id = device.id.to_string();
    let now = storage::now_ms();
    let mut tx = state.store.begin().await?;
    let mut results = Vec::with_capacity(events.len());
    for event in &events {
        let verdict = require_v7(event.id)
            .map(|_| ())
            .map_err(|e| format!("id: {e}"))
            .and_then(|()| event.validate())
            .and_then(|()| {
                if event.at.timestamp_millis() > now + MAX_CLOCK_AHEAD_MS {
                    Err("at is in the future".to_owned())
                } else {
                    Ok(())
                }
            });
        let rejected = |why: String| CashEventResult {
            id: event.id,
            outcome: CashEventOutcome::Rejected,
            error: Some(why),
        };
        if let Err(why) = verdict {
            results.push(rejected(why));
            continue;
        }
        let shift = event.shift_id.map(|s| s.to_string());
        if let Some(shift) = &shift {
            if let Some(owner) = storage::cash_control::shift_device(&mut tx, shift).await? {
                if owner != device_id {
                    results.push(rejected("the shift belongs to another lane".into()));
                    continue;
                }
            }
        }
        let outcome = match storage::cash_control::insert_event(
            &mut tx,
            &device_id,
            &device.location_id,
            event,
        )
        .await?
        {
            Stored::TakenByOther => {
                results.push(rejected("the id is taken by another lane's event".into()));
                continue;
            }
            Stored::Duplicate => CashEventOutcome::Duplicate,
            Stored::Applied => CashEventOutcome::Applied,
        };
        if outcome == CashEventOutcome::Applied {
            match (event.kind, &shift) {
                (CashEventKind::ShiftOpened, Some(shift)) => {
                    storage::cash_control::open_shift(
                        &mut tx,
                        &device_id,
                        &device.location_id,
                        shift,
                        event.cashier.trim(),
                        event.at.timestamp_millis(),
                        event.amount.map_or(0, |a| a.fen()),
                    )
                    .await?;
                }
                (CashEventKind::ShiftClosed, Some(shift)) => {
                    if let Some(z) = &event.z_report {
                        storage::cash_control::close_shift(
                            &mut tx,
                            &device_id,
                            &device.location_id,
                            shift,
                            event.cashier.trim(),
                            z,
                        )
                        .await?;
                    }
                }
                _ => {}
            }
        }
        results.push(CashEventResult {
            id: event.id,
            outcome,
            error: None,
        });
    }
    tx.commit().await?;
    Ok(results)
}

/// What the cash page shows: closed shifts (Z reports with the cash difference) and cash
/// movements and offline switches, newest first.
#[derive(Clone, Debug)]
pub struct CashOverview {
    /// Closed shifts.
    pub shifts: Vec<ClosedShift>,
    /// Cash in/out and offline switches.
    pub events: Vec<ControlEvent>,
}

/// The lanes' Z reports and cash control events: head office every store's (or one store's,
/// `store`), a store manager their own store's only.
///
/// # Errors
/// 403 for cashiers, and for a store manager asking about another store.
pub async fn overview(
    state: &AppState,
    staff: &StaffActor,
    store: Option<&str>,
    limit: i64,
) -> AppResult<CashOverview> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let location = match (staff.role, store) {
        (Role::HeadOfficeAdmin, s) => s.filter(|s| !s.is_empty()).map(str::to_owned),
        (_, s) => {
            let own = staff
                .location_id
                .clone()
                .ok_or_else(|| AppError::Forbidden("no store".into()))?;
            if let Some(s) = s.filter(|s| !s.is_empty()) {
                staff.require_store(s)?;
            }
            Some(own)
        }
    };
    let limit = limit.clamp(1, 500);
    Ok(CashOverview {
        shifts: storage::cash_control::closed_shifts(&state.store, location.as_deref(), limit)
            .await?,
        events: storage::cash_control::control_events(&state.store, location.as_deref(), limit)
            .await?,
    })
}
