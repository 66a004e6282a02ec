//! The lane's HTTP client of the central server (docs/DESIGN.md §5): device identity, catalog pull,
//! pricing context, receipt keys, sale push, and the online-only calls (members, returns,
//! pickups).
//!
//! Every call carries the device credential. Errors are split into [`ApiError::Unreachable`]
//! (network down, server gone: the lane goes on offline) and answers the server gave.

use std::time::Duration;

use retail_devices::server_link::{error_chain, ServerTrust};
use retail_domain::codes::CodeVerifier;
use retail_domain::pricing::Coupon;
use retail_domain::wire::catalog::CatalogPage;
use retail_domain::wire::devices::DeviceIdentity;
use retail_domain::wire::pricing::PricingContext;
use retail_domain::wire::receipts::{ReceiptKey, ReceiptKeys, RegisterReceiptKey};
use retail_domain::wire::sales::{
    CreateCodePayment, CreateLanePayment, CreateReturn, LanePayment, PosSale, PushSales,
    PushSalesResult, ReturnResult,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Errors of a server call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server could not be reached (the lane is offline).
    #[error("the server is unreachable: {0}")]
    Unreachable(String),
    /// The server answered with an error.
    #[error("{message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The stable error code (e.g. `return_exceeds_sale`).
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server answered something this lane cannot read.
    #[error("unexpected answer from the server: {0}")]
    Unexpected(String),
}

impl ApiError {
    /// True when the server could not be reached.
    pub fn is_offline(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }
}

/// Result of a server call.
pub type ApiResult<T> = Result<T, ApiError>;

/// A member as the server shows it to a lane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteMember {
    /// Member id.
    pub id: Uuid,
    /// Masked phone number.
    pub phone: String,
    /// Name (may be empty).
    #[serde(default)]
    pub name: String,
    /// Tier.
    pub tier: RemoteTier,
    /// Points balance.
    pub points: i64,
    /// Stored balance.
    pub balance: retail_domain::money::Money,
}

/// A member's tier as the server shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteTier {
    /// Tier code, e.g. `gold`.
    pub code: String,
    /// Tier name, e.g. `金卡会员`.
    #[serde(default)]
    pub name: String,
}

/// The server's HTTP API as a lane uses it.
#[derive(Clone, Debug)]
pub struct ServerApi {
    base: String,
    credential: String,
    client: reqwest::Client,
    trust: Option<ServerTrust>,
}

fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30))
}

impl ServerApi {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`) with a device credential;
    /// `https://` trusts the operating system's roots (see [`ServerApi::with_trust`]).
    pub fn new(base: &str, credential: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            credential: credential.to_owned(),
            client: client_builder().build().unwrap_or_default(),
            trust: None,
        }
    }

    /// A client trusting exactly `trust` for HTTPS: the chain's CA only when the lane has a
    /// `ca_file` (a server with a certificate from another CA is refused during the handshake,
    /// before the credential or a sale is sent).
    pub fn with_trust(base: &str, credential: &str, trust: &ServerTrust) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            credential: credential.to_owned(),
            client: trust
                .http_client(client_builder())
                .unwrap_or_else(|_| reqwest::Client::new()),
            trust: Some(trust.clone()),
        }
    }

    /// Why a call did not reach the server, with its causes (a refused certificate says so).
    fn unreachable(&self, err: &reqwest::Error) -> ApiError {
        ApiError::Unreachable(match &self.trust {
            Some(trust) => trust.explain(err),
            None => error_chain(err),
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    async fn answer<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> ApiResult<T> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        if !(200..300).contains(&status) {
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            if status == 502 || status == 503 || status == 504 {
                return Err(ApiError::Unreachable(
                    match body["error"]["message"].as_str() {
                        Some(why) => format!("server answered {status}: {why}"),
                        None => format!("server answered {status}"),
                    },
                ));
            }
            return Err(ApiError::Refused {
                status,
                code: body["error"]["code"].as_str().unwrap_or("").to_owned(),
                message: body["error"]["message"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("the server answered {status}")),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Unexpected(e.to_string()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> ApiResult<T> {
        self.answer(
            self.client
                .get(self.url(path))
                .bearer_auth(&self.credential),
        )
        .await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
    ) -> ApiResult<T> {
        self.answer(
            self.client
                .request(method, self.url(path))
                .bearer_auth(&self.credential)
                .json(body),
        )
        .await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> ApiResult<T> {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// Whether the server answers at all (`GET /healthz`): the lane's heartbeat while it has
    /// nothing to push.
    pub async fn ping(&self) -> ApiResult<()> {
        let response = self
            .client
            .get(format!("{}/healthz", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        match response.status().as_u16() {
            502..=504 => Err(ApiError::Unreachable(format!(
                "server answered {}",
                response.status()
            ))),
            _ => Ok(()),
        }
    }

    /// `GET /devices/me`: who this device is; refuses a credential of another kind of device.
    pub async fn identify(&self) -> ApiResult<DeviceIdentity> {
        let response = self
            .client
            .get(self.url("/devices/me"))
            .bearer_auth(&self.credential)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        DeviceIdentity::from_response(status, &body, "pos").map_err(|message| ApiError::Refused {
            status,
            code: "device_refused".into(),
            message,
        })
    }

    /// One page of the catalog change feed.
    pub async fn catalog_changes(&self, since: i64, limit: i64) -> ApiResult<CatalogPage> {
        self.get(&format!("/catalog/changes?since={since}&limit={limit}"))
            .await
    }

    /// The pricing context of this lane's store (`GET /pricing/context`): promotions, points
    /// rules, the store's rounding and the key that verifies signed codes offline. A context
    /// whose key does not parse is refused.
    pub async fn pricing_context(&self) -> ApiResult<PricingContext> {
        let context: PricingContext = self.get("/pricing/context").await?;
        CodeVerifier::from_public_b64(&context.public_key)
            .map_err(|e| ApiError::Unexpected(format!("code verifier key: {e}")))?;
        Ok(context)
    }

    /// Who may sign in at this lane's store, with their PIN hashes (`GET /devices/me/roster`).
    pub async fn roster(&self) -> ApiResult<retail_domain::wire::staff::LaneRoster> {
        self.get("/devices/me/roster").await
    }

    /// Registers the public key this lane signs its receipt codes with
    /// (`PUT /pos/receipt-key`; the same key again is fine).
    pub async fn register_receipt_key(&self, public_key: &str) -> ApiResult<ReceiptKey> {
        let body = RegisterReceiptKey {
            public_key: public_key.to_owned(),
        };
        self.send(reqwest::Method::PUT, "/pos/receipt-key", &body)
            .await
    }

    /// The receipt keys registered by the lanes of this lane's store (`GET /pos/receipt-keys`).
    pub async fn receipt_keys(&self) -> ApiResult<ReceiptKeys> {
        self.get("/pos/receipt-keys").await
    }

    /// Pushes a batch of sales.
    pub async fn push_sales(&self, sales: Vec<PosSale>) -> ApiResult<PushSalesResult> {
        self.post("/pos/sales", &PushSales { sales }).await
    }

    /// Pushes a batch of cash events (`POST /pos/cash-events`).
    pub async fn push_cash_events(
        &self,
        events: Vec<retail_domain::wire::cash_control::LaneCashEvent>,
    ) -> ApiResult<retail_domain::wire::cash_control::PushCashEventsResult> {
        self.post(
            "/pos/cash-events",
            &retail_domain::wire::cash_control::PushCashEvents { events },
        )
        .await
    }

    /// A member by id (online).
    pub async fn member(&self, id: Uuid) -> ApiResult<RemoteMember> {
        self.get(&format!("/members/{id}")).await
    }

    /// A member by phone number (online; `POST /members/lookup`, the number in the body, never
    /// in a URL).
    pub async fn member_by_phone(&self, phone: &str) -> ApiResult<RemoteMember> {
        let phone: String = phone.chars().filter(|c| c.is_ascii_digit()).collect();
        self.post("/members/lookup", &serde_json::json!({ "phone": phone }))
            .await
    }

    /// Records a return (online).
    pub async fn create_return(&self, request: &CreateReturn) -> ApiResult<ReturnResult> {
        self.post("/returns", request).await
    }

    /// A sale with its lines and returns (online).
    pub async fn sale(&self, id: Uuid) -> ApiResult<serde_json::Value> {
        self.get(&format!("/pos/sales/{id}")).await
    }

    /// An order (online).
    pub async fn order(&self, id: Uuid) -> ApiResult<serde_json::Value> {
        self.get(&format!("/orders/{id}")).await
    }

    /// Asks for a QR payment intent for (part of) the sale being rung up (online; a retry with
    /// the same id answers the same intent).
    pub async fn create_lane_payment(&self, request: &CreateLanePayment) -> ApiResult<LanePayment> {
        self.post("/pos/payments", request).await
    }

    /// Asks the server to charge the shopper's payment code (付款码) (online; a retry with the
    /// same id charges nothing again: it answers where the payment stands).
    pub async fn create_code_payment(&self, request: &CreateCodePayment) -> ApiResult<LanePayment> {
        self.post("/pos/payments/code", request).await
    }

    /// Where a QR or payment-code payment stands (the server asks the provider about an open
    /// payment code).
    pub async fn lane_payment(&self, id: Uuid) -> ApiResult<LanePayment> {
        self.get(&format!("/pos/payments/{id}")).await
    }

    /// Cancels a QR payment not paid yet, or reverses an open payment code at its provider
    /// (409 `already_paid` when the shopper was quicker).
    pub async fn cancel_lane_payment(&self, id: Uuid) -> ApiResult<LanePayment> {
        self.post(
            &format!("/pos/payments/{id}/cancel"),
            &serde_json::json!({}),
        )
        .await
    }

    /// The coupons a member can use now at this lane's store (online).
    pub async fn member_coupons(&self, member: Uuid) -> ApiResult<Vec<Coupon>> {
        self.get(&format!("/pos/members/{member}/coupons")).await
    }

    /// Hands a pickup order over (online).
    pub async fn hand_over(
        &self,
        id: Uuid,
        body: &serde_json::Value,
    ) -> ApiResult<serde_json::Value> {
        self.post(&format!("/orders/{id}/pickup"), body).await
    }
}
