//! Checkouts (issue 20): a cart with goods of several merchants placed as one order per
//! merchant (`POST /checkouts`), seen together (`GET /checkouts/{id}`) and paid with one
//! payment (`POST /checkouts/{id}/payments`). The rules are [`crate::app::checkouts`]'.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::orders::PlaceOrder;
use super::payments::{payment_choice, CreatePayment};
use super::{Json, Path};
use crate::actor::ClientAddr;
use crate::app::checkouts::{self, CheckoutView, PlacedPart};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::checkouts::Trade;
use crate::storage::payments::PaymentView;
use retail_domain::money::Money;

/// Checkout routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place))
        .routes(routes!(get_checkout))
        .routes(routes!(pay))
}

/// One order of a placed checkout, with the placer's capability to see and cancel it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlacedCheckoutOrder {
    /// The order and its merchant.
    #[serde(flatten)]
    pub part: PlacedPart,
    /// Send as `X-Order-Token` to see the order's pickup code and member and to cancel it.
    pub access_token: String,
}

/// A placed checkout.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlacedCheckout {
    /// The checkout's id (the client's).
    pub id: Uuid,
    /// Its orders, one per merchant whose goods are in the cart: the platform's own goods
    /// first, then merchants by id.
    pub orders: Vec<PlacedCheckoutOrder>,
    /// What the orders ask for together (what one payment takes).
    pub total: Money,
}

/// Places a cart as **one order per merchant** whose goods it holds, each priced, reserved and
/// limited like `POST /orders` (counted once against the rate limits). The coupons and points
/// go to the first order (the platform's own goods when there are any). A cart of one
/// merchant's goods is one order whose id is the checkout's. When one order cannot be placed
/// (409 `out_of_stock`, …), the orders placed before it are cancelled and nothing stays
/// reserved. A retry with the same id answers the same orders; 409 `id_in_use` for an id used
/// by another cart, `checkout_cancelled` for a retry of a checkout whose orders were cancelled.
#[utoipa::path(post, path = "/checkouts", tag = "orders", request_body = PlaceOrder,
    responses((status = 200, body = PlacedCheckout), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
async fn place(
    client: ClientAddr,
    State(state): State<AppState>,
    Json(req): Json<PlaceOrder>,
) -> AppResult<Json<PlacedCheckout>> {
    let placed = checkouts::place(&state, req.into_checkout(&state, client).await?).await?;
    let total = placed.total();
    Ok(Json(PlacedCheckout {
        id: placed.id,
        total,
        orders: placed
            .orders
            .into_iter()
            .map(|part| PlacedCheckoutOrder {
                access_token: crate::app::orders::access_token(&state.keys, part.order.id),
                part,
            })
            .collect(),
    }))
}

/// A checkout: its orders (number, merchant, status, total, what each still owes), what is due
/// together, and its combined payments. Like `GET /orders/{id}` without a token, it shows no
/// pickup code or member.
#[utoipa::path(get, path = "/checkouts/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "checkout id")),
    responses((status = 200, body = CheckoutView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_checkout(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<CheckoutView>> {
    Ok(Json(checkouts::view(&state, id).await?))
}

/// A combined payment and where the shopper pays it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CombinedPaymentIntent {
    /// The trade at the provider (its id is the provider's `out_trade_no`).
    pub trade: Trade,
    /// Each order's share: a payment of that order carrying `trade_id`.
    pub payments: Vec<PaymentView>,
    /// What pays it: a QR code's text, or the provider's page to open.
    pub pay_url: String,
    /// The provider's prepay as it gave it (as for `POST /orders/{id}/payments`).
    #[schema(value_type = Object)]
    pub prepay: retail_payments::Prepay,
}

/// Starts **one payment** for every order of the checkout still pending payment: one trade at
/// the provider for the sum of what they owe, one payment row per order. The body is that of
/// `POST /orders/{id}/payments`; a retry with the same id answers the same trade. When the
/// provider says paid, every order of the trade is paid at once; each order is refunded on its
/// own as a partial refund of the trade. 404 for an unknown checkout; 409 `not_payable` when no
/// order of it is waiting for payment; 422, 429 and 503 as for a single payment.
#[utoipa::path(post, path = "/checkouts/{id}/payments", tag = "payments", request_body = CreatePayment,
    params(("id" = Uuid, Path, description = "checkout id")),
    responses((status = 200, body = CombinedPaymentIntent), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody)))]
async fn pay(
    client: ClientAddr,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<CreatePayment>,
) -> AppResult<Json<CombinedPaymentIntent>> {
    let trade_id = req.id;
    let (provider, scene) = payment_choice(&state, req)?;
    let started = checkouts::start_payment(&state, &client, id, trade_id, provider, &scene).await?;
    Ok(Json(CombinedPaymentIntent {
        pay_url: started.pay_url(&state.public_url),
        trade: started.trade,
        payments: started.payments,
        prepay: started.prepay,
    }))
}
