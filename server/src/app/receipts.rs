//! Receipt codes: verifying a printed receipt's code with its store's registered lane keys,
//! showing its sale as an e-receipt, and a member claiming its points afterwards.

use retail_domain::codes::read_receipt_code;
use retail_domain::receipts::{ReceiptCodeError, ReceiptKeyring, VerifiedReceipt};
use uuid::Uuid;

use super::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::receipts::{NewClaim, ReceiptClaim, ReceiptView};

/// Look-ups of one sale's receipt per minute (the code is on paper; this stops hammering).
const VIEWS_PER_MINUTE: u32 = 30;

/// Claims one member may try per minute (as many as other code look-ups).
const CLAIMS_PER_MINUTE: u32 = 30;

/// Verifies a receipt code fully with the registered keys of its store. 422 with the field
/// `receipt_code` and a code saying why: `invalid_receipt_code` (not one), `forged_receipt_code`
/// (bad signature), `unknown_receipt_key` (no lane of the store registered the signing key),
/// `revoked_receipt_key`.
pub async fn verify_code(state: &AppState, text: &str) -> AppResult<VerifiedReceipt> {
    let text = text.trim();
    let code = read_receipt_code(text).map_err(|e| {
        AppError::field_code(
            "invalid_receipt_code",
            "receipt_code",
            format!("not a receipt code ({e})"),
        )
    })?;
    let keys = storage::receipts::keys_of_store(&state.store, &code.store).await?;
    ReceiptKeyring::from_keys(&keys).verify(text).map_err(|e| {
        let code = match &e {
            ReceiptCodeError::Unreadable(_) => "invalid_receipt_code",
            ReceiptCodeError::Forged => "forged_receipt_code",
            ReceiptCodeError::UnknownKey { .. } => "unknown_receipt_key",
            ReceiptCodeError::RevokedKey { .. } => "revoked_receipt_key",
        };
        AppError::field_code(code, "receipt_code", e.to_string())
    })
}

/// A verified receipt code's sale as on the paper receipt: 404 when the server does not have the
/// sale yet (the lane pushes it once online), 422 as [`verify_code`]. Rate limited per sale.
pub async fn look_up(state: &AppState, text: &str) -> AppResult<ReceiptView> {
    let verified = verify_code(state, text).await?;
    state
        .limiter
        .check(
            &format!("receipt:{}", verified.code.sale_id),
            VIEWS_PER_MINUTE,
        )
        .await?;
    match storage::receipts::receipt(&state.store, verified.code.sale_id).await? {
        Some(view) if view.store == verified.code.store => Ok(view),
        Some(_) => Err(AppError::field_code(
            "invalid_receipt_code",
            "receipt_code",
            "this receipt code does not match the sale's store",
        )),
        None => Err(AppError::not_found(
            "the server does not have this sale yet: the lane sends it once it is online; try \
             again later",
        )),
    }
}

/// A member claims the points of the sale of a receipt code (the shop and the API both come
/// here). Rate limited per member; see [`storage::receipts::claim`] for the refusals.
pub async fn claim_points(
    state: &AppState,
    text: &str,
    claim_id: Uuid,
    member_id: Uuid,
    channel: &str,
) -> AppResult<ReceiptClaim> {
    retail_domain::ids::require_v7(claim_id)
        .map_err(|e| AppError::field("claim_id", e.to_string()))?;
    state
        .limiter
        .check(&format!("receipt-claim:{member_id}"), CLAIMS_PER_MINUTE)
        .await?;
    let view = look_up(state, text).await?;
    let input = NewClaim {
        id: claim_id,
        sale_id: view.sale_id,
        member_id,
        window_ms: state.settings.receipts.claim_window_ms(),
        channel,
    };
    let claimed = storage::receipts::claim(&state.store, &state.settings.points, &input).await?;
    if claimed.created {
        tracing::info!(sale = %claimed.sale_id, member = %member_id, points = claimed.points,
            channel, "receipt points claimed");
    }
    Ok(claimed)
}
