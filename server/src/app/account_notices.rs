//! Account notices (issue 18, in-app channel): the member is told when an unused coupon expires
//! within `members.coupon_expiry_notice_days` (by the sweeper, hourly; once per coupon, through [`super::notifications`]) and when
//! the birthday perk is granted ([`super::member_perks`], in the grant's transaction). They
//! appear in the shop's message centre with the order and after-sale notices and count as
//! unread until it is opened.

use super::AppState;
use crate::error::AppResult;

/// Tells members of their unused coupons that expire within the configured days (none when it
/// is 0): one notice per coupon, never twice, through the notification service
/// ([`super::notifications::tell_expiring_coupons`]: in-app and the member's outside channels).
/// Returns how many were told.
pub async fn tell_expiring_coupons(state: &AppState) -> AppResult<usize> {
    super::notifications::tell_expiring_coupons(state).await
}
