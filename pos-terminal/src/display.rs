//! What the customer (pole) display facing the shopper shows: the running total and the amount
//! due, the QR payment's amount while the shopper pays, the amount of a payment code being
//! charged (asking the shopper to confirm on their phone), the change at the end.
//!
//! The display itself — its profile's bytes and the line it is reached through — is
//! [`retail_devices::display`]: the lane hands it these rows, and it sends a screen only when
//! it changed (a display that fails does not stop the sale).

use retail_devices::display::row;
use retail_domain::money::Money;

use crate::lane::Lane;

/// What the shopper should see now, as the display's rows (before fitting to the width).
pub fn screen_for(lane: &Lane, last_change: Option<Money>) -> Vec<String> {
    if let Some(code) = lane.pending_code() {
        return vec![
            "CONFIRM ON PHONE".into(),
            row("PAYING", &code.amount.to_string()),
        ];
    }
    if let Some(qr) = lane.pending_qr() {
        return vec!["SCAN QR TO PAY".into(), row("DUE", &qr.amount.to_string())];
    }
    match lane.priced() {
        Some(priced) => vec![
            row("TOTAL", &priced.total.to_string()),
            row("DUE", &lane.due().to_string()),
        ],
        None => match last_change {
            Some(change) => vec!["THANK YOU".into(), row("CHANGE", &change.to_string())],
            None => vec!["WELCOME".into(), String::new()],
        },
    }
}
