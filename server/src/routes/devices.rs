//! Registering and revoking devices (POS terminals and edge agents).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::{DeviceActor, DeviceKind, StaffActor};
use crate::app::devices;
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::devices::DeviceRecord;

/// Device routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register, list))
        .routes(routes!(revoke))
        .routes(routes!(whoami))
        .routes(routes!(my_code_verifier))
        .routes(routes!(my_roster))
}

/// Registration request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDevice {
    /// Client-generated id (UUIDv7); a retry with the same id is answered without a new credential.
    pub id: Uuid,
    /// Store code.
    pub location_id: String,
    /// `pos` or `edge`.
    pub kind: DeviceKind,
    /// Name, e.g. "Lane 1".
    pub name: String,
}

/// A registered device and its credential, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredDevice {
    /// The device.
    pub device: DeviceRecord,
    /// Bearer credential; absent when this was a retry of an earlier registration.
    pub credential: Option<String>,
}

/// Filter for listing devices.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceFilter {
    /// Only this store's devices.
    pub location_id: Option<String>,
}

/// Registers a device (head office; the store's manager; a merchant administrator at its own
/// merchant's stores).
#[utoipa::path(post, path = "/devices", tag = "devices", security(("staff" = [])), request_body = RegisterDevice,
    responses((status = 200, body = RegisteredDevice), (status = 403, body = crate::error::ErrorBody),
        (status = 409, description = "id_in_use: the id is a device of another store", body = crate::error::ErrorBody),
        (status = 422, description = "invalid, or no such store (another merchant's store is none to a merchant administrator)", body = crate::error::ErrorBody)))]
async fn register(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<RegisterDevice>,
) -> AppResult<Json<RegisteredDevice>> {
    let (device, credential) = devices::register_for(
        &state,
        &staff,
        req.id,
        &req.location_id,
        req.kind,
        &req.name,
    )
    .await?;
    Ok(Json(RegisteredDevice { device, credential }))
}

/// Lists devices (a store manager sees only their store; a merchant administrator those at its
/// own merchant's stores).
#[utoipa::path(get, path = "/devices", tag = "devices", security(("staff" = [])), params(DeviceFilter),
    responses((status = 200, body = [DeviceRecord]), (status = 403, body = crate::error::ErrorBody),
        (status = 404, description = "a merchant administrator naming a store not its merchant's", body = crate::error::ErrorBody)))]
async fn list(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(filter): Query<DeviceFilter>,
) -> AppResult<Json<Vec<DeviceRecord>>> {
    Ok(Json(
        devices::list_for(&state, &staff, filter.location_id).await?,
    ))
}

/// Revokes a device's credential at once (head office; the store's manager; a merchant
/// administrator at its own merchant's stores — another's device is 404 to it).
#[utoipa::path(post, path = "/devices/{id}/revoke", tag = "devices", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "device id")),
    responses((status = 200, body = DeviceRecord), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn revoke(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<DeviceRecord>> {
    Ok(Json(devices::revoke_for(&state, &staff, id).await?))
}

/// The calling device (lets a lane check its credential).
#[utoipa::path(get, path = "/devices/me", tag = "devices", security(("device" = [])),
    responses((status = 200, body = DeviceActor), (status = 401, body = crate::error::ErrorBody)))]
async fn whoami(device: DeviceActor) -> Json<DeviceActor> {
    Json(device)
}

/// The lane roster, for the calling POS terminal: who may sign in at its lanes, with their
/// PIN hashes, checked offline (docs/CONTRACTS.md, "Lane sign-in").
#[utoipa::path(get, path = "/devices/me/roster", tag = "devices", security(("device" = [])),
    responses((status = 200, body = retail_domain::wire::staff::LaneRoster),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
async fn my_roster(
    device: DeviceActor,
    State(state): State<AppState>,
) -> AppResult<Json<retail_domain::wire::staff::LaneRoster>> {
    Ok(Json(
        crate::app::devices::lane_roster(&state, &device).await?,
    ))
}

/// The code-signing public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifierKey {
    /// Ed25519 public key, base64url without padding (43 characters).
    pub public_key: String,
}

/// The code-verifier key, for the calling device (edge agents fetch it with their credential
/// and pin the first one they trust; lanes get the same key with their pricing context;
/// docs/CONTRACTS.md, "Code-verifier key"). There is no anonymous way to fetch it: a device
/// trusts the key only from an authenticated answer over its pinned TLS link.
#[utoipa::path(get, path = "/devices/me/code-verifier", tag = "devices", security(("device" = [])),
    responses((status = 200, body = VerifierKey), (status = 401, body = crate::error::ErrorBody)))]
async fn my_code_verifier(
    _device: DeviceActor,
    State(state): State<AppState>,
) -> Json<VerifierKey> {
    Json(VerifierKey {
        public_key: state.keys.verifier().public_b64(),
    })
}
