//! Cash control at the lanes (issue 21): what a lane pushes about its cash drawer — shifts
//! opened and closed (with the Z report), cash put in and taken out with the reason, a
//! manager's switch to offline selling and back — in batches to `POST /api/v1/pos/cash-events`,
//! where each event is stored once by its client id (a retry answers `duplicate`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::Money;

/// Most events in one push.
pub const MAX_CASH_EVENTS_PER_PUSH: usize = 500;
/// The longest reason of a cash movement.
pub const MAX_CASH_REASON_CHARS: usize = 100;

/// What happened at the drawer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CashEventKind {
    /// A shift opened with its opening cash (`amount`).
    ShiftOpened,
    /// A shift closed with the cash counted (`amount`) and its Z report.
    ShiftClosed,
    /// Cash put into the drawer (`amount`, `reason`).
    CashIn,
    /// Cash taken out of the drawer (`amount`, `reason`).
    CashOut,
    /// A store manager (`approved_by`) switched the lane to offline selling.
    OfflineOn,
    /// A store manager (`approved_by`) switched the lane back to online selling.
    OfflineOff,
}

impl CashEventKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ShiftOpened => "shift_opened",
            Self::ShiftClosed => "shift_closed",
            Self::CashIn => "cash_in",
            Self::CashOut => "cash_out",
            Self::OfflineOn => "offline_on",
            Self::OfflineOff => "offline_off",
        }
    }
}

/// A shift's Z report, as printed at the lane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ZReport {
    /// When the shift opened.
    pub opened_at: DateTime<Utc>,
    /// When it closed.
    pub closed_at: DateTime<Utc>,
    /// Sales in the shift.
    pub sales: i64,
    /// Their total.
    pub sales_total: Money,
    /// Returns in the shift.
    pub returns: i64,
    /// Refunded.
    pub refunds: Money,
    /// Cash in the drawer at the start.
    pub opening_cash: Money,
    /// Cash taken for sales.
    pub cash_sales: Money,
    /// Cash handed back for returns.
    pub cash_back: Money,
    /// Cash put in.
    pub cash_in: Money,
    /// Cash taken out.
    pub cash_out: Money,
    /// What the drawer should hold: opening + cash sales − cash back + in − out.
    pub expected_cash: Money,
    /// What was counted.
    pub counted_cash: Money,
    /// Counted − expected.
    pub difference: Money,
    /// The cashier the drawer was handed over to, when the shift ended in a hand-over.
    #[serde(default)]
    pub handed_over_to: Option<String>,
}

/// One event of a lane's cash drawer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LaneCashEvent {
    /// Client id (UUIDv7): a retry is a `duplicate`.
    pub id: Uuid,
    /// What happened.
    pub kind: CashEventKind,
    /// The lane's shift (all kinds but the offline switches).
    #[serde(default)]
    pub shift_id: Option<Uuid>,
    /// Who was signed in at the lane.
    pub cashier: String,
    /// The store manager who approved (offline switches).
    #[serde(default)]
    pub approved_by: Option<String>,
    /// Opening cash, counted cash, or the cash moved.
    #[serde(default)]
    pub amount: Option<Money>,
    /// Why cash moved.
    #[serde(default)]
    pub reason: Option<String>,
    /// When it happened at the lane.
    pub at: DateTime<Utc>,
    /// The Z report (`shift_closed`).
    #[serde(default)]
    pub z_report: Option<ZReport>,
}

impl LaneCashEvent {
    /// Checks the event on its own (no database): the fields its kind needs, amounts, texts.
    ///
    /// # Errors
    /// What is wrong, for the `rejected` answer.
    pub fn validate(&self) -> Result<(), String> {
        let name = self.cashier.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err("cashier must be 1 to 64 characters".into());
        }
        let amount = |min_exclusive: bool| -> Result<Money, String> {
            let a = self
                .amount
                .ok_or_else(|| format!("{} needs an amount", self.kind.as_str()))?;
            if a.is_negative() || (min_exclusive && a.is_zero()) {
                return Err("amount out of range".into());
            }
            Ok(a)
        };
        let needs_shift = || {
            self.shift_id
                .map(|_| ())
                .ok_or_else(|| format!("{} needs a shift_id", self.kind.as_str()))
        };
        match self.kind {
            CashEventKind::ShiftOpened => {
                needs_shift()?;
                amount(false)?;
            }
            CashEventKind::ShiftClosed => {
                needs_shift()?;
                let counted = amount(false)?;
                let z = self
                    .z_report
                    .as_ref()
                    .ok_or("shift_closed needs its z_report")?;
                if z.counted_cash != counted {
                    return Err("z_report.counted_cash differs from amount".into());
                }
                if z.difference.fen() != z.counted_cash.fen() - z.expected_cash.fen() {
                    return Err("z_report.difference must be counted − expected".into());
                }
                if z.closed_at < z.opened_at || z.sales < 0 || z.returns < 0 {
                    return Err("z_report out of range".into());
                }
            }
            CashEventKind::CashIn | CashEventKind::CashOut => {
                needs_shift()?;
                amount(true)?;
                let reason = self.reason.as_deref().unwrap_or("").trim();
                if reason.is_empty() || reason.chars().count() > MAX_CASH_REASON_CHARS {
                    return Err(format!(
                        "reason must be 1 to {MAX_CASH_REASON_CHARS} characters"
                    ));
                }
            }
            CashEventKind::OfflineOn | CashEventKind::OfflineOff => {
                if self.approved_by.as_deref().unwrap_or("").trim().is_empty() {
                    return Err("an offline switch needs approved_by".into());
                }
            }
        }
        Ok(())
    }
}

/// A batch of cash events.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PushCashEvents {
    /// At most [`MAX_CASH_EVENTS_PER_PUSH`].
    pub events: Vec<LaneCashEvent>,
}

/// What happened to one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CashEventOutcome {
    /// Stored now.
    Applied,
    /// Stored by an earlier push; nothing changed.
    Duplicate,
    /// Not stored: `error` says why (the lane stops sending it).
    Rejected,
}

/// The answer for one event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CashEventResult {
    /// The event's id.
    pub id: Uuid,
    /// What happened.
    pub outcome: CashEventOutcome,
    /// Why it was rejected.
    #[serde(default)]
    pub error: Option<String>,
}

/// The answer to a push, one result per event in order.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PushCashEventsResult {
    /// Results.
    pub results: Vec<CashEventResult>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn event(kind: CashEventKind) -> LaneCashEvent {
        LaneCashEvent {
            id: crate::ids::new_id(),
            kind,
            shift_id: Some(crate::ids::new_id()),
            cashier: "cashier1.sh001".into(),
            approved_by: None,
            amount: Some(Money::from_fen(100)),
            reason: Some("float".into()),
            at: Utc::now(),
            z_report: None,
        }
    }

    #[test]
    fn each_kind_needs_its_fields() {
        assert!(event(CashEventKind::CashIn).validate().is_ok());
        let mut e = event(CashEventKind::CashOut);
        e.reason = Some(" ".into());
        assert!(e.validate().is_err());
        let mut e = event(CashEventKind::CashOut);
        e.amount = Some(Money::ZERO);
        assert!(e.validate().is_err());
        assert!(event(CashEventKind::OfflineOn).validate().is_err());
        let mut e = event(CashEventKind::OfflineOn);
        e.approved_by = Some("mgr.sh001".into());
        assert!(e.validate().is_ok());
        let mut e = event(CashEventKind::ShiftClosed);
        assert!(e.validate().is_err(), "no Z report");
        let at = Utc::now();
        e.z_report = Some(ZReport {
            opened_at: at,
            closed_at: at,
            sales: 1,
            sales_total: Money::from_fen(500),
            returns: 0,
            refunds: Money::ZERO,
            opening_cash: Money::ZERO,
            cash_sales: Money::from_fen(500),
            cash_back: Money::ZERO,
            cash_in: Money::ZERO,
            cash_out: Money::ZERO,
            expected_cash: Money::from_fen(500),
            counted_cash: Money::from_fen(100),
            difference: Money::from_fen(-400),
            handed_over_to: None,
        });
        assert!(e.validate().is_ok());
        e.z_report.as_mut().unwrap().difference = Money::ZERO;
        assert!(e.validate().is_err());
    }
}
