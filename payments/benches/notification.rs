//! Benchmark of the WeChat Pay notification path's own part (issue 14 budgets p99 ≤ 5 ms for
//! verify-decrypt-apply at 500 notifications/s; the apply part is the server's): signature
//! headers verified (RSA-2048 SHA256withRSA), the resource decrypted (AES-256-GCM), the
//! transaction parsed, for distinct payment notifications made the way WeChat Pay makes them.
//!
//! `cargo bench -p retail-payments --bench notification` (optionally `-- <notifications>`).
//! Std only: every call is timed with `Instant`; percentiles and the single-core rate are
//! reported.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue};
use retail_payments::wechat::{WechatPay, WechatPayConfig};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha2::Sha256;

const API_V3_KEY: &str = "Xq7ZtV2nR9bK4mW8pL3sD6fH1jC5gY0e";
const KEY_ID: &str = "PUB_KEY_ID_0119000001092025010100000000000001";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5_000);
    let mut rng = rand::thread_rng();
    let merchant = RsaPrivateKey::new(&mut rng, 2048).expect("a key");
    let platform = RsaPrivateKey::new(&mut rng, 2048).expect("a key");
    let client = WechatPay::new(WechatPayConfig {
        base_url: "http://127.0.0.1:9".into(),
        mch_id: "1900000109".into(),
        app_id: "wxd678efh567hg6787".into(),
        merchant_private_key_pem: merchant
            .to_pkcs8_pem(LineEnding::LF)
            .expect("pem")
            .to_string(),
        merchant_serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
        api_v3_key: API_V3_KEY.into(),
        wechatpay_public_key_pem: platform
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem"),
        wechatpay_public_key_id: KEY_ID.into(),
        ..WechatPayConfig::default()
    })
    .expect("a client");
    let signer = SigningKey::<Sha256>::new(platform);
    let cipher = Aes256Gcm::new_from_slice(API_V3_KEY.as_bytes()).expect("key");
    let now = chrono::Utc::now();
    let notifications: Vec<(HeaderMap, Vec<u8>)> = (0..count)
        .map(|i| {
            let resource = serde_json::json!({
                "mchid": "1900000109", "appid": "wxd678efh567hg6787",
                "out_trade_no": format!("{i:032x}"), "transaction_id": format!("4200{i:024}"),
                "trade_type": "NATIVE", "trade_state": "SUCCESS", "trade_state_desc": "支付成功",
                "bank_type": "OTHERS", "attach": "", "success_time": "2026-12-01T10:34:56+08:00",
                "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
                "amount": {"total": 1999, "payer_total": 1999, "currency": "CNY", "payer_currency": "CNY"},
            });
            let nonce = format!("{:012}", i);
            let ciphertext = cipher
                .encrypt(
                    Nonce::from_slice(nonce.as_bytes()),
                    Payload {
                        msg: resource.to_string().as_bytes(),
                        aad: b"transaction",
                    },
                )
                .expect("encrypts");
            let body = serde_json::json!({
                "id": format!("EV-{i:020}"), "create_time": "2026-12-01T10:34:57+08:00",
                "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
                "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                             "ciphertext": B64.encode(ciphertext), "associated_data": "transaction", "nonce": nonce},
            })
            .to_string()
            .into_bytes();
            let timestamp = now.timestamp().to_string();
            let header_nonce = format!("{i:032X}");
            let mut message = format!("{timestamp}\n{header_nonce}\n").into_bytes();
            message.extend_from_slice(&body);
            message.push(b'\n');
            let signature = B64.encode(signer.sign(&message).to_bytes());
            let mut headers = HeaderMap::new();
            let mut put = |name: &'static str, value: &str| {
                headers.insert(name, HeaderValue::from_str(value).expect("header"));
            };
            put("Wechatpay-Timestamp", &timestamp);
            put("Wechatpay-Nonce", &header_nonce);
            put("Wechatpay-Signature", &signature);
            put("Wechatpay-Serial", KEY_ID);
            put("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048");
            (headers, body)
        })
        .collect();

    // Warm up, then time each call.
    for (headers, body) in notifications.iter().take(100) {
        black_box(client.verify_notification(headers, body).expect("verifies"));
    }
    let mut times: Vec<Duration> = Vec::with_capacity(count);
    let started = Instant::now();
    for (headers, body) in &notifications {
        let t = Instant::now();
        black_box(client.verify_notification(headers, body).expect("verifies"));
        times.push(t.elapsed());
    }
    let total = started.elapsed();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "WeChat Pay notification verify+decrypt+parse, {count} distinct notifications, one core:\n  \
         p50 {:?}  p90 {:?}  p99 {:?}  max {:?}  mean {:?}  → {:.0} notifications/s",
        at(0.50),
        at(0.90),
        at(0.99),
        times[times.len() - 1],
        total / count as u32,
        count as f64 / total.as_secs_f64()
    );
}
