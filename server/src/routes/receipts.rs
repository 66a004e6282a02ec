//! Receipt codes (docs/DESIGN.md §7): the lanes register the keys they sign receipt codes with and pull
//! their store's keys; anyone holding a receipt code sees the sale as on the paper receipt; a
//! member claims the points of a sale made without a member, once per sale.
//!
//! The shop's e-receipt page (`web::receipts`) goes through [`look_up`] and [`claim_points`],
//! like the JSON routes here (for a mini-program).

use axum::extract::State;
use axum::http::StatusCode;
use retail_domain::codes::CodeVerifier;
use retail_domain::wire::receipts::{ReceiptKey, ReceiptKeys, RegisterReceiptKey};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::{Caller, DeviceActor, DeviceKind, Role, StaffActor};
use crate::app::receipts::{claim_points, look_up};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::receipts::{ReceiptClaim, ReceiptView};

/// Receipt routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_key))
        .routes(routes!(store_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(view))
        .routes(routes!(claim))
}

/// Registers the public key this lane signs its receipt codes with (POS devices). Idempotent:
/// the same key again answers 200 with the first registration; a new key answers 201 (a lane
/// whose database was lost comes back with a new key — every key of a device is kept, and codes
/// signed by any of them that is not revoked are accepted). 401 for a revoked device, 409
/// `key_in_use` when another device registered this key.
#[utoipa::path(put, path = "/pos/receipt-key", tag = "receipts", security(("device" = [])),
    request_body = RegisterReceiptKey,
    responses((status = 201, description = "registered now", body = ReceiptKey),
        (status = 200, description = "registered before", body = ReceiptKey),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn register_key(
    device: DeviceActor,
    State(state): State<AppState>,
    Json(req): Json<RegisterReceiptKey>,
) -> AppResult<(StatusCode, Json<ReceiptKey>)> {
    if device.kind != DeviceKind::Pos {
        return Err(AppError::Forbidden(
            "only POS terminals sign receipt codes".into(),
        ));
    }
    let key = CodeVerifier::from_public_b64(req.public_key.trim())
        .map_err(|e| AppError::field("public_key", e.to_string()))?;
    let (key, created) = storage::receipts::register_key(&state.store, &device, &key).await?;
    if created {
        tracing::info!(device = %device.id, store = %device.location_id, key_id = %key.key_id,
            "receipt key registered");
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(key)))
}

/// Which store's keys.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeysQuery {
    /// Store code (staff; a device always gets its own store's keys).
    pub store: Option<String>,
}

/// The receipt keys of a store's lanes (revoked ones too, marked), so every lane verifies every
/// receipt code of its store offline.
#[utoipa::path(get, path = "/pos/receipt-keys", tag = "receipts", security(("device" = []), ("staff" = [])),
    params(KeysQuery),
    responses((status = 200, body = ReceiptKeys), (status = 403, body = crate::error::ErrorBody)))]
async fn store_keys(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<KeysQuery>,
) -> AppResult<Json<ReceiptKeys>> {
    let store = caller.store(query.store)?;
    let keys = storage::receipts::keys_of_store(&state.store, &store).await?;
    Ok(Json(ReceiptKeys { store, keys }))
}

/// Revokes one receipt key of a lane (head office; audited; idempotent): receipt codes it signed
/// are refused from then on (e.g. a lane's database was stolen). Revoking the device does not do
/// this: receipts already printed stay valid.
#[utoipa::path(post, path = "/devices/{id}/receipt-keys/{key_id}/revoke", tag = "receipts", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "device id"), ("key_id" = String, Path, description = "key id")),
    responses((status = 200, body = [ReceiptKey]), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn revoke_key(
    staff: StaffActor,
    State(state): State<AppState>,
    Path((device, key_id)): Path<(Uuid, String)>,
) -> AppResult<Json<Vec<ReceiptKey>>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(
        storage::receipts::revoke_key(&state.store, device, key_id.trim(), &staff.actor()).await?,
    ))
}

/// Which receipt.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViewQuery {
    /// The receipt code as scanned (`RC2.…`, or `RC1.…`).
    pub code: String,
}

/// The e-receipt: the sale of a receipt code, verified with its lane's key, as on the paper
/// receipt (store, time, lines, discounts, total, payments, points earned, whether its points
/// were claimed). No log-in: whoever holds the receipt sees it.
#[utoipa::path(get, path = "/receipts", tag = "receipts", params(ViewQuery),
    responses((status = 200, body = ReceiptView),
        (status = 404, description = "the sale is not on the server yet", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_receipt_code, forged_receipt_code, unknown_receipt_key, revoked_receipt_key", body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
async fn view(
    State(state): State<AppState>,
    Query(query): Query<ViewQuery>,
) -> AppResult<Json<ReceiptView>> {
    look_up(&state, &query.code).await.map(Json)
}

/// A claim of a receipt's points (for a mini-program; the shop's page does the same).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReceiptClaimRequest)]
pub struct ClaimRequest {
    /// The client's claim id (UUIDv7): a retry with it answers the same claim.
    pub claim_id: Uuid,
    /// The receipt code as scanned.
    pub receipt_code: String,
    /// The member's current member code (MC1, from the member's phone), which says who claims.
    pub member_code: String,
}

/// Claims the points of a sale made without a member for the member of `member_code`: what the
/// sale would have earned for that member (the member's tier multiplier, on the amount paid
/// minus returns already made), credited to the points ledger once per sale. 409
/// `already_claimed` (by anyone), `member_sale`, `claim_window_closed` (older than
/// `receipts.claim_window_days`), `nothing_to_claim`, `id_in_use`; 404 while the sale is not on
/// the server; 422 for a bad receipt or member code; 429 when rate limited.
#[utoipa::path(post, path = "/receipts/claim", tag = "receipts", request_body = ClaimRequest,
    responses((status = 200, body = ReceiptClaim),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn claim(
    State(state): State<AppState>,
    Json(req): Json<ClaimRequest>,
) -> AppResult<Json<ReceiptClaim>> {
    let member = crate::app::checkout::member_from_code(&state, &req.member_code)?;
    if !storage::members::exists(&state.store, member).await? {
        return Err(AppError::field("member_code", "no such member"));
    }
    claim_points(&state, &req.receipt_code, req.claim_id, member, "api")
        .await
        .map(Json)
}
