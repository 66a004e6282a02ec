//! Group-buy (拼团, issue 17): head office creates a group-buy on a SKU (group price, team size,
//! time to fill, per-member limit, window, units set aside, new members only); a member opens a
//! team by placing and paying an order at the group price, others join an open team the same way.
//!
//! - **The price** is a sale-price promotion offered to that order alone (id = the group-buy's id,
//!   exclusive, members only) through [`checkout::place_with`]: the engine prices it and explains
//!   it like any promotion, the order's pricing record names it. It is never stored among the
//!   promotions, so no other basket and no lane ever gets it.
//! - **Seats are taken when the order is placed** ([`storage::group_buys::take_seat`]: one short
//!   transaction, the last seat taken exactly once, a member once per team), before the order is
//!   handed to the order writer; a refused order gives its seat back at once, and the sweeper
//!   gives back the seats of orders cancelled (unpaid past their deadline, cancelled by the
//!   shopper) or never placed.
//! - **Held until filled**: a paid group order whose team has not filled is held — the store is
//!   not told of a pickup order, it is not on the pick-and-pack list, and it cannot be made
//!   ready, handed over or shipped (409 `group_pending`). When the last seat is paid the team is
//!   `filled` (once), the members are told (`group_filled`) and pickup orders are announced to
//!   their store.
//! - **Failed teams**: past the deadline unfilled, the sweeper ([`sweep`]) fails the team and
//!   cancels every member's order through the order state machine in the same transaction
//!   (stock released, payments refunded through their original tender by the refunds path,
//!   members told `group_failed`) — driven from the database, so it survives restarts, and once:
//!   the team's status moves from `open` exactly once.
//!
//! The "fill with a virtual member" option of the issue is not built.

use chrono::{DateTime, Utc};
use retail_domain::money::Money;
use retail_domain::order::{Fulfilment, OrderStatus};
use retail_domain::pricing::{Audience, Promotion, PromotionRule, Scope, SkuPrice, Stacking};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::checkout::{self, Address, Checkout};
use super::AppState;
use crate::actor::{ClientAddr, Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage::group_buys::{GroupBuy, SeatIn, SeatRefusal, Team};
use crate::storage::orders::OrderPlaced;
use crate::storage::{self, now_ms};

/// A group-buy to create.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroupBuy {
    /// Client id (UUIDv7); a retry with the same id answers the group-buy created first.
    pub id: Uuid,
    /// The SKU.
    pub sku_id: Uuid,
    /// Chinese name (empty: the SKU's).
    #[serde(default)]
    pub name_zh: String,
    /// English name.
    #[serde(default)]
    pub name_en: String,
    /// The group price per unit (above zero, at most the SKU's chain price).
    pub group_price: Money,
    /// Members per team, the opener included: 2 to 50.
    pub team_size: i64,
    /// Hours a team has to fill: 1 to 168.
    pub fill_hours: i64,
    /// Units one member may hold in this group-buy: 1 to 99.
    pub per_member_limit: i64,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End (after the start, at most a year later).
    pub ends_at: DateTime<Utc>,
    /// Units set aside: 1 to 1,000,000.
    pub stock_units: i64,
    /// Only members without a paid order before may open or join a team.
    #[serde(default)]
    pub new_members_only: bool,
}

/// Creates a group-buy (head office; audited as `group_buy.create`). A retry with the same id
/// answers the first one.
pub async fn create(state: &AppState, staff: &StaffActor, g: &NewGroupBuy) -> AppResult<GroupBuy> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    retail_domain::ids::require_v7(g.id).map_err(|e| AppError::field("id", e.to_string()))?;
    if let Some(existing) = storage::group_buys::get(&state.store, g.id).await? {
        return Ok(existing);
    }
    let skus = storage::catalog::skus(&state.store, &[g.sku_id], None).await?;
    let sku = skus
        .get(&g.sku_id)
        .ok_or_else(|| AppError::field("sku_id", "no such SKU"))?;
    if sku.weighed {
        return Err(AppError::field(
            "sku_id",
            "a weighed SKU cannot be sold in teams",
        ));
    }
    if g.group_price.fen() <= 0 || g.group_price > sku.price {
        return Err(AppError::field(
            "group_price",
            format!("above zero and at most the SKU's price ({})", sku.price),
        ));
    }
    for (field, value, min, max) in [
        ("team_size", g.team_size, 2, 50),
        ("fill_hours", g.fill_hours, 1, 168),
        ("per_member_limit", g.per_member_limit, 1, 99),
        ("stock_units", g.stock_units, 1, 1_000_000),
    ] {
        if !(min..=max).contains(&value) {
            return Err(AppError::field(field, format!("{min} to {max}")));
        }
    }
    if g.ends_at <= g.starts_at || g.ends_at - g.starts_at > chrono::Duration::days(366) {
        return Err(AppError::field(
            "ends_at",
            "after starts_at, at most a year later",
        ));
    }
    if g.name_zh.chars().count() > 60 || g.name_en.chars().count() > 60 {
        return Err(AppError::field("name_zh", "at most 60 characters"));
    }
    let name_zh = match g.name_zh.trim() {
        "" => format!("拼团 {}", sku.name_zh),
        n => n.to_owned(),
    };
    let name_en = match g.name_en.trim() {
        "" => format!("Group-buy {}", sku.name_en),
        n => n.to_owned(),
    };
    let buy = GroupBuy {
        id: g.id,
        sku_id: g.sku_id,
        name_zh,
        name_en,
        group_price: g.group_price,
        team_size: g.team_size,
        fill_hours: g.fill_hours,
        per_member_limit: g.per_member_limit,
        starts_at: g.starts_at,
        ends_at: g.ends_at,
        stock_units: g.stock_units,
        units_taken: 0,
        new_members_only: g.new_members_only,
        status: "active".into(),
        created_at: Utc::now(),
    };
    storage::group_buys::insert(&state.store, &buy, &staff.actor()).await?;
    storage::group_buys::get(&state.store, g.id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("group-buy {} vanished", g.id)))
}

/// Pauses (`paused = true`: no team opens or is joined; open teams run to their deadline) or
/// resumes a group-buy (head office; audited as `group_buy.status`).
pub async fn set_paused(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    paused: bool,
) -> AppResult<GroupBuy> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let status = if paused { "paused" } else { "active" };
    if !storage::group_buys::set_status(&state.store, id, status, &staff.actor()).await? {
        return Err(AppError::not_found(format!("group-buy {id} not found")));
    }
    get(state, id).await
}

/// One group-buy; 404 when unknown.
pub async fn get(state: &AppState, id: Uuid) -> AppResult<GroupBuy> {
    storage::group_buys::get(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("group-buy {id} not found")))
}

/// The promotion that gives one order the group price: a sale price of the group-buy's SKU, for
/// members, exclusive (no other promotion or coupon on that line), running now.
pub fn group_price_promotion(g: &GroupBuy) -> Promotion {
    let now = Utc::now();
    Promotion {
        id: g.id,
        name_zh: format!("拼团价 {}", g.name_zh),
        name_en: format!("Group-buy price {}", g.name_en),
        starts_at: now - chrono::Duration::minutes(1),
        ends_at: now + chrono::Duration::hours(1),
        stores: Vec::new(),
        audience: Audience::Members,
        scope: Scope::skus([g.sku_id]),
        rule: PromotionRule::SalePrice {
            prices: vec![SkuPrice {
                sku_id: g.sku_id,
                price: g.group_price,
            }],
        },
        stacking: Stacking::Exclusive,
        priority: -1000,
    }
}

/// Where a member takes a seat.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// Open a new team of this group-buy.
    Open(Uuid),
    /// Join this team.
    Join(Uuid),
}

/// A member's order for a seat.
#[derive(Debug)]
pub struct SeatOrder {
    /// The order's client id (UUIDv7); a retry answers the first result.
    pub order_id: Uuid,
    /// The member.
    pub member: Uuid,
    /// Units (1 to the per-member limit).
    pub qty: i64,
    /// Delivery or pickup.
    pub fulfilment: Fulfilment,
    /// The pickup store.
    pub store: Option<String>,
    /// The delivery address.
    pub address: Option<Address>,
    /// The delivery slot.
    pub slot: String,
    /// Who places it (`shop`, or the page session's actor).
    pub created_by: String,
    /// The client's address.
    pub client: ClientAddr,
}

/// A seat taken and its order placed.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Joined {
    /// The team.
    pub team_id: Uuid,
    /// The order to pay (at the group price) before its deadline.
    #[serde(flatten)]
    pub order: OrderPlaced,
}

fn refusal(r: SeatRefusal, g: &GroupBuy) -> AppError {
    match r {
        SeatRefusal::NotRunning => AppError::conflict(
            "group_buy_not_running",
            "this group-buy is not running (paused, not started or over)",
        ),
        SeatRefusal::SoldOut => {
            AppError::conflict("group_buy_sold_out", "this group-buy has sold out")
        }
        SeatRefusal::OverLimit => AppError::conflict(
            "group_buy_limit",
            format!(
                "a member may buy at most {} in this group-buy",
                g.per_member_limit
            ),
        ),
        SeatRefusal::TeamFull => AppError::conflict("team_full", "this team is full"),
        SeatRefusal::TeamClosed => AppError::conflict(
            "team_closed",
            "this team is closed (its time is up or it failed)",
        ),
        SeatRefusal::AlreadyJoined => {
            AppError::conflict("already_joined", "you are in this team already")
        }
    }
}

/// Opens a team or joins one: checks the member and the group-buy, takes a seat (refused with a
/// clear 409 and nothing changed: `team_full`, `team_closed`, `already_joined`,
/// `group_buy_sold_out`, `group_buy_limit`, `group_buy_not_running`, `new_members_only`), then
/// places the order at the group price through the checkout; a refused order gives its seat
/// back. A retry with the same order id answers the first result.
pub async fn take_seat(state: &AppState, target: Target, req: SeatOrder) -> AppResult<Joined> {
    retail_domain::ids::require_v7(req.order_id)
        .map_err(|e| AppError::field("id", e.to_string()))?;
    let (g, seat_in) = match target {
        Target::Open(id) => (
            get(state, id).await?,
            SeatIn::New {
                team_id: retail_domain::ids::new_id(),
                deadline_at: 0,
            },
        ),
        Target::Join(team) => {
            let t = storage::group_buys::team(&state.store, team)
                .await?
                .ok_or_else(|| AppError::not_found(format!("team {team} not found")))?;
            (get(state, t.group_buy_id).await?, SeatIn::Existing(team))
        }
    };
    if let Some(seat) = storage::group_buys::seat_of_order(&state.store, req.order_id).await? {
        // A retry: the seat is there; the order answers its first result.
        if seat.member_id != req.member {
            return Err(AppError::conflict("id_taken", "this order id is taken"));
        }
        let order = place_order(state, &g, &req).await?;
        return Ok(Joined {
            team_id: seat.team_id,
            order,
        });
    }
    if !(1..=g.per_member_limit).contains(&req.qty) {
        return Err(AppError::field(
            "qty",
            format!("1 to {}", g.per_member_limit),
        ));
    }
    if g.new_members_only && storage::group_buys::has_bought(&state.store, req.member).await? {
        return Err(AppError::conflict(
            "new_members_only",
            "this group-buy is for new members only",
        ));
    }
    let now = now_ms();
    let seat_in = match seat_in {
        SeatIn::New { team_id, .. } => SeatIn::New {
            team_id,
            deadline_at: now.saturating_add(g.fill_hours.saturating_mul(3_600_000)),
        },
        other => other,
    };
    let team_id = storage::group_buys::take_seat(
        &state.store,
        g.id,
        seat_in,
        req.member,
        req.order_id,
        req.qty,
        g.per_member_limit,
        g.team_size,
        now,
    )
    .await?
    .map_err(|r| refusal(r, &g))?;
    match place_order(state, &g, &req).await {
        Ok(order) => Ok(Joined { team_id, order }),
        Err(err) => {
            let mut tx = state.store.begin().await?;
            storage::group_buys::release_seat_in_tx(&mut tx, &state.store, req.order_id).await?;
            tx.commit().await?;
            Err(err)
        }
    }
}

async fn place_order(state: &AppState, g: &GroupBuy, req: &SeatOrder) -> AppResult<OrderPlaced> {
    checkout::place_with(
        state,
        Checkout {
            id: req.order_id,
            fulfilment: req.fulfilment,
            store: req.store.clone(),
            address: req.address.clone(),
            slot: req.slot.clone(),
            lines: vec![(g.sku_id, req.qty)],
            member_id: Some(req.member),
            coupons: Vec::new(),
            points_to_redeem: 0,
            created_by: req.created_by.clone(),
            client: req.client,
        },
        &[group_price_promotion(g)],
    )
    .await
}

/// After an order is paid (called by [`super::payments::after_paid`], and by the sweeper for a
/// payment whose follow-up was lost): its seat is marked paid, and when it was the team's last
/// seat the team fills (once), its members are told and its pickup orders announced to their
/// stores. Answers whether the order is still held (its team has not filled).
pub async fn order_paid(state: &AppState, order: Uuid) -> AppResult<bool> {
    // Most paid orders are not group orders: one index read, no write transaction.
    if !storage::group_buys::has_seat(&state.store, order).await? {
        return Ok(false);
    }
    let now = now_ms();
    let mut tx = state.store.begin().await?;
    let Some(team) = storage::group_buys::mark_paid_in_tx(&mut tx, order, now).await? else {
        tx.rollback().await?;
        return storage::group_buys::is_held(&state.store, order).await;
    };
    let filled = storage::group_buys::fill_if_complete_in_tx(&mut tx, team, now).await?;
    if let Some(orders) = &filled {
        let mut heads = Vec::with_capacity(orders.len());
        for id in orders {
            heads.push(storage::orders::lock_head(&mut tx, &state.store, *id).await?);
        }
        let refs: Vec<&_> = heads.iter().collect();
        storage::notices::record_group_in_tx(
            &mut tx,
            &refs,
            storage::notices::NoticeKind::GroupFilled,
        )
        .await?;
    }
    tx.commit().await?;
    if let Some(orders) = filled {
        tracing::info!(team = %team, "group-buy team filled");
        announce_released(state, &orders).await;
        return Ok(false);
    }
    Ok(true)
}

/// Tells the stores of a filled team's paid pickup orders that they are to be picked.
async fn announce_released(state: &AppState, orders: &[Uuid]) {
    if state.bus.is_none() {
        return;
    }
    for id in orders {
        match storage::orders::get(&state.store, *id).await {
            Ok(order)
                if order.fulfilment == Fulfilment::Pickup && order.status == OrderStatus::Paid =>
            {
                super::orders::announce(state, &order, "created").await;
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(order = %id, error = %err, "reading a released order failed")
            }
        }
    }
}

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Teams failed (their orders cancelled and refunded).
    pub failed: usize,
    /// Seats given back (orders cancelled or never placed).
    pub released: usize,
    /// Paid seats caught up with.
    pub caught_up: usize,
}

/// The sweeper's part (every sweep, from the database): paid seats whose follow-up was lost
/// are caught up, seats of cancelled or never-placed orders given back, and teams past their
/// deadline failed — each in a transaction of its own, each once.
pub async fn sweep(state: &AppState) -> AppResult<Swept> {
    let mut swept = Swept::default();
    for order in storage::group_buys::paid_but_held(&state.store, 200).await? {
        order_paid(state, order).await?;
        swept.caught_up += 1;
    }
    let before = now_ms().saturating_sub(5 * 60 * 1000);
    for order in storage::group_buys::stale_seats(&state.store, before, 200).await? {
        let mut tx = state.store.begin().await?;
        if storage::group_buys::release_seat_in_tx(&mut tx, &state.store, order).await? {
            swept.released += 1;
        }
        tx.commit().await?;
    }
    loop {
        let overdue = storage::group_buys::overdue_teams(&state.store, now_ms(), 100).await?;
        for team in &overdue {
            if fail_team(state, *team).await? {
                swept.failed += 1;
            }
        }
        if overdue.len() < 100 {
            return Ok(swept);
        }
    }
}

/// Fails a team past its deadline, in one transaction: the team `failed` (once), every
/// member's order cancelled through the order state machine (reservation released, payments
/// refunded to their tender, what the pricing took given back), the units set aside back, the
/// members told. False when the team was not open any more.
pub async fn fail_team(state: &AppState, team: Uuid) -> AppResult<bool> {
    let mut tx = state.store.begin().await?;
    let mut orders = Vec::new();
    if !storage::group_buys::fail_in_tx(&mut tx, &state.store, team, now_ms(), &mut orders).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    let mut heads = Vec::with_capacity(orders.len());
    for id in orders {
        if !storage::orders::exists_in_tx(&mut tx, id).await? {
            continue; // a seat whose order was never placed
        }
        super::orders::move_in_tx(
            &mut tx,
            &state.store,
            id,
            None,
            OrderStatus::Cancelled,
            "system",
            "拼团未成团 group-buy team not filled",
        )
        .await?;
        heads.push(storage::orders::lock_head(&mut tx, &state.store, id).await?);
    }
    let refs: Vec<&_> = heads.iter().collect();
    storage::notices::record_group_in_tx(&mut tx, &refs, storage::notices::NoticeKind::GroupFailed)
        .await?;
    tx.commit().await?;
    tracing::info!(team = %team, "group-buy team failed: its orders are cancelled and refunded");
    Ok(true)
}

/// A member of a team as anyone with the link sees it (masked).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TeamMemberView {
    /// Nickname, masked (`张**`), or `会员` when none.
    pub nickname: String,
    /// Phone, masked (`138****8000`).
    pub phone: String,
    /// The team's opener.
    pub leader: bool,
    /// Paid (a held seat is waiting for its payment).
    pub paid: bool,
}

/// A team as its page shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TeamView {
    /// The team.
    pub team: Team,
    /// Its group-buy.
    pub group_buy: GroupBuy,
    /// Members, in joining order.
    pub members: Vec<TeamMemberView>,
    /// Seats not taken.
    pub seats_left: i64,
    /// Seconds until the deadline (0 once past).
    pub seconds_left: i64,
    /// The share link's path (`/group/{team_id}`).
    pub share_path: String,
}

/// A nickname masked for others to see: its first character and `**` (`会员` when empty).
pub fn mask_name(name: &str) -> String {
    match name.trim().chars().next() {
        Some(first) => format!("{first}**"),
        None => "会员".into(),
    }
}

/// A team with its members masked; 404 when unknown.
pub async fn team_view(state: &AppState, id: Uuid) -> AppResult<TeamView> {
    let team = storage::group_buys::team(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("team {id} not found")))?;
    let group_buy = get(state, team.group_buy_id).await?;
    let mut members = Vec::new();
    for seat in storage::group_buys::seats(&state.store, id).await? {
        let m = storage::members::find_by_id(
            &state.store,
            &state.keys,
            &state.settings.points,
            seat.member_id,
        )
        .await?;
        let (nickname, phone) = m
            .map(|m| (mask_name(&m.name), m.phone))
            .unwrap_or_else(|| ("会员".into(), "***********".into()));
        members.push(TeamMemberView {
            nickname,
            phone,
            leader: seat.member_id == team.leader_id,
            paid: seat.status != "held",
        });
    }
    let seconds_left = ((team.deadline_at - Utc::now()).num_seconds()).max(0);
    Ok(TeamView {
        seats_left: team.team_size - team.seats_taken,
        seconds_left: if team.status == "open" {
            seconds_left
        } else {
            0
        },
        share_path: format!("/group/{}", team.id),
        team,
        group_buy,
        members,
    })
}

/// A group-buy running on a SKU, with its open teams, as the product page shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RunningGroupBuy {
    /// The group-buy.
    pub group_buy: GroupBuy,
    /// Open teams with seats left, soonest deadline first (at most 10).
    pub open_teams: Vec<Team>,
}

/// The group-buys running on a SKU now, with their open teams.
pub async fn running_for_sku(state: &AppState, sku: Uuid) -> AppResult<Vec<RunningGroupBuy>> {
    let now = now_ms();
    let mut out = Vec::new();
    for g in storage::group_buys::running_for_sku(&state.store, sku, now).await? {
        let open_teams = storage::group_buys::open_teams(&state.store, g.id, now, 10).await?;
        out.push(RunningGroupBuy {
            group_buy: g,
            open_teams,
        });
    }
    Ok(out)
}

/// A group-buy with its figures, for head office.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GroupBuyReport {
    /// The group-buy.
    #[serde(flatten)]
    pub group_buy: GroupBuy,
    /// Its figures.
    pub report: storage::group_buys::Report,
}

/// Every group-buy (newest first, at most 200) with its figures.
pub async fn list_with_reports(state: &AppState) -> AppResult<Vec<GroupBuyReport>> {
    let mut out = Vec::new();
    for g in storage::group_buys::list(&state.store, 200).await? {
        let report = storage::group_buys::report(&state.store, g.id).await?;
        out.push(GroupBuyReport {
            group_buy: g,
            report,
        });
    }
    Ok(out)
}
