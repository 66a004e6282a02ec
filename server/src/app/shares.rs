//! Share links with attribution (issue 17), for every member: a link to a product or a
//! group-buy team carrying a share code that names the sharer and the target, signed with the
//! server's keyed hash (the look-up key, domain-separated), so it is deterministic — the same
//! member always gets the same link for the same target (a poster of it can be cached) — and
//! cannot be altered: a tampered or unknown code resolves to nothing (the page renders without
//! attribution; the API answers 400 `bad_share_code`) and never changes anything.
//!
//! Opening a link records a share open (sharer, target, the opener — the member when logged in,
//! else a hash of the browser's cookie — and the time) once per opener per share, and binds a
//! logged-in opener to the sharer when the sharer is a distributor
//! ([`super::distribution::bind_on_open`]). When an order of a member who opened a share in the
//! last [`ATTRIBUTION_DAYS`] days is paid, who shared and who bought are recorded with the
//! order ([`order_paid_in_tx`]) for analytics.
//!
//! Code layout (base64url, no padding, 59 characters): version `1`, target kind (1 = product
//! SKU, 2 = group-buy team; 3 is kept for the bargain), the sharer's member id (16 bytes), the
//! target's id (16 bytes), and the first 10 bytes of HMAC-SHA256 over all of that.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::error::{AppError, AppResult};
use crate::storage::{self, Tx};

/// A paid order is attributed to the last share its buyer opened within this many days.
pub const ATTRIBUTION_DAYS: i64 = 7;

const VERSION: u8 = 1;
const MAC_LEN: usize = 10;
const CODE_LEN: usize = 2 + 16 + 16 + MAC_LEN;

/// What a share link points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ShareTarget {
    /// A product page, on this SKU.
    Product(Uuid),
    /// A group-buy team's page.
    GroupTeam(Uuid),
}

impl ShareTarget {
    fn kind_byte(self) -> u8 {
        match self {
            Self::Product(_) => 1,
            Self::GroupTeam(_) => 2,
        }
    }

    fn id(self) -> Uuid {
        match self {
            Self::Product(id) | Self::GroupTeam(id) => id,
        }
    }

    fn from_parts(kind: u8, id: Uuid) -> Option<Self> {
        match kind {
            1 => Some(Self::Product(id)),
            2 => Some(Self::GroupTeam(id)),
            _ => None,
        }
    }

    /// The target as stored with opens and orders: `product:<sku>`, `group:<team>`.
    pub fn key(self) -> String {
        match self {
            Self::Product(id) => format!("product:{id}"),
            Self::GroupTeam(id) => format!("group:{id}"),
        }
    }

    /// Parses `product:<sku>` or `group:<team>`.
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, id) = text.split_once(':')?;
        let id = id.parse().ok()?;
        match kind {
            "product" => Some(Self::Product(id)),
            "group" => Some(Self::GroupTeam(id)),
            _ => None,
        }
    }
}

/// A share code resolved: who shared what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Share {
    /// The sharing member.
    pub sharer_id: Uuid,
    /// What was shared.
    pub target: ShareTarget,
}

fn mac(state: &AppState, body: &[u8]) -> Vec<u8> {
    let tag = state
        .keys
        .lookup_hash(&format!("share-link:v1|{}", hex::encode(body)));
    hex::decode(&tag[..MAC_LEN * 2]).unwrap_or_default()
}

/// The share code of `sharer` sharing `target` (deterministic, signed).
pub fn share_code(state: &AppState, sharer: Uuid, target: ShareTarget) -> String {
    let mut bytes = Vec::with_capacity(CODE_LEN);
    bytes.push(VERSION);
    bytes.push(target.kind_byte());
    bytes.extend_from_slice(sharer.as_bytes());
    bytes.extend_from_slice(target.id().as_bytes());
    let tag = mac(state, &bytes);
    bytes.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Resolves a share code; `None` for anything tampered, truncated or unknown.
pub fn resolve(state: &AppState, code: &str) -> Option<Share> {
    if code.len() > 80 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(code.trim()).ok()?;
    if bytes.len() != CODE_LEN || bytes[0] != VERSION {
        return None;
    }
    let (body, tag) = bytes.split_at(CODE_LEN - MAC_LEN);
    if !crate::secrets::signatures_match(&hex::encode(mac(state, body)), &hex::encode(tag)) {
        return None;
    }
    let sharer = Uuid::from_slice(&body[2..18]).ok()?;
    let id = Uuid::from_slice(&body[18..34]).ok()?;
    Some(Share {
        sharer_id: sharer,
        target: ShareTarget::from_parts(body[1], id)?,
    })
}

/// [`resolve`], or 400 `bad_share_code`.
pub fn resolve_or_400(state: &AppState, code: &str) -> AppResult<Share> {
    resolve(state, code)
        .ok_or_else(|| AppError::bad_request("bad_share_code", "this share link is not valid"))
}

/// The shop path of `target` with the sharer's signed share code: `/p/{product}?sku={sku}&s=CODE`
/// for a product, `/group/{team}?s=CODE` for a team (404 when the SKU or team is unknown).
pub async fn share_link(
    state: &AppState,
    sharer_member_id: Uuid,
    target: ShareTarget,
) -> AppResult<String> {
    let code = share_code(state, sharer_member_id, target);
    match target {
        ShareTarget::Product(sku) => {
            let skus = storage::catalog::skus(&state.store, &[sku], None).await?;
            let sku = skus
                .get(&sku)
                .ok_or_else(|| AppError::not_found(format!("SKU {sku} not found")))?;
            Ok(product_share_path(
                state,
                sharer_member_id,
                sku.product_id,
                sku.id,
            ))
        }
        ShareTarget::GroupTeam(team) => {
            storage::group_buys::team(&state.store, team)
                .await?
                .ok_or_else(|| AppError::not_found(format!("team {team} not found")))?;
            Ok(format!("/group/{team}?s={code}"))
        }
    }
}

/// [`share_link`] of a product SKU when the caller knows its product already (the product page,
/// a poster): no read.
pub fn product_share_path(state: &AppState, sharer: Uuid, product: Uuid, sku: Uuid) -> String {
    let code = share_code(state, sharer, ShareTarget::Product(sku));
    format!("/p/{product}?sku={sku}&s={code}")
}

/// Who opened a link.
#[derive(Clone, Copy, Debug)]
pub enum Opener<'a> {
    /// A logged-in member.
    Member(Uuid),
    /// A browser without a member, by its cookie (hashed before it is kept).
    Browser(&'a str),
}

/// The opener of a page: the member when logged in, else the browser by its `sid` cookie (none
/// when the browser has no cookie yet).
pub fn opener(member: Option<Uuid>, sid: &str) -> Opener<'_> {
    match member {
        Some(m) => Opener::Member(m),
        None => Opener::Browser(sid),
    }
}

/// Records that `opener` opened the share `code` on the page of `target` (the code's own
/// target must be that page's, else it is ignored): once per opener per share, with the
/// `share_opened` event, and a logged-in opener bound to a distributor sharer. Answers the
/// share when the code is valid for that page, `None` otherwise (nothing recorded). Never
/// fails the page: a failed write is logged.
pub async fn opened(
    state: &AppState,
    code: &str,
    page: ShareTarget,
    opener: Opener<'_>,
) -> Option<Share> {
    let share = resolve(state, code)?;
    if share.target != page {
        return None;
    }
    let (opener_key, member) = match opener {
        Opener::Member(m) if m == share.sharer_id => return Some(share),
        Opener::Member(m) => (format!("m:{m}"), Some(m)),
        Opener::Browser("") => return Some(share),
        Opener::Browser(cookie) => (browser_key(state, cookie), None),
    };
    match storage::shares::record_open(
        &state.store,
        share.sharer_id,
        &share.target.key(),
        &opener_key,
        member,
    )
    .await
    {
        Ok(true) => super::events::record(
            state,
            vec![super::events::ServerEvent::new(
                "share_opened",
                format!("{}:{}:{opener_key}", share.sharer_id, share.target.key()),
                "online",
                serde_json::json!({"target": share.target.key()}),
            )
            .member(member)],
        ),
        Ok(false) => {}
        Err(err) => tracing::warn!(error = %err, "recording a share open failed"),
    }
    if let Some(member) = member {
        if let Err(err) = super::distribution::bind_on_open(state, member, share.sharer_id).await {
            tracing::warn!(error = %err, "binding a buyer to a distributor failed");
        }
    }
    Some(share)
}

/// A browser's member logged in: the shares it opened before (by its `sid` cookie) within
/// [`ATTRIBUTION_DAYS`] are recorded as the member's opens, oldest first, binding the member to
/// a distributor sharer (first touch). Never fails the log-in: a failure is logged.
pub async fn logged_in(state: &AppState, sid: &str, member: Uuid) {
    if sid.is_empty() {
        return;
    }
    let opener = browser_key(state, sid);
    let since = storage::now_ms() - ATTRIBUTION_DAYS * 86_400_000;
    let opens = match storage::shares::opens_of(&state.store, &opener, since).await {
        Ok(opens) => opens,
        Err(err) => {
            tracing::warn!(error = %err, "reading a browser's share opens failed");
            return;
        }
    };
    for (sharer, target) in opens {
        let Some(target) = ShareTarget::parse(&target) else {
            continue;
        };
        let code = share_code(state, sharer, target);
        opened(state, &code, target, Opener::Member(member)).await;
    }
}

fn browser_key(state: &AppState, cookie: &str) -> String {
    format!(
        "d:{}",
        &state.keys.lookup_hash(&format!("share-opener|{cookie}"))[..32]
    )
}

/// [`opened`] for the API: 400 `bad_share_code` for a code that is not valid.
pub async fn open_by_api(state: &AppState, code: &str, member: Option<Uuid>) -> AppResult<Share> {
    let share = resolve_or_400(state, code)?;
    let opener = match member {
        Some(m) => Opener::Member(m),
        None => return Ok(share),
    };
    opened(state, code, share.target, opener)
        .await
        .ok_or_else(|| AppError::bad_request("bad_share_code", "this share link is not valid"))
}

/// When a member's order is paid: records who shared → who bought, from the last share the
/// member opened within [`ATTRIBUTION_DAYS`] days, once per order. Answers the sharer.
pub async fn order_paid_in_tx(tx: &mut Tx, order: Uuid, buyer: Uuid) -> AppResult<Option<Uuid>> {
    let since = storage::now_ms() - ATTRIBUTION_DAYS * 86_400_000;
    let Some((sharer, target)) =
        storage::shares::last_open_of_member_in_tx(tx, buyer, since).await?
    else {
        return Ok(None);
    };
    storage::shares::record_order_in_tx(tx, order, sharer, buyer, &target).await?;
    Ok(Some(sharer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_through_their_keys() {
        let id = Uuid::now_v7();
        for t in [ShareTarget::Product(id), ShareTarget::GroupTeam(id)] {
            assert_eq!(ShareTarget::parse(&t.key()), Some(t));
        }
        assert_eq!(ShareTarget::parse("bargain:x"), None);
    }
}
