//! The server's payment-provider settings for the local fakes: the fake's keys written into a
//! folder as the PEM files an operator would install, and the settings naming them, so a test
//! server takes money through the real WeChat Pay or Alipay client talking to
//! [`FakeWechatPay`] or [`FakeAlipay`].
//!
//! ```ignore
//! let wechat = FakeWechatPay::start();
//! let keys = tempfile::tempdir()?;
//! let app = TestServer::sqlite_with(|s| s.payments.wechat = wechat_settings(&wechat, keys.path())).await;
//! ```

use std::path::Path;

use retail_server::config::{AlipaySettings, WechatPaySettings};

use crate::alipay::{self, FakeAlipay};
use crate::wechat_pay::FakeWechatPay;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing a test key file");
    path.to_string_lossy().into_owned()
}

/// `[payments.wechat]` for `fake` (public-key mode), its key files written into `dir`, with the
/// official account's AppSecret (a file) and the fake as WeChat's authorisation page and API.
///
/// # Panics
/// When `dir` cannot be written.
pub fn wechat_settings(fake: &FakeWechatPay, dir: &Path) -> WechatPaySettings {
    let config = fake.config();
    WechatPaySettings {
        mch_id: config.mch_id,
        app_id: config.app_id,
        merchant_serial_no: config.merchant_serial_no,
        merchant_private_key_file: write(
            dir,
            "apiclient_key.pem",
            &config.merchant_private_key_pem,
        ),
        api_v3_key: config.api_v3_key,
        wechatpay_public_key_file: write(dir, "pub_key.pem", &config.wechatpay_public_key_pem),
        wechatpay_public_key_id: config.wechatpay_public_key_id,
        platform_certificates_file: String::new(),
        app_secret: String::new(),
        app_secret_file: write(dir, "app_secret", crate::wechat_pay::APP_SECRET),
        oauth_base_url: fake.base_url.clone(),
        oauth_api_base_url: fake.base_url.clone(),
        base_url: config.base_url,
    }
}

/// `[payments.alipay]` for `fake`, its key files written into `dir`.
///
/// # Panics
/// When `dir` cannot be written.
pub fn alipay_settings(fake: &FakeAlipay, dir: &Path) -> AlipaySettings {
    AlipaySettings {
        app_id: alipay::APP_ID.into(),
        app_private_key_file: write(dir, "app_private_key.pem", &alipay::app_private_key_pem()),
        alipay_public_key_file: write(
            dir,
            "alipay_public_key.pem",
            &alipay::alipay_public_key_pem(),
        ),
        seller_id: alipay::SELLER_ID.into(),
        gateway: fake.gateway.clone(),
    }
}
