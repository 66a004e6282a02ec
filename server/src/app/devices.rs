//! Registering and revoking lane and edge devices: the credential (shown once), the Mosquitto
//! password entry, and cutting a revoked device off the store bus at once.

use uuid::Uuid;

use super::AppState;
use crate::actor::{DeviceKind, Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::secrets::{new_token, token_hash};
use crate::storage;
use crate::storage::devices::DeviceRecord;

/// Revokes a device's credential (the API and the console both come here) and cuts it off the
/// store bus: its connections through the embedded broker's gateway end now, the configured
/// Mosquitto's files are rewritten and reloaded, it is marked offline, and the server ignores
/// its messages from now on (the bus consumer refuses revoked devices).
pub async fn revoke_device(state: &AppState, id: Uuid, actor: &str) -> AppResult<DeviceRecord> {
    let device = storage::devices::revoke(&state.store, id, actor).await?;
    storage::bus::mark_offline(&state.store, id).await?;
    if let Some(sessions) = &state.device_sessions {
        let cut = sessions.disconnect(id);
        if cut > 0 {
            tracing::info!(device = %id, connections = cut, "revoked device disconnected from the store bus");
        }
    }
    refresh_broker_files(state).await;
    Ok(device)
}

/// Rewrites and reloads the Mosquitto files when the server keeps them (see
/// [`crate::bus::mosquitto::refresh`]); a failure is logged (the database change stands).
async fn refresh_broker_files(state: &AppState) {
    if let Err(err) = crate::bus::mosquitto::refresh(&state.store, &state.settings.mqtt).await {
        tracing::error!(error = %format!("{err:#}"), "updating the Mosquitto password and ACL files failed");
    }
}

/// Registers a device with a new credential (the API and the console both come here). Returns
/// the device and its credential, to be shown once; `None` for a retry of a registration (same
/// id), whose credential was shown the first time.
pub async fn register_device(
    state: &AppState,
    id: Uuid,
    location_id: &str,
    kind: DeviceKind,
    name: &str,
    actor: &str,
) -> AppResult<Option<(DeviceRecord, String)>> {
    let credential = new_token("dv_");
    let created = storage::devices::register(
        &state.store,
        id,
        location_id,
        kind,
        name,
        storage::devices::StoredCredential {
            secret_hash: &token_hash(&credential),
            mqtt_password: &crate::bus::mosquitto::password_entry(&credential),
        },
        actor,
    )
    .await?;
    if created.is_some() {
        refresh_broker_files(state).await;
    }
    Ok(created.map(|device| (device, credential)))
}

/// Who may manage devices: head office (every store), a store manager (its store, else 403)
/// and a merchant administrator (its own merchant's stores; another's is not there for it).
const DEVICE_ADMINS: &[Role] = &[
    Role::HeadOfficeAdmin,
    Role::StoreManager,
    Role::MerchantAdmin,
];

/// Registers a device at `location_id` for `by` (the API's `POST /devices`): head office at
/// any store, a store manager at its own (403 otherwise), a merchant administrator at its own
/// merchant's stores (another merchant's or the platform's store is refused as unknown, 422).
/// Answers the device and its credential (`None` for a retry of the same registration).
pub async fn register_for(
    state: &AppState,
    by: &StaffActor,
    id: Uuid,
    location_id: &str,
    kind: DeviceKind,
    name: &str,
) -> AppResult<(DeviceRecord, Option<String>)> {
    by.require(DEVICE_ADMINS)?;
    if by.role != Role::MerchantAdmin {
        by.require_store(location_id)?;
    }
    retail_domain::ids::require_v7(id).map_err(|e| AppError::field("id", e.to_string()))?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(AppError::field("name", "must be 1 to 64 characters"));
    }
    let scope = if by.role == Role::MerchantAdmin {
        by.merchant_scope()?
    } else {
        None
    };
    let location = storage::locations::find(&state.store, location_id)
        .await?
        .filter(|l| scope.is_none_or(|own| own == l.merchant_id))
        .ok_or_else(|| AppError::field("location_id", "no such location"))?;
    if location.kind != "store" {
        return Err(AppError::field("location_id", "devices belong to stores"));
    }
    match register_device(state, id, location_id, kind, name, &by.actor()).await? {
        Some((device, credential)) => Ok((device, Some(credential))),
        None => Ok((storage::devices::get(&state.store, id).await?, None)),
    }
}

/// The devices `by` may see (the API's `GET /devices`), optionally of one store: head office
/// every device; a store manager its store's (403 for another store); a merchant administrator
/// those at its own merchant's stores (404 for another merchant's store).
pub async fn list_for(
    state: &AppState,
    by: &StaffActor,
    location: Option<String>,
) -> AppResult<Vec<DeviceRecord>> {
    by.require(DEVICE_ADMINS)?;
    let (location, merchant) = match (by.role, location) {
        (Role::HeadOfficeAdmin, location) => (location, None),
        (Role::MerchantAdmin, location) => {
            if let Some(location) = &location {
                super::locations::require_own(state, by, location).await?;
            }
            (location, by.merchant_scope()?.map(str::to_owned))
        }
        (_, Some(location)) => {
            by.require_store(&location)?;
            (Some(location), None)
        }
        (_, None) => (by.location_id.clone(), None),
    };
    storage::devices::list(&state.store, location.as_deref(), merchant.as_deref()).await
}

/// Checks that `by` may manage the device `id` and answers it: head office any device, a store
/// manager its store's (403 otherwise), a merchant administrator those at its own merchant's
/// stores (404 otherwise, as for an unknown device).
pub async fn require_device(
    state: &AppState,
    by: &StaffActor,
    id: Uuid,
) -> AppResult<DeviceRecord> {
    by.require(DEVICE_ADMINS)?;
    let device = storage::devices::get(&state.store, id).await?;
    if by.role == Role::MerchantAdmin {
        match super::locations::require_own(state, by, &device.location_id).await {
            Ok(_) => {}
            Err(AppError::NotFound(_)) => {
                return Err(AppError::not_found(format!("device {id} not found")))
            }
            Err(e) => return Err(e),
        }
    } else {
        by.require_store(&device.location_id)?;
    }
    Ok(device)
}

/// Revokes the device `id` for `by` (the API's `POST /devices/{id}/revoke`), scoped as
/// [`require_device`].
pub async fn revoke_for(state: &AppState, by: &StaffActor, id: Uuid) -> AppResult<DeviceRecord> {
    require_device(state, by, id).await?;
    revoke_device(state, id, &by.actor()).await
}

/// The roster a POS lane checks its cashiers' PINs against offline: the store's active staff
/// with a lane PIN, and head office's administrators with one. Only POS terminals get it.
pub async fn lane_roster(
    state: &AppState,
    device: &crate::actor::DeviceActor,
) -> AppResult<retail_domain::wire::staff::LaneRoster> {
    if device.kind != DeviceKind::Pos {
        return Err(crate::error::AppError::Forbidden(
            "only POS terminals sign cashiers in".into(),
        ));
    }
    Ok(retail_domain::wire::staff::LaneRoster {
        staff: storage::staff::lane_roster(&state.store, &device.location_id).await?,
    })
}
