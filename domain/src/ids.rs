//! Identifiers.
//!
//! Every record a client creates (orders, sales, payments, …) carries a client-generated UUIDv7
//! (docs/DESIGN.md §4, "Identifiers"), so that a retry is an upsert and never a duplicate. This module
//! creates and checks those ids, converts them to the compact 22-character base64url form used
//! inside QR codes, and derives the separate human-facing order numbers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, TimeZone, Timelike};
use uuid::Uuid;

/// Errors from checking or decoding identifiers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is the nil UUID (all zeros).
    #[error("id must not be the nil UUID")]
    Nil,
    /// The id is a UUID but not version 7.
    #[error("id must be a UUIDv7, got a version {0} UUID")]
    NotV7(usize),
    /// The text is not a UUID at all.
    #[error("malformed id: {0}")]
    Malformed(String),
}

/// A fresh UUIDv7 (time-ordered, 74 bits of randomness/counter).
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Returns `id` if it is a non-nil version-7 UUID, the only kind clients may create.
pub fn require_v7(id: Uuid) -> Result<Uuid, IdError> {
    if id.is_nil() {
        return Err(IdError::Nil);
    }
    match id.get_version_num() {
        7 => Ok(id),
        v => Err(IdError::NotV7(v)),
    }
}

/// Parses a client-supplied id (any standard UUID text form, normally the hyphenated
/// `0190b5e4-…`) and requires it to be a UUIDv7.
pub fn parse_client_id(text: &str) -> Result<Uuid, IdError> {
    if text.len() > 45 {
        return Err(IdError::Malformed("id text is too long for a UUID".into()));
    }
    let id = Uuid::try_parse(text)
        .map_err(|e| IdError::Malformed(format!("{text:?} is not a UUID: {e}")))?;
    require_v7(id)
}

/// The 16 bytes of `id` as unpadded base64url: always 22 characters of `[A-Za-z0-9_-]`.
pub fn short_b64(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Inverse of [`short_b64`]. Only the canonical 22-character encoding is accepted (non-zero
/// trailing bits are rejected), so every UUID has exactly one short form. Does not require v7.
pub fn from_short_b64(text: &str) -> Result<Uuid, IdError> {
    if text.len() != 22 {
        return Err(IdError::Malformed(format!(
            "short id must be 22 base64url characters, got {}",
            text.len()
        )));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| IdError::Malformed(format!("short id is not base64url: {e}")))?;
    let arr: [u8; 16] = bytes
        .try_into()
        .map_err(|_| IdError::Malformed("short id does not decode to 16 bytes".into()))?;
    Ok(Uuid::from_bytes(arr))
}

/// Crockford base32 alphabet (no I, L, O, U).
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Number of base32 characters in the order number suffix (8 × 5 = 40 bits: 17 bits of the
/// second of the day, 23 bits derived from the id).
const SUFFIX_LEN: usize = 8;

/// Human-facing order number: `prefix` + `YYYYMMDD` + `-` + 8 Crockford base32 characters,
/// e.g. `P20261123-1Q2V7XK3`.
///
/// The date is the calendar date of `at` **in its own time zone**: pass a `DateTime<Utc>` for
/// the UTC date, or e.g. `at.with_timezone(&FixedOffset::east_opt(8 * 3600)?)` to number by the
/// China-standard-time date. The suffix starts with the second of the day of `at` (17 bits), so
/// numbers sort by time within a day and a busy database inserts them next to each other (a
/// random suffix would dirty a random index page per order); the other 23 bits are derived
/// deterministically from the random bits of `id` (so the same order always gets the same
/// number). Attempt 0 of [`order_number_attempt`].
///
/// **Collisions.** Only orders with the same prefix and the same second can collide. With `n`
/// such orders the chance that *any* two share a suffix is about `n² / 2²⁴`: negligible at a few
/// orders a second, a handful of pairs a second in a 10,000-orders-a-second flash sale. The
/// server stores the number `UNIQUE` and resolves a collision with [`order_number_attempt`] and
/// attempt 1, 2, …, which yield different, still deterministic suffixes.
pub fn order_number<Tz: TimeZone>(prefix: &str, at: DateTime<Tz>, id: Uuid) -> String
where
    Tz::Offset: std::fmt::Display,
{
    order_number_attempt(prefix, at, id, 0)
}

/// Like [`order_number`], but `attempt` selects an alternative suffix for the same id, for
/// resolving the (rare) unique-constraint collisions. Attempt 0 equals [`order_number`].
pub fn order_number_attempt<Tz: TimeZone>(
    prefix: &str,
    at: DateTime<Tz>,
    id: Uuid,
    attempt: u32,
) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let second = u64::from(at.num_seconds_from_midnight()) & 0x1_ffff;
    let bits = (second << 23) | (suffix_bits(id, attempt) & 0x7f_ffff);
    let mut out = String::with_capacity(prefix.len() + 8 + 1 + SUFFIX_LEN);
    out.push_str(prefix);
    out.push_str(&at.format("%Y%m%d").to_string());
    out.push('-');
    for i in (0..SUFFIX_LEN).rev() {
        let idx = ((bits >> (5 * i)) & 0x1f) as usize;
        out.push(char::from(CROCKFORD[idx]));
    }
    out
}

/// 30 bits mixed from the 62 random bits of the UUID's `rand_b` field (bytes 8–15 without the
/// variant bits) and the attempt number, through the SplitMix64 finaliser.
fn suffix_bits(id: Uuid, attempt: u32) -> u64 {
    let b = id.as_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&b[8..16]);
    let rand_b = u64::from_be_bytes(low) & 0x3fff_ffff_ffff_ffff;
    let mut z = rand_b ^ u64::from(attempt).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    z >> 34
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn new_ids_are_v7_and_ordered() {
        let a = new_id();
        let b = new_id();
        assert_eq!(require_v7(a), Ok(a));
        assert!(a < b);
    }

    #[test]
    fn require_v7_rejects_nil_and_other_versions() {
        assert_eq!(require_v7(Uuid::nil()), Err(IdError::Nil));
        let v4 = Uuid::from_u128(0x6f1c_2a40_7b3e_4c6d_9e8f_0a1b_2c3d_4e5f);
        assert_eq!(require_v7(v4), Err(IdError::NotV7(4)));
        assert!(require_v7(v4)
            .unwrap_err()
            .to_string()
            .contains("version 4"));
    }

    #[test]
    fn parse_client_id_works() {
        let id = new_id();
        assert_eq!(parse_client_id(&id.to_string()), Ok(id));
        assert_eq!(parse_client_id(&id.simple().to_string()), Ok(id));
        assert!(matches!(
            parse_client_id("nope"),
            Err(IdError::Malformed(_))
        ));
        assert!(matches!(parse_client_id(""), Err(IdError::Malformed(_))));
        assert_eq!(
            parse_client_id("00000000-0000-0000-0000-000000000000"),
            Err(IdError::Nil)
        );
        assert_eq!(
            parse_client_id("6f1c2a40-7b3e-4c6d-9e8f-0a1b2c3d4e5f"),
            Err(IdError::NotV7(4))
        );
        assert!(parse_client_id(&"a".repeat(1000)).is_err());
    }

    #[test]
    fn short_b64_roundtrip_and_strictness() {
        let id = new_id();
        let s = short_b64(id);
        assert_eq!(s.len(), 22);
        assert!(s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(from_short_b64(&s), Ok(id));
        assert!(from_short_b64("").is_err());
        assert!(from_short_b64(&format!("{s}=")).is_err());
        assert!(from_short_b64("!!!!!!!!!!!!!!!!!!!!!!").is_err());
        // Non-canonical trailing bits: last char of a 16-byte encoding carries 4 unused bits.
        let nil = short_b64(Uuid::nil());
        assert_eq!(nil, "AAAAAAAAAAAAAAAAAAAAAA");
        assert!(from_short_b64("AAAAAAAAAAAAAAAAAAAAAB").is_err());
    }

    #[test]
    fn order_number_format() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-23T17:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let id = new_id();
        let n = order_number("P", at, id);
        assert_eq!(n.len(), 1 + 8 + 1 + 8);
        assert!(n.starts_with("P20261123-"), "{n}");
        let suffix = &n[10..];
        assert!(suffix.bytes().all(|b| CROCKFORD.contains(&b)));
        // Deterministic.
        assert_eq!(order_number("P", at, id), n);
        assert_eq!(order_number_attempt("P", at, id, 0), n);
        assert_ne!(order_number_attempt("P", at, id, 1), n);
        // Local date: 17:30 UTC is already the 24th in China.
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        let local = order_number("S", at.with_timezone(&cst), id);
        assert!(local.starts_with("S20261124-"), "{local}");
        // The suffix starts with the local second of the day, so numbers sort by time.
        let later = order_number("P", at + chrono::Duration::seconds(1), new_id());
        assert!(later > n, "{later} should sort after {n}");
    }

    #[test]
    fn order_number_suffixes_spread() {
        let at = Utc::now();
        let n = 2000;
        let set: HashSet<String> = (0..n).map(|_| order_number("P", at, new_id())).collect();
        // Same second: expected colliding pairs ≈ n²/2²⁴ ≈ 0.24; allow a couple.
        assert!(set.len() >= n - 2);
    }

    proptest! {
        #[test]
        fn short_b64_roundtrips(v in any::<u128>()) {
            let id = Uuid::from_u128(v);
            prop_assert_eq!(from_short_b64(&short_b64(id)), Ok(id));
        }

        #[test]
        fn from_short_b64_never_panics(s in ".{0,30}") {
            let _ = from_short_b64(&s);
            let _ = parse_client_id(&s);
        }
    }
}
