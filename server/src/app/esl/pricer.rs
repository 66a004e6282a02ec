//! The Pricer Plaza public REST API adapter (Pricer ESLs; the API Odoo's `pricer` addon uses).
//!
//! Wire format, as documented by Pricer and used by Odoo's `addons/pricer/models/pricer_store.py`
//! and the Odoo "Digital labels" documentation
//! (`content/applications/sales/point_of_sale/pricing/digital_labels.rst`):
//!
//! - **Log-in**: `GET https://central-manager.<tenant>.pcm.pricer-plaza.com/api/public/auth/v1/login`
//!   with HTTP Basic authentication (the API account) answers `200` with a JSON object whose
//!   `token` is a JWT (`"tokenType": "JWT"`); later requests carry
//!   `Authorization: Bearer <token>`. Wrong credentials answer `401`.
//! - **Items** (create or update): `PATCH https://<store>.<tenant>.pcm.pricer-plaza.com/api/public/core/v1/items`
//!   with a JSON array of items `{"itemId", "itemName", "price", "presentation", "properties":
//!   {…}}`; the store's template (presentation, e.g. `NORMAL`) lays the properties out on the
//!   label. The variables (properties) must exist in the Pricer store's configuration.
//! - **Links**: `PATCH …/api/public/core/v1/labels` with `[{"barcode": <label barcode>,
//!   "links": [{"itemId": …}]}]` links labels to items.
//! - Any `2xx` is success (Pricer answers `200` or `202 Accepted` with a request id); an
//!   expired token answers `401` (this adapter logs in again once and repeats the request);
//!   other `4xx`/`5xx` reject the batch (the worker retries it later and shows the error).
//!
//! The encoders are pure functions, unit-tested below; the test kit's `FakePricer` speaks the
//! same format for the integration tests.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::vendor::{EslError, EslVendor, LabelBatch, PushFuture};
use super::ShelfTag;
use crate::config::PricerSettings;

/// The item id of a SKU at Pricer: its SKU code.
pub fn item_id(tag: &ShelfTag) -> &str {
    &tag.sku_code
}

/// One item of the `PATCH /api/public/core/v1/items` body. Prices are decimal strings in yuan
/// (`"9.03"`); the properties are the shelf price's parts the label template shows.
pub fn item_json(tag: &ShelfTag, presentation: &str) -> Value {
    let s = &tag.shelf;
    let mut props = serde_json::Map::new();
    let mut put = |k: &str, v: String| {
        props.insert(k.to_owned(), Value::String(v));
    };
    put("currency", "CNY".into());
    put("barcode", tag.barcode.clone().unwrap_or_default());
    put("spec", tag.spec_zh.clone());
    put(
        "unit",
        if s.weighed {
            "千克".into()
        } else {
            tag.unit.clone()
        },
    );
    put("regularPrice", s.regular_price.to_string());
    put(
        "promoted",
        if s.price < s.regular_price { "1" } else { "0" }.into(),
    );
    put(
        "promotionText",
        s.promotion
            .as_ref()
            .map(|p| p.name.zh.clone())
            .unwrap_or_default(),
    );
    put(
        "memberPrice",
        s.member_price.map(|m| m.to_string()).unwrap_or_default(),
    );
    for (i, u) in s.unit_prices.iter().enumerate().take(2) {
        put(&format!("unitPrice{}", i + 1), u.price.to_string());
        put(&format!("unitPrice{}Unit", i + 1), u.unit_zh.clone());
    }
    put(
        "validFrom",
        s.valid_from.map(|t| t.to_rfc3339()).unwrap_or_default(),
    );
    put(
        "validUntil",
        s.valid_until.map(|t| t.to_rfc3339()).unwrap_or_default(),
    );
    json!({
        "itemId": item_id(tag),
        "itemName": tag.name_zh,
        "price": s.price.to_string(),
        "presentation": presentation,
        "properties": props,
    })
}

/// The `PATCH /api/public/core/v1/items` body.
pub fn items_body(items: &[ShelfTag], presentation: &str) -> Value {
    Value::Array(items.iter().map(|t| item_json(t, presentation)).collect())
}

/// The `PATCH /api/public/core/v1/labels` body: each label linked to one item.
pub fn links_body(links: &[(String, String)]) -> Value {
    Value::Array(
        links
            .iter()
            .map(|(label, item)| json!({ "barcode": label, "links": [ { "itemId": item } ] }))
            .collect(),
    )
}

/// The JWT of a log-in answer.
pub fn token_from_login(body: &str) -> Result<String, EslError> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| EslError::Transport(format!("log-in answer is not JSON: {e}")))?;
    v.get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| EslError::Transport("log-in answer has no token".into()))
}

/// The store's API base: `store_url` with `{store}` replaced by the store code in lower case
/// (Pricer store ids are `[a-z0-9-]`), without a trailing slash.
pub fn store_base(store_url: &str, store: &str) -> String {
    store_url
        .replace("{store}", &store.to_lowercase())
        .trim_end_matches('/')
        .to_owned()
}

/// The Pricer Plaza adapter.
pub struct PricerPlaza {
    http: reqwest::Client,
    settings: PricerSettings,
    token: Mutex<Option<String>>,
}

impl std::fmt::Debug for PricerPlaza {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PricerPlaza")
            .field("auth_url", &self.settings.auth_url)
            .field("store_url", &self.settings.store_url)
            .finish()
    }
}

fn transport(e: reqwest::Error) -> EslError {
    EslError::Transport(e.to_string())
}

impl PricerPlaza {
    /// An adapter for the configured API (`[esl.pricer]`, checked by the configuration).
    pub fn new(settings: PricerSettings) -> Result<Self, EslError> {
        let timeout = if settings.timeout_secs == 0 {
            10
        } else {
            settings.timeout_secs
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(timeout))
            .build()
            .map_err(transport)?;
        Ok(Self {
            http,
            settings,
            token: Mutex::new(None),
        })
    }

    fn presentation(&self) -> &str {
        if self.settings.presentation.is_empty() {
            "NORMAL"
        } else {
            &self.settings.presentation
        }
    }

    fn cached_token(&self) -> Option<String> {
        self.token.lock().ok().and_then(|t| t.clone())
    }

    fn set_token(&self, token: Option<String>) {
        if let Ok(mut t) = self.token.lock() {
            *t = token;
        }
    }

    async fn login(&self) -> Result<String, EslError> {
        let resp = self
            .http
            .get(&self.settings.auth_url)
            .basic_auth(&self.settings.username, Some(&self.settings.password))
            .header("accept", "application/json")
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(transport)?;
        if status == 401 || status == 403 {
            return Err(EslError::Unauthorized { status, body });
        }
        if !(200..300).contains(&status) {
            return Err(EslError::Rejected { status, body });
        }
        let token = token_from_login(&body)?;
        self.set_token(Some(token.clone()));
        Ok(token)
    }

    /// PATCHes `body` to `url`, logging in first when there is no token and once more when the
    /// token is refused.
    async fn patch(&self, url: &str, body: &Value) -> Result<u16, EslError> {
        let mut token = match self.cached_token() {
            Some(t) => t,
            None => self.login().await?,
        };
        for attempt in 0..2 {
            let resp = self
                .http
                .patch(url)
                .bearer_auth(&token)
                .json(body)
                .send()
                .await
                .map_err(transport)?;
            let status = resp.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(status);
            }
            let text = resp.text().await.unwrap_or_default();
            if status == 401 && attempt == 0 {
                self.set_token(None);
                token = self.login().await?;
                continue;
            }
            if status == 401 || status == 403 {
                return Err(EslError::Unauthorized { status, body: text });
            }
            return Err(EslError::Rejected { status, body: text });
        }
        Err(EslError::Transport("unreachable retry loop".into()))
    }
}

impl EslVendor for PricerPlaza {
    fn name(&self) -> &'static str {
        "pricer"
    }

    fn push<'a>(&'a self, store: &'a str, batch: &'a LabelBatch) -> PushFuture<'a> {
        Box::pin(async move {
            let base = store_base(&self.settings.store_url, store);
            let mut status = 0;
            if !batch.items.is_empty() {
                status = self
                    .patch(
                        &format!("{base}/api/public/core/v1/items"),
                        &items_body(&batch.items, self.presentation()),
                    )
                    .await?;
            }
            if !batch.links.is_empty() {
                status = self
                    .patch(
                        &format!("{base}/api/public/core/v1/labels"),
                        &links_body(&batch.links),
                    )
                    .await?;
            }
            Ok(status)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use retail_domain::money::Money;
    use retail_domain::pricing::{Bilingual, ShelfPrice, ShelfPromotion, UnitPrice};
    use uuid::Uuid;

    use super::*;

    fn tag() -> ShelfTag {
        ShelfTag {
            sku_code: "300101-01".into(),
            name_zh: "三文鱼".into(),
            name_en: "Salmon".into(),
            spec_zh: "".into(),
            unit: "kg".into(),
            barcode: Some("2000101".into()),
            shelf: ShelfPrice {
                sku_id: Uuid::from_u128(1),
                store: "SH001".into(),
                weighed: true,
                regular_price: Money::from_fen(3680),
                price: Money::from_fen(2576),
                promotion: Some(ShelfPromotion {
                    id: Uuid::from_u128(2),
                    name: Bilingual::new("晚市7折", "Evening 30% off"),
                    markdown: true,
                }),
                member_price: None,
                unit_prices: vec![
                    UnitPrice {
                        price: Money::from_fen(2576),
                        unit_zh: "千克".into(),
                        unit_en: "kg".into(),
                    },
                    UnitPrice {
                        price: Money::from_fen(1288),
                        unit_zh: "500克".into(),
                        unit_en: "500 g".into(),
                    },
                ],
                valid_from: Some(
                    chrono::Utc
                        .with_ymd_and_hms(2026, 11, 11, 12, 0, 0)
                        .unwrap(),
                ),
                valid_until: Some(
                    chrono::Utc
                        .with_ymd_and_hms(2026, 11, 11, 16, 0, 0)
                        .unwrap(),
                ),
            },
        }
    }

    #[test]
    fn items_body_is_pricers_item_array() {
        let body = items_body(&[tag()], "NORMAL");
        assert_eq!(
            body,
            json!([{
                "itemId": "300101-01",
                "itemName": "三文鱼",
                "price": "25.76",
                "presentation": "NORMAL",
                "properties": {
                    "currency": "CNY",
                    "barcode": "2000101",
                    "spec": "",
                    "unit": "千克",
                    "regularPrice": "36.80",
                    "promoted": "1",
                    "promotionText": "晚市7折",
                    "memberPrice": "",
                    "unitPrice1": "25.76",
                    "unitPrice1Unit": "千克",
                    "unitPrice2": "12.88",
                    "unitPrice2Unit": "500克",
                    "validFrom": "2026-11-11T12:00:00+00:00",
                    "validUntil": "2026-11-11T16:00:00+00:00"
                }
            }])
        );
    }

    #[test]
    fn links_body_links_each_label_to_one_item() {
        let body = links_body(&[("L-0001".into(), "300101-01".into())]);
        assert_eq!(
            body,
            json!([{ "barcode": "L-0001", "links": [ { "itemId": "300101-01" } ] }])
        );
    }

    #[test]
    fn login_answer_token_and_store_base() {
        assert_eq!(
            token_from_login(r#"{"token":"eyJ.a.b","tokenType":"JWT"}"#).unwrap(),
            "eyJ.a.b"
        );
        assert!(token_from_login("{}").is_err());
        assert!(token_from_login("<html>").is_err());
        assert_eq!(
            store_base("https://{store}.acme.pcm.pricer-plaza.com/", "SH001"),
            "https://sh001.acme.pcm.pricer-plaza.com"
        );
    }
}
