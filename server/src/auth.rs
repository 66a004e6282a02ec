//! Who is calling an HTTP endpoint: staff (bearer session tokens from `POST
//! /api/v1/auth/login`) and registered devices (bearer device credentials), as axum
//! extractors producing the plain actor values of [`crate::actor`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::actor::{Caller, ClientAddr, DeviceActor, StaffActor};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::secrets::token_hash;
use crate::storage;

/// What a session whose password was reset may still do: change it, see who it is, log out
/// (path endings: the API router is nested under `/api/v1`).
const PASSWORD_CHANGE_PATHS: [&str; 3] = ["/auth/password", "/auth/me", "/auth/logout"];

/// The API routes a merchant administrator may call (method and route, under `/api/v1`), each
/// scoped to its own merchant by its use case ([`crate::app::merchants`]). Every other route
/// answers 403 before its handler runs, so a route added later stays closed to merchants until
/// it is listed here with scoping of its own (the isolation test walks every route).
pub const MERCHANT_ROUTES: &[(&str, &str)] = &[
    ("GET", "/auth/me"),
    ("POST", "/auth/logout"),
    ("POST", "/auth/password"),
    ("GET", "/merchants"),
    ("GET", "/merchants/{id}"),
    ("GET", "/commission-rates"),
    ("GET", "/products"),
    ("POST", "/products"),
    ("PUT", "/products/{id}/status"),
    ("PUT", "/skus/{sku_id}/price"),
    ("PUT", "/skus/{sku_id}/status"),
    ("GET", "/after-sales"),
    ("POST", "/after-sales/{id}/approve"),
    ("POST", "/after-sales/{id}/reject"),
    ("POST", "/after-sales/{id}/ask-info"),
    ("POST", "/after-sales/{id}/receive"),
    ("POST", "/after-sales/{id}/ship-replacement"),
    ("GET", "/orders"),
    ("GET", "/orders/{id}/delivery"),
    ("POST", "/orders/{id}/waybill"),
    ("GET", "/merchant-statements"),
    ("GET", "/merchant-statements/{id}"),
    ("GET", "/merchant-statements/{id}/csv"),
    // Its own stores, their devices and its own promotions (app::locations, app::devices,
    // app::promotions scope each by the merchant).
    ("GET", "/locations"),
    ("POST", "/locations"),
    ("GET", "/devices"),
    ("POST", "/devices"),
    ("POST", "/devices/{id}/revoke"),
    ("GET", "/promotions"),
    ("POST", "/promotions"),
    ("POST", "/promotions/{id}/end"),
    // The managers and cashiers of its own stores (app::staff_admin: another merchant's, the
    // platform's staff and every merchant administrator are 404; roles beyond a store's 403).
    ("GET", "/staff"),
    ("POST", "/staff"),
    ("GET", "/staff/{id}"),
    ("PATCH", "/staff/{id}"),
    ("POST", "/staff/{id}/password"),
    ("PUT", "/staff/{id}/pin"),
    ("DELETE", "/staff/{id}/pin"),
];

/// Whether a merchant administrator may call this route (see [`MERCHANT_ROUTES`]).
fn merchant_may_call(parts: &Parts) -> bool {
    let Some(route) = parts.extensions.get::<axum::extract::MatchedPath>() else {
        return false;
    };
    let route = route.as_str();
    let route = route.strip_prefix("/api/v1").unwrap_or(route);
    MERCHANT_ROUTES
        .iter()
        .any(|(method, path)| parts.method.as_str() == *method && route == *path)
}

fn bearer(parts: &Parts) -> AppResult<&str> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| AppError::Unauthorized("missing Authorization header".into()))?;
    let value = header
        .to_str()
        .map_err(|_| AppError::Unauthorized("malformed Authorization header".into()))?;
    value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .ok_or_else(|| AppError::Unauthorized("expected a Bearer token".into()))
}

impl FromRequestParts<AppState> for StaffActor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let token = bearer(parts)?;
        if !token.starts_with("st_") {
            return Err(AppError::Unauthorized("not a staff token".into()));
        }
        let actor = storage::staff::session_actor(&state.store, &token_hash(token))
            .await?
            .ok_or_else(|| {
                AppError::Unauthorized("session expired or revoked, log in again".into())
            })?;
        if actor.must_change_password
            && !PASSWORD_CHANGE_PATHS
                .iter()
                .any(|p| parts.uri.path().ends_with(p))
        {
            return Err(AppError::Forbidden(
                "an administrator reset your password: choose a new one first \
                 (POST /api/v1/auth/password)"
                    .into(),
            ));
        }
        if actor.role == crate::actor::Role::MerchantAdmin && !merchant_may_call(parts) {
            return Err(AppError::Forbidden(
                "a merchant administrator may not use this route".into(),
            ));
        }
        Ok(actor)
    }
}

impl FromRequestParts<AppState> for DeviceActor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let token = bearer(parts)?;
        if !token.starts_with("dv_") {
            return Err(AppError::Unauthorized("not a device credential".into()));
        }
        match storage::devices::by_secret(&state.store, &token_hash(token)).await? {
            Some((device, None)) => Ok(device),
            Some((_, Some(_revoked_at))) => Err(AppError::Unauthorized(
                "this device has been revoked".into(),
            )),
            None => Err(AppError::Unauthorized("unknown device credential".into())),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        if bearer(parts)?.starts_with("dv_") {
            DeviceActor::from_request_parts(parts, state)
                .await
                .map(Self::Device)
        } else {
            StaffActor::from_request_parts(parts, state)
                .await
                .map(Self::Staff)
        }
    }
}

/// An optional credential: no `Authorization` header → `None`; a header that does not
/// authenticate → 401.
async fn if_presented<T>(parts: &mut Parts, state: &AppState) -> AppResult<Option<T>>
where
    T: FromRequestParts<AppState, Rejection = AppError>,
{
    if parts
        .headers
        .contains_key(axum::http::header::AUTHORIZATION)
    {
        T::from_request_parts(parts, state).await.map(Some)
    } else {
        Ok(None)
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for StaffActor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Option<Self>> {
        if_presented(parts, state).await
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Option<Self>> {
        if_presented(parts, state).await
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    /// The TCP peer from axum's `ConnectInfo` (set by [`crate::Application::run_until`]), or,
    /// when that peer is one of `cluster.trusted_proxies`, the client it forwarded for
    /// ([`crate::forwarded::client_address`]); a router driven without a socket (unit tests)
    /// counts as the unspecified address.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let trusted = &state.settings.cluster.trusted_proxies;
        if trusted.is_empty() {
            return Ok(ClientAddr(peer));
        }
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(ClientAddr(crate::forwarded::client_address(
            peer, forwarded, trusted,
        )))
    }
}

/// A caller allowed to read the Prometheus `/metrics` ([`crate::config::MetricsSettings`]): a
/// bearer equal to `metrics.token`; a head-office staff session; or, only while no token is
/// configured, any request from a loopback peer (a scraper on this host). Anyone else gets 401
/// (403 for staff of another role).
#[derive(Clone, Copy, Debug)]
pub struct MetricsReader;

impl FromRequestParts<AppState> for MetricsReader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let configured = state.settings.metrics.token.trim();
        if !parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            let ClientAddr(peer) = match ClientAddr::from_request_parts(parts, state).await {
                Ok(peer) => peer,
                Err(never) => match never {},
            };
            return if configured.is_empty() && peer.to_canonical().is_loopback() {
                Ok(Self)
            } else {
                Err(AppError::Unauthorized(
                    "metrics need Authorization: Bearer <metrics token>".into(),
                ))
            };
        }
        let token = bearer(parts)?;
        if !configured.is_empty() && crate::secrets::signatures_match(token, configured) {
            return Ok(Self);
        }
        if token.starts_with("st_") {
            let staff = StaffActor::from_request_parts(parts, state).await?;
            staff.require(&[crate::actor::Role::HeadOfficeAdmin])?;
            return Ok(Self);
        }
        Err(AppError::Unauthorized("wrong metrics token".into()))
    }
}
