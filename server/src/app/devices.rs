//! Registering and revoking lane and edge devices: the credential (shown once), the Mosquitto
//! password entry, and cutting a revoked device off the store bus at once.

use uuid::Uuid;

use super::AppState;
use crate::actor::DeviceKind;
use crate::error::AppResult;
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
