//! Key material and the primitives built on it: personal data encryption at rest, the keyed
//! look-up hash for phone numbers, password and token hashing, and the code signer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use retail_domain::codes::{CodeError, CodeSigner, CodeVerifier, MemberCode, SignedCode};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::{Secrets, Settings};

type HmacSha256 = Hmac<Sha256>;

/// A personal field sealed at rest. Its name and the id of the row it belongs to are the
/// associated data of the encryption, so a sealed value copied into another row or field does
/// not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedField {
    /// `members.phone_enc`.
    MemberPhone,
    /// `members.name_enc`.
    MemberName,
    /// `orders.address_enc`.
    OrderAddress,
    /// `member_addresses.address_enc`.
    MemberAddress,
    /// `webhook_endpoints.secret`: the key a middle platform checks deliveries with.
    WebhookSecret,
}

impl SealedField {
    fn as_str(self) -> &'static str {
        match self {
            Self::MemberPhone => "member.phone",
            Self::MemberName => "member.name",
            Self::OrderAddress => "order.address",
            Self::MemberAddress => "member.address",
            Self::WebhookSecret => "webhook.secret",
        }
    }
}

/// The prefix of values sealed by this version: `v2.<key id>.<base64url(nonce ‖ ciphertext)>`.
const SEALED_V2: &str = "v2.";

/// The id of the data key when `secrets.data_key_id` is not set.
pub const DEFAULT_DATA_KEY_ID: &str = "k1";

/// Turns member ids into stable pseudonyms (64 hex digits of a keyed HMAC-SHA256): the same
/// id gives the same pseudonym under the same key, and without the key a pseudonym cannot be
/// linked to its member.
#[derive(Clone)]
pub struct Pseudonymiser {
    mac: HmacSha256,
}

impl Pseudonymiser {
    /// The pseudonym of `member_id`.
    pub fn of(&self, member_id: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(member_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymiser(..)")
    }
}

/// The server's keys, ready to use.
#[derive(Clone)]
pub struct Keys {
    /// The data keys by id; the first one seals, every one opens (the others are retired keys
    /// kept until everything sealed with them has been sealed again).
    data_keys: Vec<(String, Aes256Gcm)>,
    lookup_key: [u8; 32],
    /// Signs member codes, pickup codes and exit passes (receipt codes are signed by the lanes).
    pub signer: CodeSigner,
    /// The sandbox payment provider's shared notification secret: demo mode only (`None`
    /// otherwise, whatever the configuration holds).
    pub payment_secret: Option<[u8; 32]>,
    /// Member codes whose signature was checked already (see [`Keys::verify_member_code`]).
    verified_members: Arc<Mutex<HashMap<String, MemberCode>>>,
}

/// At most this many verified member codes are remembered (about a minute's worth of a busy
/// chain's shoppers; beyond it the expired ones are dropped, or all of them).
const VERIFIED_MEMBER_CODES: usize = 65_536;

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

fn decode_key(name: &str, hex_key: &str) -> anyhow::Result<[u8; 32]> {
    let bytes =
        hex::decode(hex_key.trim()).with_context(|| format!("secrets.{name} is not hex"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("secrets.{name} must be 32 bytes (64 hex digits)"))
}

fn random_key() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    hex::encode(key)
}

impl Secrets {
    /// True when every key the server needs is set (the sandbox payment secret only in demo
    /// mode).
    fn is_complete(&self, demo: bool) -> bool {
        !(self.data_key.is_empty()
            || self.lookup_key.is_empty()
            || self.code_signing_seed.is_empty()
            || (demo && self.payment_provider_secret.is_empty()))
    }

    /// Fresh random secrets.
    pub fn generate() -> Self {
        Self {
            data_key: random_key(),
            data_key_id: DEFAULT_DATA_KEY_ID.to_owned(),
            retired_data_keys: std::collections::BTreeMap::new(),
            lookup_key: random_key(),
            code_signing_seed: random_key(),
            payment_provider_secret: random_key(),
        }
    }
}

impl Keys {
    /// Loads the keys from the settings. With the embedded SQLite default and no keys
    /// configured, they are generated once into `data_dir/secrets.toml` (mode 0600) and reused.
    /// The sandbox payment provider's secret is loaded in demo mode only.
    pub fn load(settings: &Settings) -> anyhow::Result<Self> {
        let secrets = if settings.secrets.is_complete(settings.demo) {
            settings.secrets.clone()
        } else if settings.is_sqlite() {
            load_or_create_secrets_file(&settings.data_dir.join("secrets.toml"))?
        } else {
            anyhow::bail!(
                "secrets are not configured: set RETAIL_SECRETS__DATA_KEY, RETAIL_SECRETS__LOOKUP_KEY \
                 and RETAIL_SECRETS__CODE_SIGNING_SEED (64 hex digits each; in demo mode also \
                 RETAIL_SECRETS__PAYMENT_PROVIDER_SECRET) when running on PostgreSQL"
            )
        };
        let mut keys = Self::from_secrets(&secrets)?;
        if !settings.demo {
            keys.payment_secret = None;
        }
        Ok(keys)
    }

    /// Builds the keys from explicit secrets.
    pub fn from_secrets(secrets: &Secrets) -> anyhow::Result<Self> {
        let data_key = decode_key("data_key", &secrets.data_key)?;
        let current_id = if secrets.data_key_id.trim().is_empty() {
            DEFAULT_DATA_KEY_ID.to_owned()
        } else {
            secrets.data_key_id.trim().to_owned()
        };
        let mut data_keys = vec![(current_id, Aes256Gcm::new(&data_key.into()))];
        for (id, key) in &secrets.retired_data_keys {
            let key = decode_key(&format!("retired_data_keys.{id}"), key)?;
            data_keys.push((id.trim().to_owned(), Aes256Gcm::new(&key.into())));
        }
        for (i, (id, _)) in data_keys.iter().enumerate() {
            anyhow::ensure!(
                !id.is_empty()
                    && id.len() <= 16
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                "secrets: data key id {id:?} must be 1 to 16 letters, digits or -"
            );
            anyhow::ensure!(
                data_keys[..i].iter().all(|(other, _)| other != id),
                "secrets: data key id {id:?} is used twice (data_key_id and retired_data_keys)"
            );
        }
        Ok(Self {
            data_keys,
            lookup_key: decode_key("lookup_key", &secrets.lookup_key)?,
            signer: CodeSigner::from_seed(&decode_key(
                "code_signing_seed",
                &secrets.code_signing_seed,
            )?),
            payment_secret: if secrets.payment_provider_secret.is_empty() {
                None
            } else {
                Some(decode_key(
                    "payment_provider_secret",
                    &secrets.payment_provider_secret,
                )?)
            },
            verified_members: Arc::default(),
        })
    }

    /// Verifies a signed code like [`CodeVerifier::verify`], remembering the member codes that
    /// verified: a shopper's phone shows one member code for about a minute, and a busy
    /// checkout (a flash sale) receives it with every try, so its Ed25519 signature is checked
    /// once; the expiry is still checked on every use.
    pub fn verify_member_code(
        &self,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<SignedCode, CodeError> {
        let remembered = self
            .verified_members
            .lock()
            .ok()
            .and_then(|codes| codes.get(text).cloned());
        if let Some(code) = remembered {
            return if code.expires_at <= now {
                Err(CodeError::Expired)
            } else {
                Ok(SignedCode::Member(code))
            };
        }
        let code = self.verifier().verify(text, now)?;
        if let (SignedCode::Member(member), Ok(mut codes)) = (&code, self.verified_members.lock()) {
            if codes.len() >= VERIFIED_MEMBER_CODES {
                codes.retain(|_, c| c.expires_at > now);
                if codes.len() >= VERIFIED_MEMBER_CODES {
                    codes.clear();
                }
            }
            codes.insert(text.to_owned(), member.clone());
        }
        Ok(code)
    }

    /// The public half of the code-signing key, for offline verification at lanes and gates.
    pub fn verifier(&self) -> CodeVerifier {
        self.signer.verifier()
    }

    /// The id of the data key that seals.
    pub fn data_key_id(&self) -> &str {
        self.data_keys.first().map_or("", |(id, _)| id.as_str())
    }

    /// The prefix of values sealed with the current data key (`v2.<id>.`): anything else is
    /// sealed again by [`crate::app::privacy::reseal`].
    pub fn current_seal_prefix(&self) -> String {
        format!("{SEALED_V2}{}.", self.data_key_id())
    }

    /// Encrypts a personal field of row `row` for storage with the current data key:
    /// `v2.<key id>.<base64url(nonce ‖ ciphertext)>`, the field, the row and the key id bound as
    /// associated data.
    pub fn seal(&self, field: SealedField, row: Uuid, plain: &str) -> anyhow::Result<String> {
        let (id, cipher) = self
            .data_keys
            .first()
            .ok_or_else(|| anyhow::anyhow!("no data key"))?;
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: associated_data(id, field, row).as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_V2}{id}.{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Decrypts what [`Keys::seal`] produced for the same field and row (with the key its id
    /// names, current or retired), or a value sealed before key ids and associated data (with
    /// any data key, without associated data).
    pub fn open(&self, field: SealedField, row: Uuid, sealed: &str) -> anyhow::Result<String> {
        let (bytes, key_id) = match sealed.strip_prefix(SEALED_V2) {
            Some(rest) => {
                let (id, body) = rest.split_once('.').context("sealed value has no key id")?;
                (URL_SAFE_NO_PAD.decode(body), Some(id))
            }
            None => (URL_SAFE_NO_PAD.decode(sealed), None),
        };
        let bytes = bytes.context("sealed value is not base64")?;
        anyhow::ensure!(bytes.len() > 12, "sealed value too short");
        let (nonce, body) = bytes.split_at(12);
        let plain = match key_id {
            Some(id) => {
                let (_, cipher) =
                    self.data_keys
                        .iter()
                        .find(|(k, _)| k == id)
                        .with_context(|| {
                            format!("sealed with data key {id:?}, which is not configured")
                        })?;
                cipher
                    .decrypt(
                        Nonce::from_slice(nonce),
                        Payload {
                            msg: body,
                            aad: associated_data(id, field, row).as_bytes(),
                        },
                    )
                    .map_err(|_| {
                        anyhow::anyhow!("sealed value does not open: wrong key, field or row")
                    })?
            }
            None => self
                .data_keys
                .iter()
                .find_map(|(_, cipher)| cipher.decrypt(Nonce::from_slice(nonce), body).ok())
                .ok_or_else(|| {
                    anyhow::anyhow!("sealed value does not decrypt with any data key")
                })?,
        };
        String::from_utf8(plain).context("sealed value is not UTF-8")
    }

    /// The keyed look-up hash of a normalised phone number (hex HMAC-SHA256).
    pub fn lookup_hash(&self, value: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.lookup_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The pseudonymiser of exported member ids (`app::export`): HMAC-SHA256 keyed with
    /// `configured` (64 hex digits, `export.pseudonym_key`) or, when that is empty, with a key
    /// derived from the look-up key (HMAC-SHA256 of `member-pseudonym/v1`).
    pub fn pseudonymiser(&self, configured: &str) -> anyhow::Result<Pseudonymiser> {
        let key: Vec<u8> = if configured.trim().is_empty() {
            let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.lookup_key)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(b"member-pseudonym/v1");
            mac.finalize().into_bytes().to_vec()
        } else {
            decode_key("export.pseudonym_key", configured.trim())?.to_vec()
        };
        let mac = <HmacSha256 as Mac>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Ok(Pseudonymiser { mac })
    }

    /// HMAC-SHA256 (hex) of a link's `message` with the look-up key (e.g. a notification's
    /// unsubscribe link, `unsubscribe|v1|…`): links the server signs and checks itself.
    pub fn link_signature(&self, message: &str) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.lookup_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"retail-link|");
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// HMAC-SHA256 signature (hex) the sandbox payment provider puts on a notification;
    /// `None` outside demo mode, where the sandbox does not exist.
    pub fn payment_signature(&self, timestamp: i64, body: &[u8]) -> Option<String> {
        self.payment_secret
            .as_ref()
            .map(|secret| payment_signature(secret, timestamp, body))
    }
}

/// The associated data of a sealed field: format version, key id, field and row.
fn associated_data(key_id: &str, field: SealedField, row: Uuid) -> String {
    format!("v2|{key_id}|{}|{row}", field.as_str())
}

/// Signature of a payment notification: hex HMAC-SHA256 over `"{timestamp}.{body}"`.
pub fn payment_signature(secret: &[u8; 32], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time comparison of two hex signatures.
pub fn signatures_match(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn load_or_create_secrets_file(path: &Path) -> anyhow::Result<Secrets> {
    if path.exists() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let secrets: Secrets =
            figment::Figment::from(figment::providers::Serialized::defaults(Secrets::default()))
                .merge(<figment::providers::Toml as figment::providers::Format>::string(&text))
                .extract()
                .with_context(|| format!("parsing {}", path.display()))?;
        anyhow::ensure!(
            secrets.is_complete(true),
            "{} is incomplete",
            path.display()
        );
        return Ok(secrets);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let secrets = Secrets::generate();
    let text = format!(
        "# Generated on first start. Keep this file private and back it up with the database:\n\
         # without data_key the members' phone numbers cannot be read.\n\
         data_key_id = \"{}\"\ndata_key = \"{}\"\nlookup_key = \"{}\"\ncode_signing_seed = \"{}\"\npayment_provider_secret = \"{}\"\n",
        secrets.data_key_id, secrets.data_key, secrets.lookup_key, secrets.code_signing_seed, secrets.payment_provider_secret
    );
    write_private(path, &text).with_context(|| format!("writing {}", path.display()))?;
    Ok(secrets)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// True when a PIN of digits is easy to guess: one digit repeated, or a run up or down
/// (`123456`, `654321`).
pub fn guessable_pin(pin: &str) -> bool {
    let digits = pin.as_bytes();
    let same = digits.windows(2).all(|w| w[0] == w[1]);
    let up = digits.windows(2).all(|w| w[1] == w[0].wrapping_add(1));
    let down = digits.windows(2).all(|w| w[0] == w[1].wrapping_add(1));
    same || up || down
}

/// Argon2id hash of a password (PHC string).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Checks a password against its stored Argon2 hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new random bearer token with the given prefix (`st_` staff, `dv_` device).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 (hex) of a high-entropy token, as stored in the database.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_round_trips_and_hides_the_plain_text() {
        let keys = Keys::from_secrets(&Secrets::generate()).unwrap();
        let row = Uuid::now_v7();
        let sealed = keys
            .seal(SealedField::MemberPhone, row, "13800138000")
            .unwrap();
        assert!(!sealed.contains("13800138000"));
        assert!(sealed.starts_with("v2.k1."), "{sealed}");
        assert_eq!(
            keys.open(SealedField::MemberPhone, row, &sealed).unwrap(),
            "13800138000"
        );
        assert_ne!(
            keys.seal(SealedField::MemberPhone, row, "13800138000")
                .unwrap(),
            sealed,
            "nonce is random"
        );
        assert!(keys.open(SealedField::MemberPhone, row, "garbage").is_err());
        assert!(keys.open(SealedField::MemberPhone, row, "v2.k1.").is_err());
        assert!(keys.open(SealedField::MemberPhone, row, "v2.").is_err());
    }

    #[test]
    fn a_sealed_value_opens_only_in_its_own_field_and_row() {
        let keys = Keys::from_secrets(&Secrets::generate()).unwrap();
        let (row, other) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = keys
            .seal(SealedField::MemberPhone, row, "13800138000")
            .unwrap();
        // Copied onto another member, or into the name field: it does not open.
        assert!(keys.open(SealedField::MemberPhone, other, &sealed).is_err());
        assert!(keys.open(SealedField::MemberName, row, &sealed).is_err());
        // Its key id cannot be swapped either.
        let relabelled = sealed.replacen("v2.k1.", "v2.k2.", 1);
        assert!(keys
            .open(SealedField::MemberPhone, row, &relabelled)
            .is_err());
    }

    #[test]
    fn data_keys_rotate_with_ids() {
        let old = Secrets::generate();
        let old_keys = Keys::from_secrets(&old).unwrap();
        let row = Uuid::now_v7();
        let sealed = old_keys
            .seal(SealedField::OrderAddress, row, "上海市")
            .unwrap();
        // A value sealed before key ids (no associated data) still opens.
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let legacy_body = old_keys.data_keys[0]
            .1
            .encrypt(Nonce::from_slice(&nonce), "13900000000".as_bytes())
            .unwrap();
        let legacy = URL_SAFE_NO_PAD.encode([nonce.to_vec(), legacy_body].concat());

        // Rotation: a new current key k2, the old one retired under its id.
        let mut new = Secrets::generate();
        new.data_key_id = "k2".into();
        new.retired_data_keys
            .insert("k1".into(), old.data_key.clone());
        let keys = Keys::from_secrets(&new).unwrap();
        assert_eq!(keys.current_seal_prefix(), "v2.k2.");
        assert_eq!(
            keys.open(SealedField::OrderAddress, row, &sealed).unwrap(),
            "上海市"
        );
        assert_eq!(
            keys.open(SealedField::MemberPhone, row, &legacy).unwrap(),
            "13900000000"
        );
        let resealed = keys.seal(SealedField::OrderAddress, row, "上海市").unwrap();
        assert!(resealed.starts_with("v2.k2."));
        // Without the retired key, what it sealed does not open (and says why).
        let mut forgotten = new.clone();
        forgotten.retired_data_keys.clear();
        let keys = Keys::from_secrets(&forgotten).unwrap();
        let err = keys
            .open(SealedField::OrderAddress, row, &sealed)
            .unwrap_err();
        assert!(err.to_string().contains("\"k1\""), "{err}");
        // Bad key ids are refused at start.
        let mut bad = Secrets::generate();
        bad.data_key_id = "k 1".into();
        assert!(Keys::from_secrets(&bad).is_err());
        let mut twice = Secrets::generate();
        twice.retired_data_keys.insert("k1".into(), old.data_key);
        assert!(Keys::from_secrets(&twice).is_err());
    }

    #[test]
    fn lookup_hash_is_keyed_and_stable() {
        let a = Keys::from_secrets(&Secrets::generate()).unwrap();
        let b = Keys::from_secrets(&Secrets::generate()).unwrap();
        assert_eq!(a.lookup_hash("13800138000"), a.lookup_hash("13800138000"));
        assert_ne!(a.lookup_hash("13800138000"), b.lookup_hash("13800138000"));
    }

    #[test]
    fn passwords_verify() {
        let hash = hash_password("demo1234").unwrap();
        assert!(verify_password("demo1234", &hash));
        assert!(!verify_password("demo12345", &hash));
        assert!(!verify_password("demo1234", "not a hash"));
    }

    #[test]
    fn member_codes_are_verified_once_and_expire_all_the_same() {
        let keys = Keys::from_secrets(&Secrets::generate()).unwrap();
        let now = Utc::now();
        let member = retail_domain::ids::new_id();
        let code = keys
            .signer
            .try_sign(&SignedCode::Member(MemberCode {
                member_id: member,
                expires_at: now + chrono::Duration::seconds(60),
            }))
            .unwrap();
        for _ in 0..2 {
            // First verified, then remembered: the same answer.
            match keys.verify_member_code(&code, now).unwrap() {
                SignedCode::Member(m) => assert_eq!(m.member_id, member),
                other => panic!("{other:?}"),
            }
        }
        // Remembered codes still expire.
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(
            keys.verify_member_code(&code, later),
            Err(CodeError::Expired)
        );
        // A tampered code is never remembered as good, however often it comes.
        let at = code.len() - 10;
        let swapped = if &code[at..=at] == "A" { "B" } else { "A" };
        let forged = format!("{}{swapped}{}", &code[..at], &code[at + 1..]);
        for _ in 0..2 {
            assert!(keys.verify_member_code(&forged, now).is_err());
        }
        // Another server's code does not verify here.
        let other = Keys::from_secrets(&Secrets::generate()).unwrap();
        let foreign = other
            .signer
            .try_sign(&SignedCode::Member(MemberCode {
                member_id: member,
                expires_at: now + chrono::Duration::seconds(60),
            }))
            .unwrap();
        assert_eq!(
            keys.verify_member_code(&foreign, now),
            Err(CodeError::BadSignature)
        );
    }

    #[test]
    fn signature_comparison() {
        assert!(signatures_match("abcd", "abcd"));
        assert!(!signatures_match("abcd", "abce"));
        assert!(!signatures_match("abcd", "abc"));
    }
}
