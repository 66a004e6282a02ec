//! Pinning the chain's code-verifier key on a device (issue 15, finding 7): the one rule lanes
//! and edge agents both follow for the public key that verifies member codes, pickup codes and
//! exit passes offline ([`crate::codes::CodeVerifier`]).
//!
//! A device trusts one key: the one in its configuration (`code_verifier_key`, from
//! provisioning) when set, else the first key it fetched from the server with its device
//! credential, which it keeps (the *pinned* key). A key the server answers later that differs
//! from the pinned one is **refused** — the device keeps verifying with the pinned key and logs
//! the refusal — because an answer on the network is no reason to trust a new key. The key is
//! rotated explicitly: set the new `code_verifier_key` in the device's configuration (it replaces
//! the pinned key at the next start or refresh). Clearing the setting later keeps the last
//! pinned key.
//!
//! [`pin_verifier_key`] is the decision alone (no I/O): each device reads its pinned key from
//! its own database, fetches, applies the decision and stores [`KeyPinning::save`].

/// What a device does after asking for the code-verifier key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPinning {
    /// The key to verify with from now on (`None`: no key yet — nothing configured, nothing
    /// pinned, the server not reached).
    pub key: Option<String>,
    /// The new pinned key to store, when it changed (the first key fetched, or a configured
    /// rotation).
    pub save: Option<String>,
    /// The configured key replaced a different pinned key (an explicit rotation).
    pub rotated: bool,
    /// The first fetched key was pinned now (nothing was configured or pinned before).
    pub first: bool,
    /// Why the key the server answered was refused (it differs from the pinned one).
    pub refused: Option<String>,
}

impl KeyPinning {
    /// Logs what happened to the key (a rotation, a first pin, a refusal), the same on every
    /// device.
    pub fn log(&self) {
        if self.rotated {
            tracing::info!("code-verifier key rotated by the configuration");
        }
        if self.first {
            tracing::info!("code-verifier key pinned (first fetch with the device credential)");
        }
        if let Some(reason) = &self.refused {
            tracing::error!("{reason}");
        }
    }
}

/// The message of a refused key (logged by the device, answered to a `resync` command).
pub const REFUSED: &str = "the server answered a code-verifier key that differs from the pinned \
                           one; refused, the pinned key stays (rotate it with code_verifier_key \
                           in the configuration)";

/// Decides which code-verifier key a device trusts: `configured` is its configuration's
/// `code_verifier_key`, `pinned` the key it stored, `fetched` the key the server answered now
/// with the device credential (`None`: the server was not reached, or answered no usable key).
pub fn pin_verifier_key(
    configured: Option<&str>,
    pinned: Option<&str>,
    fetched: Option<&str>,
) -> KeyPinning {
    let mut outcome = KeyPinning {
        key: pinned.map(str::to_owned),
        save: None,
        rotated: false,
        first: false,
        refused: None,
    };
    if let Some(configured) = configured {
        if pinned != Some(configured) {
            outcome.rotated = pinned.is_some();
            outcome.key = Some(configured.to_owned());
            outcome.save = Some(configured.to_owned());
        }
    }
    match (fetched, outcome.key.as_deref()) {
        (Some(fetched), None) => {
            outcome.key = Some(fetched.to_owned());
            outcome.save = Some(fetched.to_owned());
            outcome.first = true;
        }
        (Some(fetched), Some(trusted)) if fetched != trusted => {
            outcome.refused = Some(REFUSED.to_owned());
        }
        _ => {}
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_fetched_key_is_pinned_and_a_different_one_refused() {
        let first = pin_verifier_key(None, None, Some("A"));
        assert_eq!(
            (first.key.as_deref(), first.save.as_deref(), first.first),
            (Some("A"), Some("A"), true)
        );
        let same = pin_verifier_key(None, Some("A"), Some("A"));
        assert_eq!(
            (same.key.as_deref(), same.save, same.refused),
            (Some("A"), None, None)
        );
        let forged = pin_verifier_key(None, Some("A"), Some("B"));
        assert_eq!(forged.key.as_deref(), Some("A"));
        assert_eq!(forged.save, None);
        assert_eq!(forged.refused.as_deref(), Some(REFUSED));
        let offline = pin_verifier_key(None, Some("A"), None);
        assert_eq!((offline.key.as_deref(), offline.refused), (Some("A"), None));
        let nothing = pin_verifier_key(None, None, None);
        assert_eq!(nothing.key, None);
    }

    #[test]
    fn the_configured_key_wins_and_rotates_explicitly() {
        // Provisioned: the configured key is pinned even before the server is reached.
        let provisioned = pin_verifier_key(Some("A"), None, None);
        assert_eq!(
            (
                provisioned.key.as_deref(),
                provisioned.save.as_deref(),
                provisioned.rotated
            ),
            (Some("A"), Some("A"), false)
        );
        // Rotation: the new configured key replaces the pinned one; the server agrees.
        let rotated = pin_verifier_key(Some("B"), Some("A"), Some("B"));
        assert_eq!(
            (
                rotated.key.as_deref(),
                rotated.save.as_deref(),
                rotated.rotated
            ),
            (Some("B"), Some("B"), true)
        );
        assert_eq!(rotated.refused, None);
        // The server still answers the old key: refused against the configured one.
        let stale = pin_verifier_key(Some("B"), Some("B"), Some("A"));
        assert_eq!(stale.key.as_deref(), Some("B"));
        assert!(stale.refused.is_some());
        // Clearing the setting keeps the last pinned key.
        let cleared = pin_verifier_key(None, Some("B"), Some("B"));
        assert_eq!((cleared.key.as_deref(), cleared.save), (Some("B"), None));
    }
}
