//! The open platform's wire rules, as pure functions: keys in the forms Alipay's tools print,
//! the RSA2 signing string (sorted `k=v` pairs), RSA2 signatures, the raw signed text of an
//! answer, amounts in yuan and times in Beijing time.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::value::RawValue;
use sha2::Sha256;

/// The smallest modulus accepted for RSA2 keys, in bits (Alipay issues 2048-bit keys).
const MIN_KEY_BITS: usize = 2048;

/// Beijing time (UTC+08:00), the zone of every time on Alipay's wire.
pub(crate) fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time, the format of `timestamp`, `time_expire` and the
/// answers' times.
pub(crate) fn beijing_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Parses a `yyyy-MM-dd HH:mm:ss` Beijing time.
pub(crate) fn parse_beijing_time(text: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    naive
        .and_local_timezone(beijing())
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// An amount in fen as Alipay writes yuan: `12.34` (always two decimals). `None` for zero or
/// less, or beyond what an `i64` of fen holds.
pub(crate) fn fen_to_yuan(fen: i64) -> Option<String> {
    (fen > 0).then(|| format!("{}.{:02}", fen / 100, fen % 100))
}

/// Parses an amount in yuan exactly as Alipay writes it (`0.01`, `88.88`, `100.00`: digits, a
/// point, two digits; no sign, no exponent, no leading zero before another digit) into fen.
/// Anything else is `None`: an amount is never rounded or guessed.
pub(crate) fn yuan_to_fen(text: &str) -> Option<i64> {
    let (whole, cents) = text.split_once('.')?;
    let plain_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !plain_digits(whole) || whole.len() > 12 || (whole.len() > 1 && whole.starts_with('0')) {
        return None;
    }
    if cents.len() != 2 || !plain_digits(cents) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = cents.parse().ok()?;
    whole.checked_mul(100)?.checked_add(cents)
}

/// The signing string of a request or notification: the parameters sorted by name (byte
/// order), those with an empty value and `sign` itself left out, as `name=value` joined by
/// `&`, values as they are (not URL-encoded).
pub(crate) fn sign_content<'a, I>(params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let sorted: BTreeMap<&str, &str> = params
        .into_iter()
        .filter(|(name, value)| *name != "sign" && !value.is_empty())
        .collect();
    let mut out = String::new();
    for (i, (name, value)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// RSA2: SHA256withRSA (PKCS#1 v1.5) of `content`'s UTF-8 bytes, in standard base64.
pub(crate) fn rsa2_sign(key: &SigningKey<Sha256>, content: &str) -> String {
    let signature: Signature = key.sign(content.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
}

/// Whether `sign` (standard base64; spaces are read as the `+` a careless form encoder
/// turned into them) is an RSA2 signature of `content` by `key`.
pub(crate) fn rsa2_verify(key: &VerifyingKey<Sha256>, content: &str, sign: &str) -> bool {
    let cleaned: String = sign
        .trim()
        .chars()
        .map(|c| if c == ' ' { '+' } else { c })
        .collect();
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(cleaned) else {
        return false;
    };
    let Ok(signature) = Signature::try_from(bytes.as_slice()) else {
        return false;
    };
    key.verify(content.as_bytes(), &signature).is_ok()
}

/// The base64 body of a key given as PEM (any label, any line width, even on one line) or as
/// the bare base64 Alipay's key tool prints, decoded to DER; `None` when it is neither.
fn key_der(text: &str) -> Option<Vec<u8>> {
    // Drop the `-----BEGIN …-----` / `-----END …-----` markers wherever they are.
    let mut rest = text;
    let mut body = String::new();
    while let Some(at) = rest.find("-----") {
        body.push_str(&rest[..at]);
        let after = &rest[at + 5..];
        let close = after.find("-----")?;
        rest = &after[close + 5..];
    }
    body.push_str(rest);
    let body: String = body.split_whitespace().collect();
    if body.is_empty() {
        return None;
    }
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// Reads the app's private key: PKCS#8 or PKCS#1, PEM (wrapped at any width, as keys pasted
/// from Alipay's tools often are) or bare base64. At least 2048 bits.
pub(crate) fn parse_private_key(text: &str) -> Result<RsaPrivateKey, String> {
    let text = text.trim();
    let pem = text.contains("-----BEGIN");
    if pem
        && !(text.contains("-----BEGIN RSA PRIVATE KEY-----")
            || text.contains("-----BEGIN PRIVATE KEY-----"))
    {
        return Err("a PEM block that is no RSA private key".into());
    }
    let der = key_der(text).ok_or("neither PEM nor base64")?;
    let key = if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs1_der(&der).map_err(|e| format!("not a PKCS#1 key: {e}"))?
    } else if pem {
        RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| format!("not a PKCS#8 key: {e}"))?
    } else {
        RsaPrivateKey::from_pkcs8_der(&der)
            .or_else(|_| RsaPrivateKey::from_pkcs1_der(&der))
            .map_err(|_| "base64 that is no PKCS#8 or PKCS#1 RSA private key".to_string())?
    };
    check_size(key.size())?;
    Ok(key)
}

fn check_size(bytes: usize) -> Result<(), String> {
    if bytes * 8 < MIN_KEY_BITS {
        return Err(format!(
            "a {}-bit key; RSA2 needs at least {MIN_KEY_BITS}",
            bytes * 8
        ));
    }
    Ok(())
}

/// Reads Alipay's public key: SubjectPublicKeyInfo or PKCS#1, PEM (any width) or bare base64.
pub(crate) fn parse_public_key(text: &str) -> Result<RsaPublicKey, String> {
    let text = text.trim();
    if text.contains("-----BEGIN CERTIFICATE-----") {
        return Err("a certificate: certificate mode is not supported, give the public key".into());
    }
    let pem = text.contains("-----BEGIN");
    if pem
        && !(text.contains("-----BEGIN PUBLIC KEY-----")
            || text.contains("-----BEGIN RSA PUBLIC KEY-----"))
    {
        return Err("a PEM block that is no RSA public key".into());
    }
    let der = key_der(text).ok_or("neither PEM nor base64")?;
    let key = if text.contains("-----BEGIN RSA PUBLIC KEY-----") {
        RsaPublicKey::from_pkcs1_der(&der).map_err(|e| format!("not a PKCS#1 key: {e}"))?
    } else if pem {
        RsaPublicKey::from_public_key_der(&der).map_err(|e| format!("not a public key: {e}"))?
    } else {
        RsaPublicKey::from_public_key_der(&der)
            .or_else(|_| RsaPublicKey::from_pkcs1_der(&der))
            .map_err(|_| "base64 that is no RSA public key".to_string())?
    };
    check_size(key.size())?;
    Ok(key)
}

/// The parts of an answer body that matter for its signature.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SignedAnswer {
    /// The raw text of `<method>_response` (or `error_response`), exactly as in the body:
    /// what Alipay signed.
    pub raw: String,
    /// The `sign` beside it, when there is one.
    pub sign: Option<String>,
    /// Whether the answer came as `error_response` (the gateway refused before the method).
    pub gateway_error: bool,
}

/// Splits an answer body `{"<response_key>":{…},"sign":"…"}` into the raw text of the
/// response object (its exact bytes, never re-serialised) and the signature. The body must be
/// one JSON object; a missing response key is an error.
pub(crate) fn split_answer(body: &str, response_key: &str) -> Result<SignedAnswer, String> {
    let top: BTreeMap<String, &RawValue> =
        serde_json::from_str(body).map_err(|e| format!("not a JSON object: {e}"))?;
    let (raw, gateway_error) = match (top.get(response_key), top.get("error_response")) {
        (Some(raw), _) => (raw, false),
        (None, Some(raw)) => (raw, true),
        (None, None) => return Err(format!("no {response_key} in the answer")),
    };
    if !raw.get().trim_start().starts_with('{') {
        return Err(format!("{response_key} is not an object"));
    }
    let sign = match top.get("sign") {
        None => None,
        Some(raw) => Some(
            serde_json::from_str::<String>(raw.get())
                .map_err(|_| "sign is not a string".to_string())?,
        ),
    };
    Ok(SignedAnswer {
        raw: raw.get().to_owned(),
        sign,
        gateway_error,
    })
}

/// Verifies an answer's signature over its raw text. As Alipay's own SDKs do, a text in which
/// the JSON writer escaped `/` as `\/` is also tried with the plain `/` it signed.
pub(crate) fn verify_answer(key: &VerifyingKey<Sha256>, raw: &str, sign: &str) -> bool {
    rsa2_verify(key, raw, sign)
        || (raw.contains("\\/") && rsa2_verify(key, &raw.replace("\\/", "/"), sign))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The example of Alipay's "自行实现签名" (signing without the SDK) page: its request
    /// parameters and the signing string the page gives for them (`sign` left out, sorted by
    /// name, values raw).
    #[test]
    fn the_signing_string_of_the_documentation_example() {
        let biz = r#"{"button":[{"actionParam":"ZFB_HFCZ","actionType":"out","name":"话费充值"},{"name":"查询","subButton":[{"actionParam":"ZFB_YECX","actionType":"out","name":"余额查询"},{"actionParam":"ZFB_LLCX","actionType":"out","name":"流量查询"},{"actionParam":"ZFB_HFCX","actionType":"out","name":"话费查询"}]},{"actionParam":"http://m.alipay.com","actionType":"link","name":"最新优惠"}]}"#;
        let params = [
            ("app_id", "2014072300007148"),
            ("method", "alipay.mobile.public.menu.add"),
            ("charset", "GBK"),
            ("sign_type", "RSA2"),
            ("timestamp", "2014-07-24 03:07:50"),
            ("biz_content", biz),
            ("sign", "e9zEAe4TTQ4LPLQvETPoLGXTiURcxiAKfMVQ6Hrrsx2hmyIEGvSfAQzbLxHrhyZ48wOJXTsD4FPnt+YGdK57+fP1BCbf9rIVycfjhYCqlFhbTu9pFnZgT55W+xbAFb9y7vL0MyAxwXUXvZtQVqEwW7pURtKilbcBTEW7TAxzgro="),
            ("version", "1.0"),
        ];
        let expected = format!(
            "app_id=2014072300007148&biz_content={biz}&charset=GBK&method=alipay.mobile.public.menu.add&sign_type=RSA2&timestamp=2014-07-24 03:07:50&version=1.0"
        );
        assert_eq!(sign_content(params), expected);
        // Empty values are left out.
        assert_eq!(sign_content([("b", "2"), ("a", ""), ("c", "3")]), "b=2&c=3");
    }

    /// A real answer of Alipay's gateway and its signature, verified with the Alipay public key
    /// it was signed for (from the tests of Alipay's Node.js SDK, `alipay-sdk-nodejs-all`,
    /// `test/alipay.test.ts` "checkResponseSign should work", key `test/fixtures/alipay-public-key.pem`).
    #[test]
    fn a_real_gateway_answer_verifies() {
        let key = parse_public_key(
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAk7LzhmMa2c4qQd4fqAqenfbuFoA7stPKvoS1LrZEsVnOOGUUjwoa1oU9xsSPjcOWhIerU/VAN4J95GIAXx59ipcleIyfLn2FhHXPgLJpvo+b2jJFyn/1/DbeJDh+0yDVAOf50Z7HhI0mdUhFMkXlT7BU0ZMtJf/TmISFEfhDU/w6qFd6D42L97byAkq0K6LroglSVF24GqJEa7hSeUIkZWj7RasykXrc2uVJ1+ejkXE0LyPxa2AHykMGbJLf5SiZvaNzUZgnKIR36mLOHpQ/2JCXxhXZYUWHzy0kMH54JcUEeksFWBYLGvLjV1phbcUIc3Q76tIuqApY6E222OoZZQIDAQAB\n-----END PUBLIC KEY-----",
        )
        .expect("the SDK's Alipay public key");
        let key = VerifyingKey::<Sha256>::new(key);
        let body = r#"{"alipay_open_file_upload_response":{"code":"10000","msg":"Success","file_id":"CAxAToWB1JsAAAAAAAAAAAAADgSLAQBr"},"sign":"F+LDzpTNiavn7xVZPGuPCSSVRSmWzJGgtuji6tVELGEaqMaNj0jRKXUEr5nloZJBBmwEnddOyCjjepMmrTKTvoOqQ0Efxpr/R1iEeHTHVbb/Q8TTh6Up5gHJDkILdaWS2q1cWeQ6VT+HQY9P3WRXS7uhILHuDODIhpAyCu5KhWGt0rMCIG+Im6NODJP2oohtSCtmTFXg58HH587Z2y2bdbjzOxLvzD9IrU1imghXQ2S/Q+wMIvRk9on6cWnBLkrNvJKapA2ReNGWOwyuASvB9zDVzhMPbR+3mfRGkVDxsq5HYLjBKGskJMXHw0HuugZij6ScRuaLPODhmHwr/pJ9yw=="}"#;
        let answer = split_answer(body, "alipay_open_file_upload_response").expect("splits");
        assert_eq!(
            answer.raw,
            r#"{"code":"10000","msg":"Success","file_id":"CAxAToWB1JsAAAAAAAAAAAAADgSLAQBr"}"#
        );
        let sign = answer.sign.expect("signed");
        assert!(verify_answer(&key, &answer.raw, &sign));
        // One character changed, and it no longer verifies.
        let tampered = answer.raw.replace("CAxA", "CAxB");
        assert!(!verify_answer(&key, &tampered, &sign));
    }

    /// A fixed key (PKCS#1 PEM, 2048 bits) signs a fixed string to the signature OpenSSL gives
    /// for it. Cross-checked with:
    ///
    /// ```text
    /// printf '%s' 'app_id=2021000000000001&biz_content={"out_trade_no":"T1","total_amount":"0.01"}&charset=utf-8&method=alipay.trade.query&sign_type=RSA2&timestamp=2024-01-02 03:04:05&version=1.0' \
    ///   | openssl dgst -sha256 -sign key.pem | base64 -w0
    /// ```
    /// (PKCS#1 v1.5 is deterministic, so the signature is one fixed value.)
    #[test]
    fn a_fixed_key_signs_what_openssl_signs() {
        let key = parse_private_key(FIXED_KEY_PEM).expect("the fixed key");
        let signer = SigningKey::<Sha256>::new(key.clone());
        let content = r#"app_id=2021000000000001&biz_content={"out_trade_no":"T1","total_amount":"0.01"}&charset=utf-8&method=alipay.trade.query&sign_type=RSA2&timestamp=2024-01-02 03:04:05&version=1.0"#;
        let sign = rsa2_sign(&signer, content);
        assert_eq!(sign, FIXED_KEY_SIGNATURE);
        let verifier = VerifyingKey::<Sha256>::new(key.to_public_key());
        assert!(rsa2_verify(&verifier, content, &sign));
        assert!(!rsa2_verify(
            &verifier,
            &content.replace("0.01", "0.02"),
            &sign
        ));
        // The same key in its other forms reads the same.
        let bare = FIXED_KEY_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>();
        assert_eq!(parse_private_key(&bare).expect("bare PKCS#1"), key);
    }

    const FIXED_KEY_PEM: &str = include_str!("testdata/fixed-key.pem");
    const FIXED_KEY_SIGNATURE: &str = include_str!("testdata/fixed-key.sig");

    #[test]
    fn amounts_are_exact_or_refused() {
        assert_eq!(yuan_to_fen("0.01"), Some(1));
        assert_eq!(yuan_to_fen("88.88"), Some(8888));
        assert_eq!(yuan_to_fen("100000000.00"), Some(10_000_000_000));
        for bad in [
            "",
            "1",
            "1.0",
            "1.000",
            "-1.00",
            "+1.00",
            "01.00",
            "1e2",
            " 1.00",
            "1.00 ",
            ".50",
            "1,00",
            "１.00",
            "9999999999999.00",
        ] {
            assert_eq!(yuan_to_fen(bad), None, "{bad:?}");
        }
        assert_eq!(fen_to_yuan(1).as_deref(), Some("0.01"));
        assert_eq!(fen_to_yuan(12345).as_deref(), Some("123.45"));
        assert_eq!(fen_to_yuan(0), None);
        assert_eq!(fen_to_yuan(-5), None);
    }

    #[test]
    fn times_are_beijing_time() {
        let at = parse_beijing_time("2024-01-02 08:00:00").expect("parses");
        assert_eq!(at.to_rfc3339(), "2024-01-02T00:00:00+00:00");
        assert_eq!(beijing_time(at), "2024-01-02 08:00:00");
        assert_eq!(parse_beijing_time("2024-13-02 08:00:00"), None);
    }

    #[test]
    fn answers_split_on_their_raw_text() {
        let body = "{\"a_response\": {\"code\" : \"10000\",\n \"x\":\"\\/\"} ,\"sign\":\"c2ln\"}";
        let answer = split_answer(body, "a_response").expect("splits");
        assert_eq!(answer.raw, "{\"code\" : \"10000\",\n \"x\":\"\\/\"}");
        assert_eq!(answer.sign.as_deref(), Some("c2ln"));
        assert!(!answer.gateway_error);
        let error = split_answer(r#"{"error_response":{"code":"40002"}}"#, "a_response")
            .expect("an error answer");
        assert!(error.gateway_error);
        assert_eq!(error.sign, None);
        assert!(split_answer(r#"{"b_response":{}}"#, "a_response").is_err());
        assert!(split_answer(r#"{"a_response":"x"}"#, "a_response").is_err());
        assert!(split_answer(r#"{"a_response":{},"sign":1}"#, "a_response").is_err());
        assert!(split_answer(r#"{"a_response":{}"#, "a_response").is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in ".{0,200}", key in "[a-z_]{0,12}") {
            let _ = yuan_to_fen(&text);
            let _ = parse_beijing_time(&text);
            let _ = split_answer(&text, &key);
            let _ = parse_public_key(&text);
            let _ = sign_content([(key.as_str(), text.as_str())]);
        }

        #[test]
        fn amounts_round_trip(fen in 1i64..10_000_000_000) {
            let yuan = fen_to_yuan(fen).expect("positive");
            prop_assert_eq!(yuan_to_fen(&yuan), Some(fen));
        }

        #[test]
        fn json_answers_never_panic(body in r#"\{("[a-z_]{1,8}":(\{[^{}]{0,20}\}|"[^"]{0,10}"|[0-9]{1,3}),?){0,4}\}"#) {
            let _ = split_answer(&body, "a_response");
        }
    }
}
