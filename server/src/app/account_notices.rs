//! Account notices (issue 18, in-app channel): the member is told when an unused coupon expires
//! within `members.coupon_expiry_notice_days` (by the sweeper, hourly; once per coupon) and when
//! the birthday perk is granted ([`super::member_perks`], in the grant's transaction). They
//! appear in the shop's message centre with the order and after-sale notices and count as
//! unread until it is opened.

use super::AppState;
use crate::error::AppResult;
use crate::storage;
use crate::storage::account_notices::COUPON_EXPIRING;

/// Tells members of their unused coupons that expire within the configured days (none when it
/// is 0): one notice per coupon, never twice. Returns how many were told.
pub async fn tell_expiring_coupons(state: &AppState) -> AppResult<usize> {
    let days = i64::from(state.settings.members.coupon_expiry_notice_days);
    if days == 0 {
        return Ok(0);
    }
    let now = storage::now_ms();
    let until = now + days * 86_400_000;
    let mut told = 0;
    loop {
        let coupons = storage::coupons::expiring_untold(&state.store, now, until, 500).await?;
        if coupons.is_empty() {
            return Ok(told);
        }
        for coupon in coupons {
            let detail = serde_json::json!({
                "name_zh": coupon.terms.name_zh,
                "name_en": coupon.terms.name_en,
                "valid_until": coupon.valid_until.timestamp_millis(),
            });
            if storage::account_notices::record(
                &state.store,
                coupon.member_id,
                COUPON_EXPIRING,
                &coupon.id.to_string(),
                &detail,
            )
            .await?
            {
                told += 1;
            }
        }
    }
}
