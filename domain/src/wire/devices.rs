//! What the server says about a device (`GET /api/v1/devices/me`), and how a device reads it.

use serde::{Deserialize, Serialize};

/// A registered device as the server knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIdentity {
    /// Device id.
    pub id: String,
    /// The store it belongs to.
    pub location_id: String,
    /// `pos` or `edge`.
    pub kind: String,
    /// Its name, e.g. "Lane 1".
    pub name: String,
}

impl DeviceIdentity {
    /// Reads the server's answer to `GET /api/v1/devices/me` for a device that must be of
    /// `expected_kind`: the identity, or a message saying why the device may not start.
    pub fn from_response(
        status: u16,
        body: &serde_json::Value,
        expected_kind: &str,
    ) -> Result<Self, String> {
        if !(200..300).contains(&status) {
            return Err(format!(
                "the server refused this device ({status}): {}",
                body["error"]["message"]
                    .as_str()
                    .unwrap_or("no reason given")
            ));
        }
        let identity: Self = serde_json::from_value(body.clone())
            .map_err(|e| format!("unexpected answer from the server: {e}"))?;
        if identity.kind != expected_kind {
            return Err(format!(
                "this credential belongs to a {} device, not a {expected_kind} device",
                identity.kind
            ));
        }
        Ok(identity)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_answers() {
        let ok =
            serde_json::json!({"id": "d", "location_id": "SH001", "kind": "pos", "name": "Lane 1"});
        assert_eq!(
            DeviceIdentity::from_response(200, &ok, "pos").map(|i| i.location_id),
            Ok("SH001".into())
        );
        assert!(DeviceIdentity::from_response(200, &ok, "edge").is_err());
        let refused = serde_json::json!({"error": {"code": "unauthorized", "message": "this device has been revoked"}});
        let err = DeviceIdentity::from_response(401, &refused, "pos").unwrap_err();
        assert!(err.contains("revoked"), "{err}");
        assert!(DeviceIdentity::from_response(200, &serde_json::json!({"id": 1}), "pos").is_err());
    }
}
