//! Wire types shared by the server and its clients (HTTP DTOs of the POS and edge sync
//! contracts, docs/DESIGN.md §5; MQTT payloads of the store bus, docs/DESIGN.md §6). Money is a decimal string, times RFC 3339 UTC, ids UUIDv7.

pub mod bus;
pub mod cash_control;
pub mod catalog;
pub mod devices;
pub mod pricing;
pub mod receipts;
pub mod sales;
pub mod scales;
pub mod staff;

/// Does this JSON text hold a NUL character in a string or a key? No store keeps NULs in text
/// (PostgreSQL refuses them), so no receiver takes them: the API answers 400 and the store bus
/// refuses the message. JSON writes a NUL only as the escape `\u0000`, so only a text that
/// contains those six characters is parsed to find out (an escaped backslash followed by
/// `u0000` is text, not a NUL); text that is not JSON holds none.
pub fn json_has_nul(json: &[u8]) -> bool {
    fn holds_nul(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(text) => text.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(holds_nul),
            serde_json::Value::Object(map) => map
                .iter()
                .any(|(key, value)| key.contains('\0') || holds_nul(value)),
            _ => false,
        }
    }
    json.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
        && serde_json::from_slice::<serde_json::Value>(json).is_ok_and(|v| holds_nul(&v))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::json_has_nul;

    #[test]
    fn nuls_in_json_text() {
        assert!(json_has_nul(br#"{"a": "x\u0000y"}"#));
        assert!(json_has_nul(br#"{"a\u0000": 1}"#));
        assert!(json_has_nul(br#"[["\u0000"]]"#));
        assert!(
            !json_has_nul(br#"{"a": "x\\u0000y"}"#),
            "an escaped backslash"
        );
        assert!(!json_has_nul(br#"{"a": "x"}"#));
        assert!(!json_has_nul(b"not json \\u0000"));
    }

    proptest::proptest! {
        /// Agrees with parsing: true exactly when some string or key of the JSON holds a NUL.
        #[test]
        fn agrees_with_the_parsed_value(key in ".{0,4}", text in proptest::prelude::any::<String>()) {
            let json = serde_json::to_vec(&serde_json::json!({ key.clone(): [text.clone()] })).unwrap();
            proptest::prop_assert_eq!(json_has_nul(&json), key.contains('\0') || text.contains('\0'));
        }
    }
}
