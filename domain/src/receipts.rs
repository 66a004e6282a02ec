//! Verifying receipt codes with the lanes' keys (docs/DESIGN.md §7 "receipt code").
//!
//! A sale is made at a lane, often offline, so the lane signs the sale's receipt code with a key
//! of its own ([`crate::codes::CodeSigner::sign_receipt`], `RC2.<sale>.<store>.<key id>.<sig>`).
//! The lanes register their public keys with the server, and a [`ReceiptKeyring`] made from a
//! store's registered keys ([`crate::wire::receipts::ReceiptKey`]) verifies the receipt codes of
//! every lane of that store — at another lane offline, and at the server. A version 2 code names
//! its key, so an unknown key is told apart from a forgery; a version 1 code (no key id) is
//! checked against every key of its store.

use uuid::Uuid;

use crate::codes::{read_receipt_code, verify_receipt_code, CodeError, CodeVerifier, ReceiptCode};
use crate::wire::receipts::ReceiptKey;

/// Why a receipt code was refused; the text is for a cashier's screen or an API client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptCodeError {
    /// Not a well-formed receipt code at all.
    #[error("not a receipt code: {0}")]
    Unreadable(CodeError),
    /// The signature does not match any key that may have signed it.
    #[error("forged or damaged receipt code: its signature does not match")]
    Forged,
    /// No registered key of the code's store has the code's key id (or, for a version 1 code,
    /// the store has no registered key at all).
    #[error("{}", unknown_key_text(store, key_id.as_deref()))]
    UnknownKey {
        /// The store the code names.
        store: String,
        /// The key id the code names (none for version 1 codes).
        key_id: Option<String>,
    },
    /// Signed by a key head office has revoked.
    #[error("receipt code signed by lane key {key_id}, which has been revoked: not accepted")]
    RevokedKey {
        /// The revoked key.
        key_id: String,
    },
}

fn unknown_key_text(store: &str, key_id: Option<&str>) -> String {
    match key_id {
        Some(id) => format!(
            "receipt code signed by lane key {id} of store {store}, which is not registered \
             (or not known here yet)"
        ),
        None => format!("no receipt key of store {store} is known here yet"),
    }
}

/// One key of the ring.
#[derive(Clone, Debug)]
struct Entry {
    store: String,
    key_id: String,
    verifier: CodeVerifier,
    revoked: bool,
    device_id: Option<Uuid>,
}

/// The receipt keys a verifier knows, by store; see the [module documentation](self).
#[derive(Clone, Debug, Default)]
pub struct ReceiptKeyring {
    entries: Vec<Entry>,
}

/// A receipt code that verified, with the lane (device) whose key signed it when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReceipt {
    /// The code's contents.
    pub code: ReceiptCode,
    /// The id of the key that signed it.
    pub key_id: String,
    /// The lane that registered that key (none for a key added without a registration, e.g. a
    /// lane's own key before it is registered).
    pub device_id: Option<Uuid>,
}

impl ReceiptKeyring {
    /// A ring of registered keys; keys whose public key does not parse are left out (the server
    /// checks every key at registration). A key listed twice is kept once, revoked if either
    /// listing says so.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a ReceiptKey>) -> Self {
        let mut ring = Self::default();
        for key in keys {
            let Ok(verifier) = CodeVerifier::from_public_b64(&key.public_key) else {
                continue;
            };
            let revoked = key.revoked_at.is_some();
            match ring.entries.iter_mut().find(|e| e.verifier == verifier) {
                Some(existing) => existing.revoked |= revoked,
                None => ring.entries.push(Entry {
                    store: key.store.clone(),
                    key_id: verifier.key_id(),
                    verifier,
                    revoked,
                    device_id: Some(key.device_id),
                }),
            }
        }
        ring
    }

    /// Adds a key of `store` that is trusted without a registration (a lane's own key, which it
    /// knows before the server does); nothing changes when the ring has that key already.
    pub fn add(&mut self, store: &str, verifier: CodeVerifier) {
        if self.entries.iter().any(|e| e.verifier == verifier) {
            return;
        }
        self.entries.push(Entry {
            store: store.to_owned(),
            key_id: verifier.key_id(),
            verifier,
            revoked: false,
            device_id: None,
        });
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the ring holds no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Verifies a receipt code: well-formed, signed by a key of the code's store (the one its
    /// key id names, or for a version 1 code any of them), and that key not revoked. Receipt
    /// codes do not expire. Never panics on any input.
    pub fn verify(&self, text: &str) -> Result<VerifiedReceipt, ReceiptCodeError> {
        let code = read_receipt_code(text.trim()).map_err(ReceiptCodeError::Unreadable)?;
        let candidates: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.store == code.store)
            .filter(|e| code.key_id.as_ref().is_none_or(|id| *id == e.key_id))
            .collect();
        if candidates.is_empty() {
            return Err(ReceiptCodeError::UnknownKey {
                store: code.store,
                key_id: code.key_id,
            });
        }
        let (code, key) = verify_receipt_code(text.trim(), candidates.iter().map(|e| &e.verifier))
            .map_err(|e| match e {
                CodeError::BadSignature => ReceiptCodeError::Forged,
                other => ReceiptCodeError::Unreadable(other),
            })?;
        let entry = candidates
            .iter()
            .find(|e| e.verifier == *key)
            .ok_or(ReceiptCodeError::Forged)?;
        if entry.revoked {
            return Err(ReceiptCodeError::RevokedKey {
                key_id: entry.key_id.clone(),
            });
        }
        Ok(VerifiedReceipt {
            code,
            key_id: entry.key_id.clone(),
            device_id: entry.device_id,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::codes::{CodeSigner, SignedCode};
    use crate::ids::new_id;
    use chrono::Utc;
    use proptest::prelude::*;

    fn key(signer: &CodeSigner, store: &str, revoked: bool) -> ReceiptKey {
        ReceiptKey {
            key_id: signer.verifier().key_id(),
            public_key: signer.verifier().public_b64(),
            store: store.into(),
            device_id: new_id(),
            registered_at: Utc::now(),
            revoked_at: revoked.then(Utc::now),
        }
    }

    #[test]
    fn verifies_any_lane_of_the_store() {
        let (lane1, lane2, elsewhere) = (
            CodeSigner::from_seed(&[1; 32]),
            CodeSigner::from_seed(&[2; 32]),
            CodeSigner::from_seed(&[3; 32]),
        );
        let keys = [
            key(&lane1, "SH001", false),
            key(&lane2, "SH001", false),
            key(&elsewhere, "SH002", false),
        ];
        let ring = ReceiptKeyring::from_keys(&keys);
        assert_eq!(ring.len(), 3);
        let sale = new_id();
        let text = lane2.sign_receipt(sale, "SH001").unwrap();
        let ok = ring.verify(&text).unwrap();
        assert_eq!(ok.code.sale_id, sale);
        assert_eq!(ok.device_id, Some(keys[1].device_id));
        assert_eq!(ok.key_id, keys[1].key_id);
        // A version 1 code (no key id) is checked against every key of its store.
        let v1 = lane1.sign(&SignedCode::Receipt(ReceiptCode {
            sale_id: sale,
            store: "SH001".into(),
            key_id: None,
        }));
        assert_eq!(ring.verify(&v1).unwrap().device_id, Some(keys[0].device_id));
        // A key of another store does not vouch for this store's codes.
        let claimed = elsewhere.sign_receipt(sale, "SH001").unwrap();
        assert!(matches!(
            ring.verify(&claimed),
            Err(ReceiptCodeError::UnknownKey {
                key_id: Some(_),
                ..
            })
        ));
        let v1_elsewhere = elsewhere.sign(&SignedCode::Receipt(ReceiptCode {
            sale_id: sale,
            store: "SH001".into(),
            key_id: None,
        }));
        assert_eq!(ring.verify(&v1_elsewhere), Err(ReceiptCodeError::Forged));
    }

    #[test]
    fn refusals_say_why() {
        let lane = CodeSigner::from_seed(&[4; 32]);
        let ring = ReceiptKeyring::from_keys(&[key(&lane, "SH001", false)]);
        let text = lane.sign_receipt(new_id(), "SH001").unwrap();
        // Forged: a changed signature, or a changed field under the same key id.
        let mut bytes = text.clone().into_bytes();
        let at = bytes.len() - 20;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(bytes).unwrap();
        assert_eq!(ring.verify(&forged), Err(ReceiptCodeError::Forged));
        let err = ring.verify(&forged).unwrap_err().to_string();
        assert!(err.contains("forged"), "{err}");
        let other_sale = lane.sign_receipt(new_id(), "SH001").unwrap();
        let spliced = format!(
            "{}.{}",
            other_sale.rsplit_once('.').unwrap().0,
            text.rsplit_once('.').unwrap().1
        );
        assert_eq!(ring.verify(&spliced), Err(ReceiptCodeError::Forged));
        // Unknown: a key nobody registered.
        let stranger = CodeSigner::generate()
            .sign_receipt(new_id(), "SH001")
            .unwrap();
        let err = ring.verify(&stranger).unwrap_err();
        assert!(matches!(err, ReceiptCodeError::UnknownKey { .. }), "{err}");
        assert!(err.to_string().contains("not registered"), "{err}");
        let other_store = lane.sign_receipt(new_id(), "SH009").unwrap();
        assert!(matches!(
            ring.verify(&other_store),
            Err(ReceiptCodeError::UnknownKey { store, .. }) if store == "SH009"
        ));
        // Unreadable: not a receipt code.
        for bad in ["", "6901234567892", "MC1.a.b.c", "RC2.x.y.z.w", "RC9.a.b.c"] {
            assert!(
                matches!(ring.verify(bad), Err(ReceiptCodeError::Unreadable(_))),
                "{bad}"
            );
        }
        // Revoked.
        let ring = ReceiptKeyring::from_keys(&[key(&lane, "SH001", true)]);
        assert!(matches!(
            ring.verify(&text),
            Err(ReceiptCodeError::RevokedKey { .. })
        ));
        // The lane's own key added on top does not un-revoke it.
        let mut ring = ring;
        ring.add("SH001", lane.verifier());
        assert_eq!(ring.len(), 1);
        assert!(ring.verify(&text).is_err());
        // An empty ring knows nothing.
        assert!(ReceiptKeyring::default().is_empty());
        assert!(matches!(
            ReceiptKeyring::default().verify(&text),
            Err(ReceiptCodeError::UnknownKey { .. })
        ));
    }

    #[test]
    fn own_key_and_bad_listings() {
        let lane = CodeSigner::from_seed(&[5; 32]);
        let mut broken = key(&lane, "SH001", false);
        broken.public_key = "not a key".into();
        let mut ring = ReceiptKeyring::from_keys(&[broken]);
        assert!(ring.is_empty());
        ring.add("SH001", lane.verifier());
        let text = lane.sign_receipt(new_id(), "SH001").unwrap();
        let ok = ring.verify(&format!("  {text}\r\n")).unwrap();
        assert_eq!(ok.device_id, None);
    }

    proptest! {
        #[test]
        fn garbage_never_verifies(s in "(RC[12]\\.[A-Za-z0-9_-]{0,30}(\\.[A-Za-z0-9_-]{0,90}){0,4})|.{0,300}") {
            let lane = CodeSigner::from_seed(&[6; 32]);
            let ring = ReceiptKeyring::from_keys(&[key(&lane, "SH001", false)]);
            prop_assert!(ring.verify(&s).is_err());
        }
    }
}
