//! The cryptography of WeChat Pay API v3: the merchant's request signature
//! (`WECHATPAY2-SHA256-RSA2048`: SHA256withRSA, PKCS#1 v1.5, over
//! `METHOD\nURL\ntimestamp\nnonce\nbody\n`), the verification of WeChat Pay's signatures on answers
//! and notifications (over `timestamp\nnonce\nbody\n`, with the WeChat Pay public key or a platform
//! certificate, chosen by `Wechatpay-Serial`), and the AEAD_AES_256_GCM decryption of a
//! notification's `resource` with the API v3 key.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use rand::Rng;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

/// The signature scheme WeChat Pay API v3 names in `Authorization` and `Wechatpay-Signature-Type`.
pub const SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// The most a signed timestamp may differ from our clock, in seconds (5 minutes).
pub const MAX_SKEW_SECS: i64 = 300;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The merchant's API key: signs requests and the JSAPI `requestPayment` parameters.
#[derive(Clone)]
pub struct MerchantSigner {
    key: SigningKey<Sha256>,
    mch_id: String,
    serial_no: String,
}

impl std::fmt::Debug for MerchantSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerchantSigner")
            .field("mch_id", &self.mch_id)
            .field("serial_no", &self.serial_no)
            .finish_non_exhaustive()
    }
}

impl MerchantSigner {
    /// A signer from the merchant's private key (PKCS#8 `PRIVATE KEY` PEM, as WeChat Pay's
    /// certificate tool writes `apiclient_key.pem`, or PKCS#1 `RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str, mch_id: &str, serial_no: &str) -> Result<Self, String> {
        let key = private_key_from_pem(pem)?;
        Ok(MerchantSigner {
            key: SigningKey::<Sha256>::new(key),
            mch_id: mch_id.to_owned(),
            serial_no: serial_no.to_owned(),
        })
    }

    /// Base64 of the SHA256withRSA signature of `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        B64.encode(self.key.sign(message).to_bytes())
    }

    /// The `Authorization` header of a request: `method` (upper case), the URL's path with its
    /// query as sent, the body as sent (empty for GET).
    pub fn authorization(
        &self,
        method: &str,
        path_and_query: &str,
        timestamp: i64,
        nonce: &str,
        body: &str,
    ) -> String {
        let message = format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{body}\n");
        let signature = self.sign(message.as_bytes());
        format!(
            "{SCHEME} mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{}\"",
            self.mch_id, self.serial_no
        )
    }
}

/// Parses an RSA private key of at least 2048 bits from PKCS#8 or PKCS#1 PEM.
pub fn private_key_from_pem(pem: &str) -> Result<RsaPrivateKey, String> {
    let pem = pem.trim();
    let key = RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|_| {
            "is not an RSA private key in PEM (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1)".to_owned()
        })?;
    if key.size() * 8 < 2048 {
        return Err(format!(
            "is a {}-bit RSA key; WeChat Pay uses 2048 bits",
            key.size() * 8
        ));
    }
    Ok(key)
}

/// Parses an RSA public key of at least 2048 bits from SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 PEM.
pub fn public_key_from_pem(pem: &str) -> Result<RsaPublicKey, String> {
    let pem = pem.trim();
    let key = RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
        .map_err(|_| "is not an RSA public key in PEM (`BEGIN PUBLIC KEY`)".to_owned())?;
    if key.size() * 8 < 2048 {
        return Err(format!(
            "is a {}-bit RSA key; WeChat Pay uses 2048 bits",
            key.size() * 8
        ));
    }
    Ok(key)
}

/// The platform certificates in a PEM text (one or more `BEGIN CERTIFICATE` blocks): each
/// certificate's serial number (upper-case hex, as `Wechatpay-Serial` carries it) with its RSA
/// public key, refusing certificates outside their validity at `now`.
pub fn certificates_from_pem(
    pem: &str,
    now: std::time::SystemTime,
) -> Result<Vec<(String, RsaPublicKey)>, String> {
    use x509_cert::der::{Decode, DecodePem, Encode};
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let end_marker = "-----END CERTIFICATE-----";
        let Some(end) = rest[start..].find(end_marker) else {
            return Err("has a certificate without its END line".into());
        };
        let block = &rest[start..start + end + end_marker.len()];
        rest = &rest[start + end + end_marker.len()..];
        let cert = x509_cert::Certificate::from_pem(block.as_bytes())
            .map_err(|e| format!("has a certificate that does not parse: {e}"))?;
        let tbs = &cert.tbs_certificate;
        let serial = hex::encode_upper(tbs.serial_number.as_bytes());
        let serial = serial.trim_start_matches("00").to_owned();
        let validity = &tbs.validity;
        if now < validity.not_before.to_system_time() || now > validity.not_after.to_system_time() {
            return Err(format!(
                "has certificate {serial}, valid from {} to {}: not now",
                validity.not_before, validity.not_after
            ));
        }
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| format!("certificate {serial}: {e}"))?;
        let spki = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(&spki)
            .map_err(|e| format!("certificate {serial}: {e}"))?;
        let key = RsaPublicKey::try_from(spki)
            .map_err(|_| format!("certificate {serial} does not hold an RSA public key"))?;
        if key.size() * 8 < 2048 {
            return Err(format!("certificate {serial} holds a key under 2048 bits"));
        }
        out.push((serial, key));
    }
    if out.is_empty() {
        return Err("holds no `BEGIN CERTIFICATE` block".into());
    }
    Ok(out)
}

/// WeChat Pay's verification keys by the serial `Wechatpay-Serial` names: the WeChat Pay public
/// key under its id (`PUB_KEY_ID_…`) and/or each platform certificate under its serial number.
#[derive(Clone, Default)]
pub struct PlatformKeys {
    keys: HashMap<String, VerifyingKey<Sha256>>,
}

impl std::fmt::Debug for PlatformKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut serials: Vec<&String> = self.keys.keys().collect();
        serials.sort();
        f.debug_struct("PlatformKeys")
            .field("serials", &serials)
            .finish()
    }
}

/// The four signature headers of an answer or a notification.
#[derive(Clone, Copy, Debug)]
pub struct SignedBy<'a> {
    /// `Wechatpay-Timestamp`: Unix seconds.
    pub timestamp: &'a str,
    /// `Wechatpay-Nonce`.
    pub nonce: &'a str,
    /// `Wechatpay-Signature`: base64.
    pub signature: &'a str,
    /// `Wechatpay-Serial`: which key signed.
    pub serial: &'a str,
}

impl PlatformKeys {
    /// Adds a key under a serial.
    pub fn insert(&mut self, serial: &str, key: RsaPublicKey) {
        self.keys
            .insert(serial.to_owned(), VerifyingKey::<Sha256>::new(key));
    }

    /// Whether no key is known.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks a signature over `timestamp\nnonce\nbody\n`: the serial must be known, the
    /// timestamp within [`MAX_SKEW_SECS`] of `now` (Unix seconds) and the signature valid.
    pub fn verify(&self, signed: SignedBy<'_>, body: &[u8], now: i64) -> Result<(), String> {
        let key = self
            .keys
            .get(signed.serial)
            .ok_or_else(|| format!("unknown Wechatpay-Serial {:?}", clip(signed.serial)))?;
        let timestamp: i64 = signed.timestamp.parse().map_err(|_| {
            format!(
                "Wechatpay-Timestamp {:?} is no number",
                clip(signed.timestamp)
            )
        })?;
        if (now - timestamp).abs() > MAX_SKEW_SECS {
            return Err(format!(
                "Wechatpay-Timestamp {timestamp} is {} s from now (at most {MAX_SKEW_SECS})",
                now - timestamp
            ));
        }
        let raw = B64
            .decode(signed.signature)
            .map_err(|_| "Wechatpay-Signature is not base64".to_owned())?;
        let signature =
            Signature::try_from(raw.as_slice()).map_err(|_| "bad signature length".to_owned())?;
        let mut message =
            Vec::with_capacity(signed.timestamp.len() + signed.nonce.len() + body.len() + 3);
        message.extend_from_slice(signed.timestamp.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(signed.nonce.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(body);
        message.push(b'\n');
        key.verify(&message, &signature)
            .map_err(|_| "Wechatpay-Signature does not verify".to_owned())
    }
}

/// At most 64 characters of provider text, for error messages.
pub fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Decrypts an AEAD_AES_256_GCM `resource`: the API v3 key, the `nonce` (12 bytes), the
/// `associated_data` and the base64 `ciphertext` (ciphertext followed by the 16-byte tag).
pub fn decrypt_resource(
    cipher: &Aes256Gcm,
    nonce: &str,
    associated_data: &str,
    ciphertext_b64: &str,
) -> Result<Vec<u8>, String> {
    if nonce.len() != 12 {
        return Err(format!("the nonce has {} bytes, not 12", nonce.len()));
    }
    let ciphertext = B64
        .decode(ciphertext_b64)
        .map_err(|_| "the ciphertext is not base64".to_owned())?;
    cipher
        .decrypt(
            Nonce::from_slice(nonce.as_bytes()),
            Payload {
                msg: &ciphertext,
                aad: associated_data.as_bytes(),
            },
        )
        .map_err(|_| "the ciphertext does not decrypt (tampered, or another API v3 key)".to_owned())
}

/// The AES-256-GCM cipher of an API v3 key (32 bytes).
pub fn resource_cipher(api_v3_key: &str) -> Result<Aes256Gcm, String> {
    Aes256Gcm::new_from_slice(api_v3_key.as_bytes())
        .map_err(|_| format!("has {} bytes; it must be 32", api_v3_key.len()))
}

/// A random nonce of 32 upper-case hex characters.
pub fn nonce() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode_upper(bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The test key of WeChat Pay's official Go SDK (`wechatpay-go`, `utils/sign_test.go`,
    /// there labelled `TESTING KEY` and relabelled before parsing).
    pub(crate) const SDK_TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDZUJN33V+dSfvd
fL0Mu+39XrZNXFFMQSy1V15FpncHeV47SmV0TzTqZc7hHB0ddqAdDi8Z5k3TKqb7
6sOwYr5TcAfuR6PIPaleyE0/0KrljBum2Isa2Nyq7Dgc3ElBQ6YN4l/a+DpvKaz1
FSKmKrhLNskqokWVSlu4g8OlKlbPXQ9ibII14MZRQrrkTmHYHzfi7GXXM0thAKuR
0HNvyhTHBh4/lrYM3GaMvmWwkwvsMavnOex6+eioZHBOb1/EIZ/LzC6zuHArPpyW
3daGaZ1rtQB1vVzTyERAVVFsXXgBHvfFud3w3ShsJYk8JvMwK2RpJ5/gV0QSARcm
LDRUAlPzAgMBAAECggEBAMc7rDeUaXiWv6bMGbZ3BTXpg1FhdddnWUnYE8HfX/km
OFI7XtBHXcgYFpcjYz4D5787pcsk7ezPidAj58zqenuclmjKnUmT3pfbI5eCA2v4
C9HnbYDrmUPK1ZcADtka4D6ScDccpNYNa1g2TFHzkIrEa6H+q7S3O2fqxY/DRVtN
0JIXalBb8daaqL5QVzSmM2BMVnHy+YITJWIkP2a3pKs9C0W65JGDsnG0wVrHinHF
+cnhFZIbaPEI//DAFMc9NkrWOKVRTEgcCUxCFaHOZVNxDWZD7A2ZfJB2rK6eg//y
gEiFDR2h6mTaDowMB4YF2n2dsIO4/dCG8vPHI20jn4ECgYEA/ZGu6lEMlO0XZnam
AZGtiNgLcCfM/C2ZERZE7QTRPZH1WdK92Al9ndldsswFw4baJrJLCmghjF/iG4zi
hhBvLnOLksnZUfjdumxoHDWXo2QBWbI5QsWIE7AuTiWgWj1I7X4fCXSQf6i+M/y2
6TogQ7d0ANpZFyOkTNMn/tiJvLECgYEA22XqlamG/yfAGWery5KNH2DGlTIyd6xJ
WtJ9j3jU99lZ0bCQ5xhiBbU9ImxCi3zgTsoqLWgA/p00HhNFNoUcTl9ofc0G3zwT
D1y0ZzcnVKxGJdZ6ohW52V0hJStAigtjYAsUgjm7//FH7PiQDBDP1Wa6xSRkDQU/
aSbQxvEE8+MCgYEA3bb8krW7opyM0XL9RHH0oqsFlVO30Oit5lrqebS0oHl3Zsr2
ZGgoBlWBsEzk3UqUhTFwm/DhJLTSJ/TQPRkxnhQ5/mewNhS9C7yua7wQkzVmWN+V
YeUGTvDGDF6qDz12/vJAgSwDDRym8x4NcXD5tTw7mmNRcwIfL22SkysThIECgYAV
BgccoEoXWS/HP2/u6fQr9ZIR6eV8Ij5FPbZacTG3LlS1Cz5XZra95UgebFFUHHtC
EY1JHJY7z8SWvTH8r3Su7eWNaIAoFBGffzqqSVazfm6aYZsOvRY6BfqPHT3p/H1h
Tq6AbBffxrcltgvXnCTORjHPglU0CjSxVs7awW3AEQKBgB5WtaC8VLROM7rkfVIq
+RXqE5vtJfa3e3N7W3RqxKp4zHFAPfr82FK5CX2bppEaxY7SEZVvVInKDc5gKdG/
jWNRBmvvftZhY59PILHO2X5vO4FXh7suEjy6VIh0gsnK36mmRboYIBGsNuDHjXLe
BDa+8mDLkWu5nHEhOxy2JJZl
-----END PRIVATE KEY-----";

    fn sdk_signer() -> MerchantSigner {
        MerchantSigner::from_pem(
            SDK_TEST_KEY,
            "1900009191",
            "3775B6A45ACD588826D15E583A95F5DD",
        )
        .expect("the SDK's test key parses")
    }

    /// Known answer from WeChat Pay's official Go SDK (`TestSha256WithRsa`): "source" signed
    /// with its test key.
    #[test]
    fn signs_like_the_official_sdk() {
        assert_eq!(
            sdk_signer().sign(b"source"),
            "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoV\
             z+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLl\
             i/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj\
             1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="
        );
    }

    /// A whole `Authorization` header with a fixed timestamp and nonce. The expected signature
    /// was computed independently with OpenSSL:
    ///
    /// ```text
    /// printf 'POST\n/v3/pay/transactions/native\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{"appid":"wxd678efh567hg6787","amount":{"total":1}}\n' \
    ///   | openssl dgst -sha256 -sign sdk_test_key.pem | base64 -w0
    /// ```
    #[test]
    fn authorization_header_matches_openssl() {
        let header = sdk_signer().authorization(
            "POST",
            "/v3/pay/transactions/native",
            1554208460,
            "593BEC0C930BF1AFEB40B4A08C8FB242",
            r#"{"appid":"wxd678efh567hg6787","amount":{"total":1}}"#,
        );
        assert_eq!(header, format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1900009191\",nonce_str=\"593BEC0C930BF1AFEB40B4A08C8FB242\",signature=\"{}\",timestamp=\"1554208460\",serial_no=\"3775B6A45ACD588826D15E583A95F5DD\"",
            OPENSSL_SIGNATURE
        ));
    }

    const OPENSSL_SIGNATURE: &str = "VhMK+lP3h8N1eVwBGk3TOhM5Ilv/2juNEHI+SSuOSkYTg7myneAHNDrSX2blCziJhHsJA9DlvTOXoaVeMxJQa9GxsSuY/fHMH4ZtPQPe4v5SBpJpN4IU0QH7slgbLM1gPSTFmHxnBtrhPnQqZqqr7zqMjtYia685tRxObcNMtn4xxoqGXdS5YAzJX6bjngw0L7YVtmlAp0lhfOK2vzTP5FDQc1pLbd+Cu2gtKUOs6Ex7z+nXt3xhEw7Jz6Ugw2EOSr22LZ3x/pz5L/OmuScIED6oTtvl7HC7nWdm6mTKh8o4xnShI5KifhYwYt7bLMzh7I36qNydxfNWhAwfQmEsIQ==";

    /// Known answer from WeChat Pay's official Java SDK (`AeadAesCipherTest`): API v3 key,
    /// nonce and associated data → "message".
    #[test]
    fn decrypts_like_the_official_sdk() {
        let cipher = resource_cipher("a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb").expect("32 bytes");
        let plain = decrypt_resource(
            &cipher,
            "uluk4a9R25RW",
            "associatedData",
            "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=",
        )
        .expect("decrypts");
        assert_eq!(plain, b"message");
        // One bit of the tag changed, another associated data, another nonce: refused.
        assert!(decrypt_resource(
            &cipher,
            "uluk4a9R25RW",
            "associatedData",
            "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwM="
        )
        .is_err());
        assert!(decrypt_resource(
            &cipher,
            "uluk4a9R25RW",
            "associatedDatb",
            "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="
        )
        .is_err());
        assert!(decrypt_resource(
            &cipher,
            "uluk4a9R25RX",
            "associatedData",
            "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="
        )
        .is_err());
        assert!(decrypt_resource(&cipher, "short", "", "").is_err());
        assert!(resource_cipher("16-byte-key-0000").is_err());
    }

    fn platform_of(signer_pem: &str, serial: &str) -> PlatformKeys {
        let key = private_key_from_pem(signer_pem).expect("key");
        let mut keys = PlatformKeys::default();
        keys.insert(serial, key.to_public_key());
        keys
    }

    #[test]
    fn verification_checks_serial_skew_and_signature() {
        let signer = sdk_signer();
        let keys = platform_of(SDK_TEST_KEY, "PUB_KEY_ID_0001");
        let body = br#"{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}"#;
        let ts = 1_700_000_000_i64;
        let mut message = format!("{ts}\nN0NCE\n").into_bytes();
        message.extend_from_slice(body);
        message.push(b'\n');
        let signature = signer.sign(&message);
        let ts_text = ts.to_string();
        let good = SignedBy {
            timestamp: &ts_text,
            nonce: "N0NCE",
            signature: &signature,
            serial: "PUB_KEY_ID_0001",
        };
        assert_eq!(keys.verify(good, body, ts + 299), Ok(()));
        assert_eq!(keys.verify(good, body, ts - 300), Ok(()));
        assert!(keys.verify(good, body, ts + 301).is_err(), "stale");
        assert!(
            keys.verify(good, body, ts - 301).is_err(),
            "from the future"
        );
        let unknown = SignedBy {
            serial: "PUB_KEY_ID_0002",
            ..good
        };
        assert!(keys.verify(unknown, body, ts).is_err());
        assert!(keys.verify(good, b"{}", ts).is_err(), "another body");
        let other_nonce = SignedBy {
            nonce: "N0NCF",
            ..good
        };
        assert!(keys.verify(other_nonce, body, ts).is_err());
        let probe = SignedBy {
            signature: "WECHATPAY/SIGNTEST/abcdef",
            ..good
        };
        assert!(
            keys.verify(probe, body, ts).is_err(),
            "WeChat's signature probe"
        );
    }

    #[test]
    fn keys_are_checked() {
        assert!(private_key_from_pem("nonsense").is_err());
        assert!(
            public_key_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
        let public = private_key_from_pem(SDK_TEST_KEY)
            .expect("key")
            .to_public_key();
        use rsa::pkcs8::EncodePublicKey;
        let pem = public
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("pem");
        assert_eq!(public_key_from_pem(&pem).expect("parses"), public);
        assert!(certificates_from_pem("", std::time::SystemTime::now()).is_err());
    }

    #[test]
    fn nonces_are_32_hex_and_differ() {
        let a = nonce();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, nonce());
    }
}
