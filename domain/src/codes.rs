//! Signed QR codes (docs/DESIGN.md §7).
//!
//! Compact text form, small enough for a low-version QR code at error-correction level M:
//!
//! ```text
//! <PREFIX><VERSION>.<field>.<field>….<signature>
//! MC1.<member id>.<expires>.<sig>                               member code
//! PK1.<order id>.<6-digit short code>.<sig>                     pickup code
//! EX1.<session id>.<store>.<item count>.<total fen>.<expires>.<sig>   exit pass (no visit)
//! EX2.<session id>.<store>.<item count>.<total fen>.<expires>.<visit>.<sig>   exit pass
//! RC1.<sale id>.<store>.<sig>                                   receipt code (no key id)
//! RC2.<sale id>.<store>.<key id>.<sig>                          receipt code
//! ST1.<store>                                                   store code (unsigned)
//! ```
//!
//! * ids are [`short_b64`] (22 base64url characters of the UUID bytes);
//! * `expires` is Unix seconds, `total fen` and `item count` plain non-negative integers, all in
//!   canonical decimal (no sign, no leading zeros);
//! * `visit` (exit passes, version 2) is the shopper's scan-and-go visit number as the server
//!   counted it when issuing the pass (1 = the first), so the gate can apply its "first visit"
//!   audit rule offline; version 1 exit passes (no visit) are still read;
//! * `key id` (receipt codes, version 2) names the lane key that signed the code (see
//!   [`CodeVerifier::key_id`]: 8 base64url characters of the key's SHA-256), so a verifier holding
//!   many lanes' keys picks the one key to check and can tell an unknown key from a forgery;
//!   version 1 receipt codes (no key id) are still read;
//! * stores are 1–16 characters of `[A-Z0-9-]`, e.g. `SH001`;
//! * the signature is the Ed25519 signature, base64url without padding (86 characters), over the
//!   ASCII bytes of everything before the final `.` — prefix and version included, so a code of
//!   one kind can never be replayed as another.
//!
//! The server holds the [`CodeSigner`] of member codes, pickup codes and exit passes; POS
//! terminals and edge agents hold only its [`CodeVerifier`] (public key) and verify offline.
//! Receipt codes are signed by each lane with a key of its own (the sale is made offline) and
//! verified with the lanes' registered keys ([`crate::receipts`]). Verification never panics on
//! any input.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::ids::{from_short_b64, short_b64};
use crate::money::Money;

/// Longest code text accepted by [`CodeVerifier::verify`] and [`parse_store_code`].
pub const MAX_CODE_LEN: usize = 512;

/// Current code format version (every kind; exit passes also have [`EXIT_PASS_VERSION`]).
const VERSION: &str = "1";

/// Version of exit passes that carry the shopper's visit number.
const EXIT_PASS_VERSION: &str = "2";

/// Version of receipt codes that carry the signing key's id.
const RECEIPT_VERSION: &str = "2";

/// Length of a key id ([`CodeVerifier::key_id`]): 6 bytes in base64url.
pub const KEY_ID_LEN: usize = 8;

/// Largest visit number an exit pass carries (issuers cap higher counts here; the gate only
/// cares about the first few visits, and the cap keeps the worst-case pass a small QR code).
pub const MAX_VISIT: u32 = 9_999;

/// Length of a base64url-encoded Ed25519 signature (64 bytes, no padding).
const SIG_B64_LEN: usize = 86;

/// Errors from reading codes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The text is not a well-formed code (the message says what is wrong).
    #[error("malformed code: {0}")]
    Malformed(String),
    /// The prefix is not a known code kind.
    #[error("unknown code kind")]
    UnknownKind,
    /// The code kind is known but its format version is not supported.
    #[error("unsupported code version")]
    UnsupportedVersion,
    /// The signature does not match (forged, altered, or signed by another key).
    #[error("invalid code signature")]
    BadSignature,
    /// The code is correctly signed but has expired.
    #[error("code has expired")]
    Expired,
}

fn malformed(msg: impl Into<String>) -> CodeError {
    CodeError::Malformed(msg.into())
}

/// The kind of a code, told apart by its prefix alone (see [`classify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodeKind {
    /// `MC…`: member code on the shopper's phone.
    Member,
    /// `PK…`: pickup code.
    Pickup,
    /// `EX…`: scan-and-go exit pass.
    ExitPass,
    /// `RC…`: receipt code.
    Receipt,
    /// `ST…`: store code poster.
    Store,
    /// Anything else (e.g. a product barcode).
    Unknown,
}

impl CodeKind {
    /// The two-letter prefix, or `None` for [`CodeKind::Unknown`].
    pub fn prefix(&self) -> Option<&'static str> {
        match self {
            CodeKind::Member => Some("MC"),
            CodeKind::Pickup => Some("PK"),
            CodeKind::ExitPass => Some("EX"),
            CodeKind::Receipt => Some("RC"),
            CodeKind::Store => Some("ST"),
            CodeKind::Unknown => None,
        }
    }

    fn from_prefix(prefix: &[u8]) -> CodeKind {
        match prefix {
            b"MC" => CodeKind::Member,
            b"PK" => CodeKind::Pickup,
            b"EX" => CodeKind::ExitPass,
            b"RC" => CodeKind::Receipt,
            b"ST" => CodeKind::Store,
            _ => CodeKind::Unknown,
        }
    }
}

/// Tells code kinds apart cheaply by prefix only (two letters followed by a version digit); does
/// not validate anything else. Use it to route a scan, then verify / parse properly.
pub fn classify(text: &str) -> CodeKind {
    match text.as_bytes() {
        [a, b, v, ..] if v.is_ascii_digit() => CodeKind::from_prefix(&[*a, *b]),
        _ => CodeKind::Unknown,
    }
}

/// Checks a store code: 1–16 characters of `[A-Z0-9-]`.
pub fn validate_store(store: &str) -> Result<(), CodeError> {
    if store.is_empty() || store.len() > 16 {
        return Err(malformed("store code must be 1–16 characters"));
    }
    if !store
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(malformed("store code may only contain A–Z, 0–9 and '-'"));
    }
    Ok(())
}

/// Member code shown on the shopper's phone (short-lived, about 60 s).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberCode {
    /// The member.
    pub member_id: Uuid,
    /// Expiry; encoded in whole seconds (fractions are dropped when signing).
    pub expires_at: DateTime<Utc>,
}

/// Pickup code for an order (does not expire; the order state decides if it is still usable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PickupCode {
    /// The order.
    pub order_id: Uuid,
    /// Six digits that staff can also type in.
    pub short_code: String,
}

impl PickupCode {
    /// A random six-digit short code (`"000000"`–`"999999"`).
    pub fn random_short_code() -> String {
        format!("{:06}", rand::thread_rng().gen_range(0..1_000_000u32))
    }
}

/// Scan-and-go exit pass, verified offline by the exit gate; single use is enforced by the gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExitPass {
    /// The scan-and-go session.
    pub session_id: Uuid,
    /// Store code, e.g. `SH001`.
    pub store: String,
    /// Number of items paid for.
    pub item_count: u32,
    /// Amount paid (non-negative; encoded in fen).
    pub total: Money,
    /// Expiry; encoded in whole seconds.
    pub expires_at: DateTime<Utc>,
    /// The shopper's scan-and-go visit number (1 = the first), counted by the server when it
    /// issued the pass; `None` for passes without it (`EX1`). Drives the gate's "first
    /// scan-and-go visit" audit rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit: Option<u32>,
}

/// Receipt code printed on every receipt, signed by the lane that made the sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceiptCode {
    /// The sale.
    pub sale_id: Uuid,
    /// Store code.
    pub store: String,
    /// The id of the lane key that signed it ([`CodeVerifier::key_id`]); `None` for codes
    /// without one (`RC1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

/// Checks a key id: [`KEY_ID_LEN`] base64url characters.
pub fn validate_key_id(key_id: &str) -> Result<(), CodeError> {
    let ok = key_id.len() == KEY_ID_LEN
        && key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(malformed(format!(
            "key id must be {KEY_ID_LEN} base64url characters"
        )))
    }
}

/// Store code on the entrance poster (unsigned: it only names a public store).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreCode {
    /// Store code, e.g. `SH001`.
    pub store: String,
}

impl StoreCode {
    /// The code text, `ST1.<store>`. Produces an unparsable text if `store` is invalid (see
    /// [`validate_store`]).
    pub fn encode(&self) -> String {
        format!("ST{VERSION}.{}", self.store)
    }
}

/// Any signed code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignedCode {
    /// Member code.
    Member(MemberCode),
    /// Pickup code.
    Pickup(PickupCode),
    /// Exit pass.
    ExitPass(ExitPass),
    /// Receipt code.
    Receipt(ReceiptCode),
}

impl SignedCode {
    /// The kind of this code.
    pub fn kind(&self) -> CodeKind {
        match self {
            SignedCode::Member(_) => CodeKind::Member,
            SignedCode::Pickup(_) => CodeKind::Pickup,
            SignedCode::ExitPass(_) => CodeKind::ExitPass,
            SignedCode::Receipt(_) => CodeKind::Receipt,
        }
    }

    /// Checks that the fields can be encoded so that [`CodeVerifier::verify`] will accept the
    /// signed text: pickup short code of exactly 6 digits, valid store codes, non-negative
    /// exit-pass total, expiry not before 1970.
    pub fn validate(&self) -> Result<(), CodeError> {
        match self {
            SignedCode::Member(m) => check_expiry(m.expires_at),
            SignedCode::Pickup(p) => check_short_code(&p.short_code),
            SignedCode::ExitPass(e) => {
                validate_store(&e.store)?;
                if e.total.is_negative() {
                    return Err(malformed("exit pass total must not be negative"));
                }
                if e.visit.is_some_and(|v| !(1..=MAX_VISIT).contains(&v)) {
                    return Err(malformed(format!(
                        "exit pass visit numbers run from 1 to {MAX_VISIT}"
                    )));
                }
                check_expiry(e.expires_at)
            }
            SignedCode::Receipt(r) => {
                validate_store(&r.store)?;
                r.key_id.as_deref().map_or(Ok(()), validate_key_id)
            }
        }
    }

    /// The signed part of the text (everything before the signature).
    fn payload(&self) -> String {
        let prefix = self.kind().prefix().unwrap_or("");
        let version = match self {
            SignedCode::ExitPass(ExitPass { visit: Some(_), .. }) => EXIT_PASS_VERSION,
            SignedCode::Receipt(ReceiptCode {
                key_id: Some(_), ..
            }) => RECEIPT_VERSION,
            _ => VERSION,
        };
        let fields = match self {
            SignedCode::Member(m) => {
                format!("{}.{}", short_b64(m.member_id), unix_secs(m.expires_at))
            }
            SignedCode::Pickup(p) => format!("{}.{}", short_b64(p.order_id), p.short_code),
            SignedCode::ExitPass(e) => {
                let mut fields = format!(
                    "{}.{}.{}.{}.{}",
                    short_b64(e.session_id),
                    e.store,
                    e.item_count,
                    e.total.fen(),
                    unix_secs(e.expires_at)
                );
                if let Some(visit) = e.visit {
                    fields.push_str(&format!(".{visit}"));
                }
                fields
            }
            SignedCode::Receipt(r) => match &r.key_id {
                Some(key_id) => format!("{}.{}.{key_id}", short_b64(r.sale_id), r.store),
                None => format!("{}.{}", short_b64(r.sale_id), r.store),
            },
        };
        format!("{prefix}{version}.{fields}")
    }

    /// The expiry, for kinds that have one.
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        match self {
            SignedCode::Member(m) => Some(m.expires_at),
            SignedCode::ExitPass(e) => Some(e.expires_at),
            SignedCode::Pickup(_) | SignedCode::Receipt(_) => None,
        }
    }
}

fn unix_secs(at: DateTime<Utc>) -> i64 {
    at.timestamp().max(0)
}

fn check_expiry(at: DateTime<Utc>) -> Result<(), CodeError> {
    if at.timestamp() < 0 {
        Err(malformed("expiry must not be before 1970"))
    } else {
        Ok(())
    }
}

fn check_short_code(code: &str) -> Result<(), CodeError> {
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(malformed("pickup short code must be exactly 6 digits"))
    }
}

/// Parses a canonical non-negative decimal integer (no sign, no leading zeros, ≤ 19 digits).
fn parse_canonical(text: &str, what: &str) -> Result<i64, CodeError> {
    let ok = !text.is_empty()
        && text.len() <= 19
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !ok {
        return Err(malformed(format!("{what} is not a canonical number")));
    }
    text.parse::<i64>()
        .map_err(|_| malformed(format!("{what} is out of range")))
}

fn parse_expiry(text: &str) -> Result<DateTime<Utc>, CodeError> {
    let secs = parse_canonical(text, "expiry")?;
    DateTime::from_timestamp(secs, 0).ok_or_else(|| malformed("expiry is out of range"))
}

fn parse_id(text: &str, what: &str) -> Result<Uuid, CodeError> {
    from_short_b64(text).map_err(|e| malformed(format!("{what}: {e}")))
}

/// Checks length and ASCII, then splits `XXn.rest` into (kind, version, rest); the version must
/// be one this build reads for that kind.
fn split_head(text: &str) -> Result<(CodeKind, &str, &str), CodeError> {
    if text.len() > MAX_CODE_LEN {
        return Err(malformed(format!(
            "code is longer than {MAX_CODE_LEN} characters"
        )));
    }
    if !text.is_ascii() {
        return Err(malformed("code contains non-ASCII characters"));
    }
    let (head, rest) = text
        .split_once('.')
        .ok_or_else(|| malformed("code has no fields"))?;
    let prefix = head.get(..2).ok_or(CodeError::UnknownKind)?;
    let kind = CodeKind::from_prefix(prefix.as_bytes());
    if kind == CodeKind::Unknown {
        return Err(CodeError::UnknownKind);
    }
    let version = head.get(2..).unwrap_or("");
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("code version must be a number"));
    }
    let supported = version == VERSION
        || (kind == CodeKind::ExitPass && version == EXIT_PASS_VERSION)
        || (kind == CodeKind::Receipt && version == RECEIPT_VERSION);
    if !supported {
        return Err(CodeError::UnsupportedVersion);
    }
    Ok((kind, version, rest))
}

/// Parses an unsigned store code `ST1.<store>`.
pub fn parse_store_code(text: &str) -> Result<StoreCode, CodeError> {
    let (kind, _, rest) = split_head(text)?;
    if kind != CodeKind::Store {
        return Err(malformed("not a store code"));
    }
    validate_store(rest)?;
    Ok(StoreCode {
        store: rest.to_string(),
    })
}

/// Holds the Ed25519 private key and signs codes. Lives on the server only.
#[derive(Clone)]
pub struct CodeSigner {
    key: SigningKey,
}

impl std::fmt::Debug for CodeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeSigner")
            .field("public_key", &self.verifier().public_b64())
            .finish_non_exhaustive()
    }
}

impl CodeSigner {
    /// A signer from a 32-byte Ed25519 seed (the private key as stored in configuration).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        CodeSigner {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// A new random key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        CodeSigner {
            key: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// The 32-byte seed, for storing the key. Keep it secret.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The matching verifier (public key) to hand to POS terminals and edge agents.
    pub fn verifier(&self) -> CodeVerifier {
        CodeVerifier {
            key: self.key.verifying_key(),
        }
    }

    /// Signs `code` and returns its text. Fields are not checked: a code whose fields fail
    /// [`SignedCode::validate`] yields a text that verification rejects as malformed; use
    /// [`CodeSigner::try_sign`] to get the error up front.
    pub fn sign(&self, code: &SignedCode) -> String {
        let payload = code.payload();
        let sig = self.key.sign(payload.as_bytes());
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    /// Validates the fields, then signs.
    pub fn try_sign(&self, code: &SignedCode) -> Result<String, CodeError> {
        code.validate()?;
        Ok(self.sign(code))
    }
}

/// Holds the Ed25519 public key and verifies codes offline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeVerifier {
    key: VerifyingKey,
}

impl CodeVerifier {
    /// A verifier from the 32 public-key bytes. Rejects invalid and weak (small-order) keys.
    pub fn from_public_bytes(bytes: &[u8; 32]) -> Result<Self, CodeError> {
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| malformed("not a valid Ed25519 public key"))?;
        if key.is_weak() {
            return Err(malformed("weak Ed25519 public key"));
        }
        Ok(CodeVerifier { key })
    }

    /// A verifier from the public key as base64url without padding (43 characters), the form
    /// produced by [`CodeVerifier::public_b64`].
    pub fn from_public_b64(text: &str) -> Result<Self, CodeError> {
        if text.len() != 43 {
            return Err(malformed(
                "public key must be 43 base64url characters (32 bytes)",
            ));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| malformed("public key is not base64url"))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| malformed("public key must be 32 bytes"))?;
        Self::from_public_bytes(&arr)
    }

    /// The public key as base64url without padding (43 characters).
    pub fn public_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.to_bytes())
    }

    /// The 32 public-key bytes.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// This key's id: the first 6 bytes of the SHA-256 of the 32 public-key bytes, base64url
    /// ([`KEY_ID_LEN`] characters). Receipt codes (`RC2`) carry it to name their signing key.
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.key.to_bytes());
        URL_SAFE_NO_PAD.encode(&digest[..6])
    }

    /// Verifies a signed code text and returns its contents.
    ///
    /// Checks, in order: length ≤ [`MAX_CODE_LEN`] and ASCII; known prefix
    /// ([`CodeError::UnknownKind`]; store codes are unsigned and rejected here — use
    /// [`parse_store_code`]) and version ([`CodeError::UnsupportedVersion`]); field count and
    /// syntax ([`CodeError::Malformed`]); signature ([`CodeError::BadSignature`], also for a
    /// receipt code naming another key id than this key's); finally, for member codes and exit
    /// passes, expiry: `expires_at <= now` is [`CodeError::Expired`].
    pub fn verify(&self, text: &str, now: DateTime<Utc>) -> Result<SignedCode, CodeError> {
        let parsed = parse_signed(text)?;
        if let SignedCode::Receipt(ReceiptCode {
            key_id: Some(key_id),
            ..
        }) = &parsed.code
        {
            if *key_id != self.key_id() {
                return Err(CodeError::BadSignature);
            }
        }
        self.check_signature(&parsed)?;
        if let Some(expires_at) = parsed.code.expires_at() {
            if expires_at <= now {
                return Err(CodeError::Expired);
            }
        }
        Ok(parsed.code)
    }

    fn check_signature(&self, parsed: &ParsedCode<'_>) -> Result<(), CodeError> {
        self.key
            .verify_strict(parsed.payload.as_bytes(), &parsed.signature)
            .map_err(|_| CodeError::BadSignature)
    }
}

/// A signed code read but not verified yet: its contents, the signed text and the signature.
struct ParsedCode<'a> {
    code: SignedCode,
    payload: &'a str,
    signature: Signature,
}

/// Reads a signed code's fields and signature without checking the signature.
fn parse_signed(text: &str) -> Result<ParsedCode<'_>, CodeError> {
    let (kind, version, _) = split_head(text)?;
    let fields: Vec<&str> = text.split('.').collect();
    let expected = match kind {
        CodeKind::Receipt if version == RECEIPT_VERSION => 5,
        CodeKind::Member | CodeKind::Pickup | CodeKind::Receipt => 4,
        CodeKind::ExitPass if version == EXIT_PASS_VERSION => 8,
        CodeKind::ExitPass => 7,
        CodeKind::Store => {
            return Err(malformed(
                "store codes are not signed; use parse_store_code",
            ))
        }
        CodeKind::Unknown => return Err(CodeError::UnknownKind),
    };
    if fields.len() != expected {
        return Err(malformed(format!(
            "expected {expected} fields, found {}",
            fields.len()
        )));
    }
    let field = |i: usize| fields.get(i).copied().unwrap_or("");
    let code = match kind {
        CodeKind::Member => SignedCode::Member(MemberCode {
            member_id: parse_id(field(1), "member id")?,
            expires_at: parse_expiry(field(2))?,
        }),
        CodeKind::Pickup => {
            let short_code = field(2);
            check_short_code(short_code)?;
            SignedCode::Pickup(PickupCode {
                order_id: parse_id(field(1), "order id")?,
                short_code: short_code.to_string(),
            })
        }
        CodeKind::ExitPass => {
            let store = field(2);
            validate_store(store)?;
            let count = parse_canonical(field(3), "item count")?;
            let item_count =
                u32::try_from(count).map_err(|_| malformed("item count is out of range"))?;
            SignedCode::ExitPass(ExitPass {
                session_id: parse_id(field(1), "session id")?,
                store: store.to_string(),
                item_count,
                total: Money::from_fen(parse_canonical(field(4), "total")?),
                expires_at: parse_expiry(field(5))?,
                visit: if version == EXIT_PASS_VERSION {
                    let visit = parse_canonical(field(6), "visit")?;
                    match u32::try_from(visit) {
                        Ok(v) if (1..=MAX_VISIT).contains(&v) => Some(v),
                        _ => return Err(malformed("visit is out of range")),
                    }
                } else {
                    None
                },
            })
        }
        _ => {
            let store = field(2);
            validate_store(store)?;
            let key_id = if version == RECEIPT_VERSION {
                validate_key_id(field(3))?;
                Some(field(3).to_string())
            } else {
                None
            };
            SignedCode::Receipt(ReceiptCode {
                sale_id: parse_id(field(1), "sale id")?,
                store: store.to_string(),
                key_id,
            })
        }
    };

    let (payload, sig_text) = text
        .rsplit_once('.')
        .ok_or_else(|| malformed("missing signature"))?;
    if sig_text.len() != SIG_B64_LEN {
        return Err(malformed("signature has the wrong length"));
    }
    let sig_bytes: [u8; 64] = URL_SAFE_NO_PAD
        .decode(sig_text)
        .map_err(|_| malformed("signature is not base64url"))?
        .try_into()
        .map_err(|_| malformed("signature must be 64 bytes"))?;
    Ok(ParsedCode {
        code,
        payload,
        signature: Signature::from_bytes(&sig_bytes),
    })
}

/// Reads a receipt code's fields (sale, store, key id) **without** checking its signature, to
/// find the keys that may have signed it; verify with [`verify_receipt_code`] before trusting it.
pub fn read_receipt_code(text: &str) -> Result<ReceiptCode, CodeError> {
    match parse_signed(text)?.code {
        SignedCode::Receipt(code) => Ok(code),
        _ => Err(malformed("not a receipt code")),
    }
}

/// Verifies a receipt code against candidate keys (e.g. every registered key of its store, or
/// the one its key id names): the first key whose signature matches, with the code. Receipt
/// codes never expire. [`CodeError::BadSignature`] when none of them signed it.
pub fn verify_receipt_code<'k>(
    text: &str,
    keys: impl IntoIterator<Item = &'k CodeVerifier>,
) -> Result<(ReceiptCode, &'k CodeVerifier), CodeError> {
    let parsed = parse_signed(text)?;
    let SignedCode::Receipt(code) = &parsed.code else {
        return Err(malformed("not a receipt code"));
    };
    for key in keys {
        if code.key_id.as_ref().is_some_and(|id| *id != key.key_id()) {
            continue;
        }
        if key.check_signature(&parsed).is_ok() {
            return Ok((code.clone(), key));
        }
    }
    Err(CodeError::BadSignature)
}

impl CodeSigner {
    /// Signs the receipt code of a sale with this (lane) key: `RC2`, carrying the key's id.
    pub fn sign_receipt(&self, sale_id: Uuid, store: &str) -> Result<String, CodeError> {
        self.try_sign(&SignedCode::Receipt(ReceiptCode {
            sale_id,
            store: store.to_owned(),
            key_id: Some(self.verifier().key_id()),
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ids::new_id;
    use chrono::Duration;
    use proptest::prelude::*;

    fn signer() -> CodeSigner {
        CodeSigner::from_seed(&[7u8; 32])
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    const NOW: i64 = 1_790_000_000;

    fn samples() -> Vec<SignedCode> {
        vec![
            SignedCode::Member(MemberCode {
                member_id: new_id(),
                expires_at: t(NOW + 60),
            }),
            SignedCode::Pickup(PickupCode {
                order_id: new_id(),
                short_code: "042917".into(),
            }),
            SignedCode::ExitPass(ExitPass {
                session_id: new_id(),
                store: "SH001".into(),
                item_count: 7,
                total: Money::from_fen(12_850),
                expires_at: t(NOW + 600),
                visit: None,
            }),
            SignedCode::ExitPass(ExitPass {
                session_id: new_id(),
                store: "SH001".into(),
                item_count: 2,
                total: Money::from_fen(990),
                expires_at: t(NOW + 600),
                visit: Some(1),
            }),
            SignedCode::Receipt(ReceiptCode {
                sale_id: new_id(),
                store: "BJ-02".into(),
                key_id: None,
            }),
            SignedCode::Receipt(ReceiptCode {
                sale_id: new_id(),
                store: "SH001".into(),
                key_id: Some(signer().verifier().key_id()),
            }),
        ]
    }

    #[test]
    fn roundtrip_all_kinds() {
        let s = signer();
        let v = s.verifier();
        for code in samples() {
            let text = s.try_sign(&code).unwrap();
            assert_eq!(classify(&text), code.kind());
            assert_eq!(v.verify(&text, t(NOW)).unwrap(), code, "{text}");
        }
    }

    #[test]
    fn text_shape() {
        let s = signer();
        let id = new_id();
        let text = s.sign(&SignedCode::Member(MemberCode {
            member_id: id,
            expires_at: t(NOW),
        }));
        let parts: Vec<&str> = text.split('.').collect();
        assert_eq!(parts[0], "MC1");
        assert_eq!(parts[1], short_b64(id));
        assert_eq!(parts[2], NOW.to_string());
        assert_eq!(parts[3].len(), SIG_B64_LEN);
    }

    #[test]
    fn codes_fit_small_qr() {
        let s = signer();
        let member = s.sign(&SignedCode::Member(MemberCode {
            member_id: new_id(),
            expires_at: t(NOW),
        }));
        assert!(member.len() <= 180, "{}", member.len());
        // Worst case exit pass: longest store, largest count and total.
        let exit = s.sign(&SignedCode::ExitPass(ExitPass {
            session_id: new_id(),
            store: "ABCDEFGHIJKLMNOP".into(),
            item_count: u32::MAX,
            total: Money::from_fen(i64::MAX),
            expires_at: t(9_999_999_999),
            visit: Some(MAX_VISIT),
        }));
        assert!(exit.len() <= 180, "{}", exit.len());
        assert!(s.verifier().verify(&exit, t(NOW)).is_ok());
        // Worst case receipt code: the longest store and a key id.
        let receipt = s.sign_receipt(new_id(), "ABCDEFGHIJKLMNOP").unwrap();
        assert!(receipt.len() <= 140, "{}", receipt.len());
        assert!(s.verifier().verify(&receipt, t(NOW)).is_ok());
    }

    #[test]
    fn receipt_code_versions() {
        let s = signer();
        let v = s.verifier();
        let sale = new_id();
        // A lane signs version 2: its key id is in the code and signed with the rest.
        let v2 = s.sign_receipt(sale, "SH001").unwrap();
        let parts: Vec<&str> = v2.split('.').collect();
        assert_eq!(parts.len(), 5, "{v2}");
        assert_eq!(
            (parts[0], parts[2], parts[3]),
            ("RC2", "SH001", v.key_id().as_str())
        );
        assert_eq!(v.key_id().len(), KEY_ID_LEN);
        let read = read_receipt_code(&v2).unwrap();
        assert_eq!(
            (read.sale_id, read.key_id.as_deref()),
            (sale, Some(parts[3]))
        );
        assert!(matches!(v.verify(&v2, t(NOW)), Ok(SignedCode::Receipt(r)) if r == read));
        // Another key id in the text: not this key's code (and the signature breaks too).
        let other = CodeSigner::from_seed(&[9u8; 32]);
        let mut relabelled = parts.clone();
        let other_id = other.verifier().key_id();
        relabelled[3] = &other_id;
        assert_eq!(
            v.verify(&relabelled.join("."), t(NOW)),
            Err(CodeError::BadSignature)
        );
        // Version 1 (no key id) is still read and verified.
        let v1 = s.sign(&SignedCode::Receipt(ReceiptCode {
            sale_id: sale,
            store: "SH001".into(),
            key_id: None,
        }));
        assert!(v1.starts_with("RC1."), "{v1}");
        assert!(matches!(v.verify(&v1, t(NOW)), Ok(SignedCode::Receipt(r)) if r.key_id.is_none()));
        // Relabelling versions or dropping the key id: refused.
        assert!(v.verify(&format!("RC1{}", &v2[3..]), t(NOW)).is_err());
        assert!(v.verify(&format!("RC2{}", &v1[3..]), t(NOW)).is_err());
        assert_eq!(
            v.verify(&format!("RC3{}", &v2[3..]), t(NOW)),
            Err(CodeError::UnsupportedVersion)
        );
        // Bad key ids are refused at signing and reading.
        let bad = SignedCode::Receipt(ReceiptCode {
            sale_id: sale,
            store: "SH001".into(),
            key_id: Some("short".into()),
        });
        assert!(s.try_sign(&bad).is_err());
        assert!(read_receipt_code(&s.sign(&bad)).is_err());
        // Several candidate keys: the one that signed it is found; none: bad signature.
        let keys = [other.verifier(), v.clone()];
        let (code, key) = verify_receipt_code(&v2, &keys).unwrap();
        assert_eq!((code.sale_id, key), (sale, &v));
        let (_, key) = verify_receipt_code(&v1, &keys).unwrap();
        assert_eq!(key, &v);
        assert_eq!(
            verify_receipt_code(&v2, &[other.verifier()]).map(|_| ()),
            Err(CodeError::BadSignature)
        );
        assert!(verify_receipt_code("MC1.a.b.c", &keys).is_err());
        let member = s.sign(&samples()[0]);
        assert!(matches!(
            verify_receipt_code(&member, &keys),
            Err(CodeError::Malformed(_))
        ));
    }

    #[test]
    fn expiry() {
        let s = signer();
        let v = s.verifier();
        let code = SignedCode::Member(MemberCode {
            member_id: new_id(),
            expires_at: t(NOW + 60),
        });
        let text = s.sign(&code);
        assert!(v.verify(&text, t(NOW + 59)).is_ok());
        assert_eq!(v.verify(&text, t(NOW + 60)), Err(CodeError::Expired));
        assert_eq!(v.verify(&text, t(NOW + 3600)), Err(CodeError::Expired));
        // Fractions of a second are dropped (expires slightly earlier, never later).
        let frac = SignedCode::Member(MemberCode {
            member_id: new_id(),
            expires_at: t(NOW + 60) + Duration::milliseconds(900),
        });
        match v.verify(&s.sign(&frac), t(NOW)).unwrap() {
            SignedCode::Member(m) => assert_eq!(m.expires_at, t(NOW + 60)),
            other => panic!("{other:?}"),
        }
        // Pickup and receipt codes never expire.
        let pickup = s.sign(&samples()[1]);
        assert!(v.verify(&pickup, t(i64::from(i32::MAX) * 100)).is_ok());
    }

    #[test]
    fn signature_checked_before_expiry() {
        let s = signer();
        let other = CodeSigner::from_seed(&[8u8; 32]);
        let text = other.sign(&SignedCode::Member(MemberCode {
            member_id: new_id(),
            expires_at: t(NOW - 10),
        }));
        assert_eq!(
            s.verifier().verify(&text, t(NOW)),
            Err(CodeError::BadSignature)
        );
    }

    #[test]
    fn wrong_key_and_cross_kind() {
        let s = signer();
        let other = CodeSigner::generate();
        for code in samples() {
            let text = other.sign(&code);
            assert_eq!(
                s.verifier().verify(&text, t(NOW)),
                Err(CodeError::BadSignature)
            );
        }
        // Re-labelling a receipt as a pickup code does not verify.
        let receipt = s.sign(&SignedCode::Receipt(ReceiptCode {
            sale_id: new_id(),
            store: "123456".into(),
            key_id: None,
        }));
        let relabelled = format!("PK{}", &receipt[2..]);
        assert_eq!(
            s.verifier().verify(&relabelled, t(NOW)),
            Err(CodeError::BadSignature)
        );
    }

    #[test]
    fn error_kinds() {
        let v = signer().verifier();
        let now = t(NOW);
        assert_eq!(v.verify("XX1.abc.def", now), Err(CodeError::UnknownKind));
        assert_eq!(
            v.verify("4006381333931", now),
            Err(CodeError::Malformed("code has no fields".into()))
        );
        assert_eq!(v.verify("M.x", now), Err(CodeError::UnknownKind));
        assert_eq!(
            v.verify("MC2.a.b.c", now),
            Err(CodeError::UnsupportedVersion)
        );
        assert!(matches!(
            v.verify("MCx.a.b.c", now),
            Err(CodeError::Malformed(_))
        ));
        assert!(matches!(
            v.verify("MC.a.b.c", now),
            Err(CodeError::Malformed(_))
        ));
        assert!(matches!(
            v.verify("MC1.a.b", now),
            Err(CodeError::Malformed(_))
        ));
        assert!(matches!(
            v.verify("ST1.SH001", now),
            Err(CodeError::Malformed(_))
        ));
        assert!(matches!(v.verify("", now), Err(CodeError::Malformed(_))));
        assert!(matches!(
            v.verify(&"MC1.".repeat(200), now),
            Err(CodeError::Malformed(_))
        ));
        assert!(matches!(
            v.verify("MC1.é.b.c", now),
            Err(CodeError::Malformed(_))
        ));
        // Non-canonical numbers.
        let s = signer();
        let text = s.sign(&samples()[0]);
        let parts: Vec<&str> = text.split('.').collect();
        let padded = format!("{}.{}.0{}.{}", parts[0], parts[1], parts[2], parts[3]);
        assert!(matches!(
            v.verify(&padded, now),
            Err(CodeError::Malformed(_))
        ));
    }

    #[test]
    fn exit_pass_versions() {
        let s = signer();
        let v = s.verifier();
        let pass = |visit| ExitPass {
            session_id: new_id(),
            store: "SH001".into(),
            item_count: 3,
            total: Money::from_fen(4_250),
            expires_at: t(NOW + 600),
            visit,
        };
        // Without a visit: the version 1 form, still read.
        let v1 = s.sign(&SignedCode::ExitPass(pass(None)));
        assert!(v1.starts_with("EX1."), "{v1}");
        assert_eq!(v1.split('.').count(), 7);
        assert!(matches!(v.verify(&v1, t(NOW)), Ok(SignedCode::ExitPass(p)) if p.visit.is_none()));
        // With a visit: version 2, one more field, signed with the rest.
        let v2 = s.sign(&SignedCode::ExitPass(pass(Some(1))));
        assert!(v2.starts_with("EX2."), "{v2}");
        let parts: Vec<&str> = v2.split('.').collect();
        assert_eq!((parts.len(), parts[6]), (8, "1"));
        assert!(matches!(v.verify(&v2, t(NOW)), Ok(SignedCode::ExitPass(p)) if p.visit == Some(1)));
        // Changing the visit (a shopper hiding a first visit) breaks the signature.
        let mut forged = parts.clone();
        forged[6] = "7";
        assert_eq!(
            v.verify(&forged.join("."), t(NOW)),
            Err(CodeError::BadSignature)
        );
        // Dropping the visit from a version 2 pass, or relabelling versions: refused.
        let mut short = parts.clone();
        short.remove(6);
        assert!(matches!(
            v.verify(&short.join("."), t(NOW)),
            Err(CodeError::Malformed(_))
        ));
        assert!(v.verify(&format!("EX1{}", &v2[3..]), t(NOW)).is_err());
        assert_eq!(
            v.verify(&format!("EX3{}", &v2[3..]), t(NOW)),
            Err(CodeError::UnsupportedVersion)
        );
        // Version 2 exists for exit passes only.
        assert_eq!(
            v.verify("MC2.a.b.c", t(NOW)),
            Err(CodeError::UnsupportedVersion)
        );
        // Visits run from 1 to MAX_VISIT.
        assert!(s.try_sign(&SignedCode::ExitPass(pass(Some(0)))).is_err());
        assert!(s
            .try_sign(&SignedCode::ExitPass(pass(Some(MAX_VISIT + 1))))
            .is_err());
        for bad in [0, MAX_VISIT + 1] {
            assert!(matches!(
                v.verify(&s.sign(&SignedCode::ExitPass(pass(Some(bad)))), t(NOW)),
                Err(CodeError::Malformed(_))
            ));
        }
    }

    #[test]
    fn invalid_fields_rejected_at_signing() {
        let s = signer();
        let bad_pickup = SignedCode::Pickup(PickupCode {
            order_id: new_id(),
            short_code: "12345".into(),
        });
        assert!(s.try_sign(&bad_pickup).is_err());
        assert!(matches!(
            s.verifier().verify(&s.sign(&bad_pickup), t(NOW)),
            Err(CodeError::Malformed(_))
        ));
        let bad_store = SignedCode::Receipt(ReceiptCode {
            sale_id: new_id(),
            store: "sh.001".into(),
            key_id: None,
        });
        assert!(s.try_sign(&bad_store).is_err());
        assert!(s.verifier().verify(&s.sign(&bad_store), t(NOW)).is_err());
        let negative = SignedCode::ExitPass(ExitPass {
            session_id: new_id(),
            store: "SH001".into(),
            item_count: 1,
            total: Money::from_fen(-1),
            expires_at: t(NOW + 60),
            visit: None,
        });
        assert!(s.try_sign(&negative).is_err());
        assert!(s.verifier().verify(&s.sign(&negative), t(NOW)).is_err());
        let old = SignedCode::Member(MemberCode {
            member_id: new_id(),
            expires_at: t(-5),
        });
        assert!(s.try_sign(&old).is_err());
        assert_eq!(
            s.verifier().verify(&s.sign(&old), t(NOW)),
            Err(CodeError::Expired)
        );
    }

    #[test]
    fn store_codes() {
        let text = StoreCode {
            store: "SH001".into(),
        }
        .encode();
        assert_eq!(text, "ST1.SH001");
        assert_eq!(classify(&text), CodeKind::Store);
        assert_eq!(parse_store_code(&text).unwrap().store, "SH001");
        assert!(parse_store_code("ST1.sh001").is_err());
        assert!(parse_store_code("ST1.").is_err());
        assert!(parse_store_code("ST1.ABCDEFGHIJKLMNOPQ").is_err());
        assert!(parse_store_code("ST1.SH.001").is_err());
        assert_eq!(
            parse_store_code("ST2.SH001"),
            Err(CodeError::UnsupportedVersion)
        );
        assert!(parse_store_code("MC1.SH001").is_err());
        assert_eq!(parse_store_code("ZZ1.SH001"), Err(CodeError::UnknownKind));
        assert!(validate_store("A-1").is_ok());
    }

    #[test]
    fn classify_by_prefix() {
        assert_eq!(classify("MC1.whatever"), CodeKind::Member);
        assert_eq!(classify("PK1"), CodeKind::Pickup);
        assert_eq!(classify("EX2.x"), CodeKind::ExitPass);
        assert_eq!(classify("RC1."), CodeKind::Receipt);
        assert_eq!(classify("ST1.SH001"), CodeKind::Store);
        assert_eq!(classify("MC"), CodeKind::Unknown);
        assert_eq!(classify("MCX"), CodeKind::Unknown);
        assert_eq!(classify("4006381333931"), CodeKind::Unknown);
        assert_eq!(classify(""), CodeKind::Unknown);
        assert_eq!(classify("é1"), CodeKind::Unknown);
    }

    #[test]
    fn keys() {
        let s = CodeSigner::generate();
        let again = CodeSigner::from_seed(&s.seed());
        assert_eq!(again.verifier(), s.verifier());
        let b64 = s.verifier().public_b64();
        assert_eq!(b64.len(), 43);
        assert_eq!(CodeVerifier::from_public_b64(&b64).unwrap(), s.verifier());
        assert_eq!(
            CodeVerifier::from_public_bytes(&s.verifier().public_bytes()).unwrap(),
            s.verifier()
        );
        assert!(CodeVerifier::from_public_b64("short").is_err());
        assert!(CodeVerifier::from_public_b64(&"!".repeat(43)).is_err());
        // The identity point is a weak key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(CodeVerifier::from_public_bytes(&identity).is_err());
        let dbg = format!("{s:?}");
        assert!(dbg.contains(&b64));
        assert!(!dbg.contains(&format!("{:?}", s.seed())));
    }

    #[test]
    fn random_short_codes() {
        for _ in 0..100 {
            let c = PickupCode::random_short_code();
            assert!(check_short_code(&c).is_ok(), "{c}");
        }
    }

    #[test]
    fn serde_of_signed_code() {
        let code = &samples()[2];
        let json = serde_json::to_value(code).unwrap();
        assert_eq!(json["kind"], "exit_pass");
        assert_eq!(json["total"], "128.50");
        let back: SignedCode = serde_json::from_value(json).unwrap();
        assert_eq!(&back, code);
    }

    fn arb_code() -> impl Strategy<Value = SignedCode> {
        let id = any::<u128>().prop_map(Uuid::from_u128);
        let exp = (NOW + 1..NOW + 100_000).prop_map(t);
        let store = "[A-Z0-9-]{1,16}";
        prop_oneof![
            (id.clone(), exp.clone()).prop_map(|(member_id, expires_at)| {
                SignedCode::Member(MemberCode {
                    member_id,
                    expires_at,
                })
            }),
            (id.clone(), "[0-9]{6}").prop_map(|(order_id, short_code)| {
                SignedCode::Pickup(PickupCode {
                    order_id,
                    short_code,
                })
            }),
            (id.clone(), store, any::<u32>(), 0i64..i64::MAX, exp).prop_map(
                |(session_id, store, item_count, fen, expires_at)| {
                    SignedCode::ExitPass(ExitPass {
                        session_id,
                        store,
                        item_count,
                        total: Money::from_fen(fen),
                        expires_at,
                        visit: (item_count % 3 != 0).then_some(item_count % MAX_VISIT + 1),
                    })
                }
            ),
            (id, store, any::<bool>()).prop_map(|(sale_id, store, with_key)| {
                SignedCode::Receipt(ReceiptCode {
                    sale_id,
                    store,
                    key_id: with_key.then(|| signer().verifier().key_id()),
                })
            }),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_verifies(s in ".{0,600}") {
            let v = signer().verifier();
            prop_assert!(v.verify(&s, t(NOW)).is_err());
            let _ = parse_store_code(&s);
            let _ = classify(&s);
        }

        #[test]
        fn structured_garbage_never_verifies(s in "(MC|PK|EX|RC|ST)[0-9](\\.[A-Za-z0-9_-]{0,30}){0,8}") {
            let v = signer().verifier();
            prop_assert!(v.verify(&s, t(NOW)).is_err());
            let _ = parse_store_code(&s);
        }

        #[test]
        fn valid_codes_roundtrip(code in arb_code()) {
            let s = signer();
            let text = s.try_sign(&code).unwrap();
            prop_assert!(text.len() <= 180);
            prop_assert_eq!(s.verifier().verify(&text, t(NOW)).unwrap(), code);
        }

        #[test]
        fn any_single_char_change_is_rejected(code in arb_code(), pos in any::<prop::sample::Index>(), c in 0x20u8..0x7f) {
            let s = signer();
            let text = s.sign(&code);
            let i = pos.index(text.len());
            let mut bytes = text.clone().into_bytes();
            prop_assume!(bytes[i] != c);
            bytes[i] = c;
            let mutated = String::from_utf8(bytes).unwrap();
            prop_assert!(s.verifier().verify(&mutated, t(NOW)).is_err(), "{} accepted", mutated);
        }

        /// Every reader of code texts an attacker can print or type (a scanned QR, a typed
        /// receipt code, a key fetched from the network) answers any text without panicking.
        #[test]
        fn readers_never_panic_on_any_text(s in any::<String>()) {
            let v = signer().verifier();
            prop_assert!(v.verify(&s, t(NOW)).is_err());
            prop_assert!(verify_receipt_code(&s, [&v]).is_err());
            let _ = read_receipt_code(&s);
            let _ = parse_store_code(&s);
            let _ = classify(&s);
            let _ = validate_store(&s);
            let _ = validate_key_id(&s);
            let _ = CodeVerifier::from_public_b64(&s);
        }

        /// The same for texts shaped like codes: a known head, then fields of the alphabet
        /// codes use, so the parsers get past the prefix and version checks.
        #[test]
        fn readers_never_panic_on_code_shaped_text(s in "(MC|PK|EX|RC|ST)[0-9]{1,3}(\\.[A-Za-z0-9_=+/-]{0,90}){0,9}") {
            let v = signer().verifier();
            let _ = v.verify(&s, t(NOW));
            let _ = verify_receipt_code(&s, [&v]);
            let _ = read_receipt_code(&s);
            let _ = parse_store_code(&s);
        }

        #[test]
        fn verifier_keys_roundtrip(seed in any::<[u8; 32]>()) {
            let v = CodeSigner::from_seed(&seed).verifier();
            prop_assert_eq!(CodeVerifier::from_public_b64(&v.public_b64()).unwrap(), v.clone());
            prop_assert_eq!(CodeVerifier::from_public_bytes(&v.public_bytes()).unwrap(), v.clone());
            prop_assert!(validate_key_id(&v.key_id()).is_ok());
        }

        #[test]
        fn store_codes_roundtrip(store in "[A-Z0-9-]{1,16}") {
            let code = StoreCode { store };
            prop_assert_eq!(parse_store_code(&code.encode()).unwrap(), code.clone());
            prop_assert_eq!(classify(&code.encode()), CodeKind::Store);
        }

        #[test]
        fn receipt_codes_roundtrip(sale in any::<u128>(), store in "[A-Z0-9-]{1,16}", seed in any::<[u8; 32]>()) {
            let lane = CodeSigner::from_seed(&seed);
            let sale_id = Uuid::from_u128(sale);
            let text = lane.sign_receipt(sale_id, &store).unwrap();
            let read = read_receipt_code(&text).unwrap();
            prop_assert_eq!(read.sale_id, sale_id);
            prop_assert_eq!(&read.store, &store);
            let other = signer().verifier();
            let mine = lane.verifier();
            let (code, key) = verify_receipt_code(&text, [&other, &mine]).unwrap();
            prop_assert_eq!(code, read);
            prop_assert_eq!(key, &mine);
            prop_assert!(verify_receipt_code(&text, [&other]).is_err());
        }

        #[test]
        fn truncation_or_extension_is_rejected(code in arb_code(), cut in any::<prop::sample::Index>(), extra in "[A-Za-z0-9._-]{1,4}") {
            let s = signer();
            let text = s.sign(&code);
            let i = cut.index(text.len());
            prop_assert!(s.verifier().verify(&text[..i], t(NOW)).is_err());
            let extended = format!("{text}{extra}");
            prop_assert!(s.verifier().verify(&extended, t(NOW)).is_err());
        }
    }
}
