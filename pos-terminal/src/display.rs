//! What the customer (pole) display facing the shopper shows: the last line scanned (or the
//! weight on the counter scale) and the total or amount due, the QR payment's amount while the
//! shopper pays, the amount of a payment code being charged (asking the shopper to confirm on
//! their phone), the change and the points earned at the end, the welcome and adverts when
//! idle ([`crate::customer_screen`]).
//!
//! The display itself — its profile's bytes and the line it is reached through — is
//! [`retail_devices::display`]: the lane hands it these rows, and it sends a screen only when
//! it changed (a display that fails does not stop the sale).

use retail_domain::money::Money;

use crate::lane::Lane;

/// What the shopper should see now, as the display's rows (before fitting to the width): the
/// rows of [`crate::customer_screen::pole_rows`] for the lane without scale or adverts.
pub fn screen_for(lane: &Lane, last_change: Option<Money>) -> Vec<String> {
    crate::customer_screen::rows_for(lane, last_change)
}
