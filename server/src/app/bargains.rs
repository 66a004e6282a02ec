//! Bargain (砍价, issue 17): head office creates a bargain on a SKU (start price, floor price,
//! helps to reach the floor, hours a run lasts, per-member limit, window, units set aside,
//! helpers must be new members); a member starts a run of it and shares `/bargain/{id}`; every
//! helper (a logged-in member, not the starter, once per run, at most
//! `bargains.daily_help_limit` helps a day) cuts the price by the next amount of the run's
//! schedule; the starter buys at the price reached, any time before the run's deadline.
//!
//! - **The schedule** is drawn when the run starts ([`cut_schedule`], from the operating
//!   system's CSPRNG): one cut per help, each at least 1 fen and at most twice the average cut
//!   (rounded up), summing exactly to the start price minus the floor — so the floor is reached
//!   exactly at the last help. It is kept in the database; no answer and no page shows a cut
//!   before its help used it.
//! - **A help** takes the next slot in one short transaction
//!   ([`storage::bargains::help_in_tx`]: each slot exactly once under any number of helps at
//!   once) and tells the starter (an account notice `bargain_helped`, and `bargain_floor` when
//!   it was the last) in the same transaction.
//! - **The price** of the buy is a sale-price promotion offered to that order alone (id = the
//!   run's id, exclusive, members only) through [`checkout::place_with`]: the engine prices it
//!   and explains it ("砍价 …") like any promotion. It is never stored among the promotions, so no
//!   other basket and no lane ever gets it (the lane refuses bargain prices: online only).
//! - **Buying** marks the run bought and takes one unit of the set-aside first
//!   ([`storage::bargains::buy`]), then places the order; a refused order gives both back at
//!   once, and the sweeper ([`sweep`]) gives them back for an order cancelled before payment or
//!   never placed (the run may then be bought again before its deadline).

use chrono::{DateTime, Utc};
use rand::Rng;
use retail_domain::money::Money;
use retail_domain::order::Fulfilment;
use retail_domain::pricing::{Audience, Promotion, PromotionRule, Scope, SkuPrice, Stacking};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::checkout::{self, Address, Checkout};
use super::AppState;
use crate::actor::{ClientAddr, Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage::account_notices::{BARGAIN_FLOOR, BARGAIN_HELPED};
use crate::storage::bargains::{
    Bargain, BargainHelp, BargainRun, BuyRefusal, HelpRefusal, NewBargainRun, NewHelp, StartRefusal,
};
use crate::storage::orders::OrderPlaced;
use crate::storage::{self, now_ms};

/// The largest cut of a schedule of `helps` cuts summing to `total` fen: twice the average,
/// rounded up.
pub fn max_cut(total: i64, helps: i64) -> i64 {
    let helps = helps.max(1);
    (total.saturating_mul(2) + helps - 1) / helps
}

/// Draws a schedule of `helps` cuts summing exactly to `total` fen, each at least 1 fen and at
/// most [`max_cut`], in a random order. `total` must be at least `helps` (checked when the
/// bargain is created); a smaller one gives the cuts of 1 fen it can.
pub fn cut_schedule<R: Rng + ?Sized>(total: i64, helps: i64, rng: &mut R) -> Vec<i64> {
    let n = helps.max(1);
    let cap = max_cut(total, n);
    // Every cut starts at 1 fen; what is left is shared out, at most `cap - 1` more each, and
    // each share leaves the rest something the remaining cuts can still carry.
    let mut left = (total - n).max(0);
    let mut cuts = Vec::with_capacity(n as usize);
    for i in 0..n {
        let after = n - i - 1;
        let lo = (left - after.saturating_mul(cap - 1)).max(0);
        let hi = (cap - 1).min(left);
        let extra = if hi > lo { rng.gen_range(lo..=hi) } else { lo };
        left -= extra;
        cuts.push(1 + extra);
    }
    rand::seq::SliceRandom::shuffle(cuts.as_mut_slice(), rng);
    cuts
}

/// A bargain to create.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBargain {
    /// Client id (UUIDv7); a retry with the same id answers the bargain created first.
    pub id: Uuid,
    /// The SKU.
    pub sku_id: Uuid,
    /// Chinese name (empty: the SKU's).
    #[serde(default)]
    pub name_zh: String,
    /// English name.
    #[serde(default)]
    pub name_en: String,
    /// The price a run starts at (above zero, at most the SKU's chain price).
    pub start_price: Money,
    /// The lowest price (above zero; below the start price by at least 1 fen per help).
    pub floor_price: Money,
    /// Helps that reach the floor: 2 to 100.
    pub helpers: i64,
    /// Hours a run lasts: 1 to 168.
    pub hours: i64,
    /// Runs one member may start: 1 to 99.
    pub per_member_limit: i64,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End (after the start, at most a year later).
    pub ends_at: DateTime<Utc>,
    /// Units set aside: 1 to 1,000,000.
    pub stock_units: i64,
    /// Only members without a paid order before may help.
    #[serde(default)]
    pub new_helpers_only: bool,
}

/// Creates a bargain (head office; audited as `bargain.create`). A retry with the same id
/// answers the first one.
pub async fn create(state: &AppState, staff: &StaffActor, b: &NewBargain) -> AppResult<Bargain> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    retail_domain::ids::require_v7(b.id).map_err(|e| AppError::field("id", e.to_string()))?;
    if let Some(existing) = storage::bargains::get(&state.store, b.id).await? {
        return Ok(existing);
    }
    let sku =
        super::promotions::activity_sku(state, b.sku_id, ("start_price", b.start_price)).await?;
    if !(2..=100).contains(&b.helpers) {
        return Err(AppError::field("helpers", "2 to 100"));
    }
    if b.floor_price.fen() <= 0 || b.floor_price.fen() > b.start_price.fen() - b.helpers {
        return Err(AppError::field(
            "floor_price",
            "above zero and below the start price by at least 0.01 per helper",
        ));
    }
    super::promotions::check_activity(
        &[
            ("hours", b.hours, 1, 168),
            ("per_member_limit", b.per_member_limit, 1, 99),
            ("stock_units", b.stock_units, 1, 1_000_000),
        ],
        b.starts_at,
        b.ends_at,
        (&b.name_zh, &b.name_en),
    )?;
    let name_zh = match b.name_zh.trim() {
        "" => sku.name_zh.clone(),
        n => n.to_owned(),
    };
    let name_en = match b.name_en.trim() {
        "" => sku.name_en.clone(),
        n => n.to_owned(),
    };
    let bargain = Bargain {
        id: b.id,
        sku_id: b.sku_id,
        name_zh,
        name_en,
        start_price: b.start_price,
        floor_price: b.floor_price,
        helpers: b.helpers,
        hours: b.hours,
        per_member_limit: b.per_member_limit,
        starts_at: b.starts_at,
        ends_at: b.ends_at,
        stock_units: b.stock_units,
        units_taken: 0,
        new_helpers_only: b.new_helpers_only,
        status: "active".into(),
        created_at: Utc::now(),
    };
    storage::bargains::insert(&state.store, &bargain, &staff.actor()).await?;
    get(state, b.id).await
}

/// Pauses (`paused = true`: no run starts and none is helped; started runs may still be bought
/// before their deadline) or resumes a bargain (head office; audited as `bargain.status`).
pub async fn set_paused(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    paused: bool,
) -> AppResult<Bargain> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let status = if paused { "paused" } else { "active" };
    if !storage::bargains::set_status(&state.store, id, status, &staff.actor()).await? {
        return Err(AppError::not_found(format!("bargain {id} not found")));
    }
    get(state, id).await
}

/// One bargain; 404 when unknown.
pub async fn get(state: &AppState, id: Uuid) -> AppResult<Bargain> {
    storage::bargains::get(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("bargain {id} not found")))
}

async fn run_of(state: &AppState, id: Uuid) -> AppResult<BargainRun> {
    storage::bargains::run(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("bargain {id} not found")))
}

/// Starts a run of a bargain for a member (idempotent by the run's client id): its schedule is
/// drawn now. 409: `bargain_not_running` (paused, not started or over), `bargain_sold_out`,
/// `bargain_limit` (the member started as many as allowed), `id_taken`.
pub async fn start(
    state: &AppState,
    bargain: Uuid,
    run_id: Uuid,
    member: Uuid,
) -> AppResult<BargainRunView> {
    retail_domain::ids::require_v7(run_id).map_err(|e| AppError::field("id", e.to_string()))?;
    let b = get(state, bargain).await?;
    if let Some(run) = storage::bargains::run(&state.store, run_id).await? {
        if run.member_id != member || run.bargain_id != bargain {
            return Err(AppError::conflict("id_taken", "this id is taken"));
        }
        return run_view(state, run_id).await;
    }
    let total = b.start_price.fen() - b.floor_price.fen();
    let cuts = cut_schedule(total, b.helpers, &mut rand::rngs::OsRng);
    let started = storage::bargains::start_run(
        &state.store,
        &NewBargainRun {
            id: run_id,
            bargain: &b,
            member,
            cuts: &cuts,
            now: now_ms(),
        },
    )
    .await?;
    match started {
        Ok(_) => {}
        Err(StartRefusal::Exists) => {
            // A retry raced the first try: answer as a retry.
            let run = run_of(state, run_id).await?;
            if run.member_id != member || run.bargain_id != bargain {
                return Err(AppError::conflict("id_taken", "this id is taken"));
            }
        }
        Err(StartRefusal::NotRunning) => return Err(not_running()),
        Err(StartRefusal::SoldOut) => {
            return Err(AppError::conflict(
                "bargain_sold_out",
                "this bargain has sold out",
            ))
        }
        Err(StartRefusal::OverLimit) => {
            return Err(AppError::conflict(
                "bargain_limit",
                format!(
                    "a member may start at most {} of this bargain",
                    b.per_member_limit
                ),
            ))
        }
    }
    tracing::info!(run = %run_id, bargain = %bargain, "bargain started");
    run_view(state, run_id).await
}

fn not_running() -> AppError {
    AppError::conflict(
        "bargain_not_running",
        "this bargain is not running (paused, not started or over)",
    )
}

/// A help given, as its helper sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BargainHelped {
    /// What this help cut off.
    pub cut: Money,
    /// The run's price after it.
    pub price: Money,
    /// Helps so far.
    pub helps: i64,
    /// Helps that reach the floor.
    pub helpers: i64,
    /// This help reached the floor.
    pub reached_floor: bool,
}

/// A member helps a run (idempotent by the help's client id: a retry answers the first help).
/// Refused with a clear 409 and nothing changed: `own_bargain` (the starter),
/// `already_helped`, `daily_help_limit`, `bargain_expired`, `bargain_finished` (floor reached),
/// `bargain_bought`, `bargain_not_running` (paused), `new_members_only`.
pub async fn help(
    state: &AppState,
    run_id: Uuid,
    helper: Uuid,
    help_id: Uuid,
) -> AppResult<BargainHelped> {
    retail_domain::ids::require_v7(help_id).map_err(|e| AppError::field("id", e.to_string()))?;
    let run = run_of(state, run_id).await?;
    if let Some(h) = storage::bargains::help_by_id(&state.store, help_id).await? {
        if h.helper_id != helper || h.run_id != run_id {
            return Err(AppError::conflict("id_taken", "this id is taken"));
        }
        return retried(state, &h, &run).await;
    }
    if run.member_id == helper {
        return Err(AppError::conflict(
            "own_bargain",
            "you cannot help your own bargain: share it with friends",
        ));
    }
    let b = get(state, run.bargain_id).await?;
    if b.status != "active" {
        return Err(not_running());
    }
    if b.new_helpers_only && storage::group_buys::has_bought(&state.store, helper).await? {
        return Err(AppError::conflict(
            "new_members_only",
            "only new members may help this bargain",
        ));
    }
    let now = now_ms();
    let mut tx = state.store.begin().await?;
    let outcome = storage::bargains::help_in_tx(
        &mut tx,
        &NewHelp {
            run: run_id,
            helper,
            help_id,
            now,
            day: super::china_day(now),
            daily_limit: i64::from(state.settings.bargains.daily_help_limit.max(1)),
        },
    )
    .await?;
    let (help, after) = match outcome {
        Ok(done) => done,
        Err(refusal) => {
            tx.rollback().await?;
            // A retry that raced its first try: answer the first help.
            if refusal == HelpRefusal::AlreadyHelped {
                if let Some(h) = storage::bargains::help_by_id(&state.store, help_id).await? {
                    if h.helper_id == helper && h.run_id == run_id {
                        return retried(state, &h, &run).await;
                    }
                }
            }
            return Err(help_refusal(refusal, state));
        }
    };
    let detail = serde_json::json!({
        "run": run_id, "name_zh": b.name_zh, "name_en": b.name_en,
        "cut": help.cut.to_string(), "price": after.price.to_string(),
        "helps": after.helps, "helpers": after.helpers,
    });
    storage::account_notices::record_in_tx(
        &mut tx,
        run.member_id,
        BARGAIN_HELPED,
        &format!("{run_id}:{}", help.slot),
        &detail,
    )
    .await?;
    if after.helps == after.helpers {
        storage::account_notices::record_in_tx(
            &mut tx,
            run.member_id,
            BARGAIN_FLOOR,
            &run_id.to_string(),
            &detail,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(helped_of(&help, &after))
}

/// The first answer of a help, for its retry: the price and helps as they were right after it.
async fn retried(state: &AppState, h: &BargainHelp, run: &BargainRun) -> AppResult<BargainHelped> {
    Ok(BargainHelped {
        cut: h.cut,
        price: storage::bargains::price_after(&state.store, run.id, h.slot).await?,
        helps: h.slot,
        helpers: run.helpers,
        reached_floor: h.slot == run.helpers,
    })
}

fn helped_of(h: &BargainHelp, run: &BargainRun) -> BargainHelped {
    BargainHelped {
        cut: h.cut,
        price: run.price,
        helps: run.helps,
        helpers: run.helpers,
        reached_floor: run.helps == run.helpers,
    }
}

fn help_refusal(r: HelpRefusal, state: &AppState) -> AppError {
    match r {
        HelpRefusal::Expired => AppError::conflict("bargain_expired", "this bargain has expired"),
        HelpRefusal::Finished => AppError::conflict(
            "bargain_finished",
            "this bargain has reached its floor price",
        ),
        HelpRefusal::BargainBought => {
            AppError::conflict("bargain_bought", "this bargain has been bought")
        }
        HelpRefusal::AlreadyHelped => {
            AppError::conflict("already_helped", "you have helped this bargain already")
        }
        HelpRefusal::DailyLimit => AppError::conflict(
            "daily_help_limit",
            format!(
                "a member may help at most {} bargains a day",
                state.settings.bargains.daily_help_limit.max(1)
            ),
        ),
    }
}

/// The starter's order for a run.
#[derive(Debug)]
pub struct BuyOrder {
    /// The order's client id (UUIDv7); a retry answers the first result.
    pub order_id: Uuid,
    /// The member (the run's starter).
    pub member: Uuid,
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

/// A run bought: its order.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BargainBought {
    /// The run.
    pub run_id: Uuid,
    /// The order to pay (one unit at the run's price).
    #[serde(flatten)]
    pub order: OrderPlaced,
}

/// The starter buys a run at its current price (once per run; a retry with the same order id
/// answers the first result). Refused with a clear 409 and nothing changed: `bargain_expired`,
/// `bargain_bought`, `bargain_sold_out`, or the order's own (`out_of_stock`, …); 403 for anyone
/// but the starter.
pub async fn buy(state: &AppState, run_id: Uuid, req: BuyOrder) -> AppResult<BargainBought> {
    retail_domain::ids::require_v7(req.order_id)
        .map_err(|e| AppError::field("id", e.to_string()))?;
    let run = run_of(state, run_id).await?;
    if run.member_id != req.member {
        return Err(AppError::Forbidden(
            "only the member who started this bargain may buy it".into(),
        ));
    }
    let b = get(state, run.bargain_id).await?;
    if run.order_id == Some(req.order_id) {
        let order = place_order(state, &b, &run, &req).await?;
        return Ok(BargainBought { run_id, order });
    }
    let run = match storage::bargains::buy(&state.store, run_id, req.order_id, now_ms()).await? {
        Ok(run) => run,
        Err(BuyRefusal::Expired) => {
            return Err(AppError::conflict(
                "bargain_expired",
                "this bargain has expired: it can no longer be bought",
            ))
        }
        Err(BuyRefusal::BargainBought) => {
            return Err(AppError::conflict(
                "bargain_bought",
                "this bargain has been bought already",
            ))
        }
        Err(BuyRefusal::SoldOut) => {
            return Err(AppError::conflict(
                "bargain_sold_out",
                "this bargain has sold out",
            ))
        }
    };
    match place_order(state, &b, &run, &req).await {
        Ok(order) => Ok(BargainBought { run_id, order }),
        Err(err) => {
            let mut tx = state.store.begin().await?;
            storage::bargains::release_in_tx(&mut tx, req.order_id).await?;
            tx.commit().await?;
            Err(err)
        }
    }
}

/// The promotion that gives one order a run's price: a sale price of the bargain's SKU, for
/// members, exclusive (no other promotion or coupon on that line), running now. Explained as
/// "砍价 …" on the order.
pub fn bargain_price_promotion(b: &Bargain, run: &BargainRun) -> Promotion {
    let now = Utc::now();
    Promotion {
        id: run.id,
        name_zh: format!("砍价 {}", b.name_zh),
        name_en: format!("Bargain {}", b.name_en),
        starts_at: now - chrono::Duration::minutes(1),
        ends_at: now + chrono::Duration::hours(1),
        stores: Vec::new(),
        audience: Audience::Members,
        scope: Scope::skus([b.sku_id]),
        rule: PromotionRule::SalePrice {
            prices: vec![SkuPrice {
                sku_id: b.sku_id,
                price: run.price,
            }],
        },
        stacking: Stacking::Exclusive,
        priority: -1000,
    }
}

async fn place_order(
    state: &AppState,
    b: &Bargain,
    run: &BargainRun,
    req: &BuyOrder,
) -> AppResult<OrderPlaced> {
    checkout::place_with(
        state,
        Checkout {
            id: req.order_id,
            fulfilment: req.fulfilment,
            store: req.store.clone(),
            address: req.address.clone(),
            slot: req.slot.clone(),
            lines: vec![(b.sku_id, 1)],
            member_id: Some(req.member),
            coupons: Vec::new(),
            points_to_redeem: 0,
            created_by: req.created_by.clone(),
            client: req.client,
        },
        &[bargain_price_promotion(b, run)],
    )
    .await
}

/// The sweeper's part: runs whose order was cancelled before payment, or never placed, are open
/// again and their unit is back in the set-aside (each once). Answers how many.
pub async fn sweep(state: &AppState) -> AppResult<usize> {
    let before = now_ms().saturating_sub(5 * 60 * 1000);
    let mut released = 0;
    for order in storage::bargains::stale_buys(&state.store, before, 200).await? {
        let mut tx = state.store.begin().await?;
        if storage::bargains::release_in_tx(&mut tx, order).await? {
            released += 1;
        }
        tx.commit().await?;
    }
    Ok(released)
}

/// A help as anyone with the link sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BargainHelpView {
    /// The helper's nickname, masked (`张**`), or `会员`.
    pub nickname: String,
    /// What the help cut off.
    pub cut: Money,
    /// When.
    pub helped_at: DateTime<Utc>,
}

/// A run as its page shows it (never the cuts still to come).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BargainRunView {
    /// The run.
    pub run: BargainRun,
    /// Its bargain.
    pub bargain: Bargain,
    /// `open` (may be helped and bought), `floor` (at its floor: may be bought), `bought` or
    /// `expired`.
    pub state: String,
    /// Helps given, first first.
    pub helps: Vec<BargainHelpView>,
    /// How far the price has come from start to floor, 0 to 100.
    pub progress_percent: i64,
    /// Seconds until the deadline (0 once past).
    pub seconds_left: i64,
    /// The share link's path (`/bargain/{id}`).
    pub share_path: String,
}

/// A run with its helps masked; 404 when unknown.
pub async fn run_view(state: &AppState, id: Uuid) -> AppResult<BargainRunView> {
    let run = run_of(state, id).await?;
    let bargain = get(state, run.bargain_id).await?;
    let mut helps = Vec::new();
    for h in storage::bargains::helps(&state.store, id).await? {
        let nickname = storage::members::find_by_id(
            &state.store,
            &state.keys,
            &state.settings.points,
            h.helper_id,
        )
        .await?
        .map(|m| super::group_buys::mask_name(&m.name))
        .unwrap_or_else(|| "会员".into());
        helps.push(BargainHelpView {
            nickname,
            cut: h.cut,
            helped_at: h.helped_at,
        });
    }
    let seconds_left = (run.deadline_at - Utc::now()).num_seconds().max(0);
    let state_text = if run.status == "bought" {
        "bought"
    } else if seconds_left == 0 {
        "expired"
    } else if run.helps == run.helpers {
        "floor"
    } else {
        "open"
    };
    let span = (run.start_price.fen() - run.floor_price.fen()).max(1);
    let progress_percent = ((run.start_price.fen() - run.price.fen()) * 100 / span).clamp(0, 100);
    Ok(BargainRunView {
        state: state_text.into(),
        helps,
        progress_percent,
        seconds_left: if state_text == "bought" {
            0
        } else {
            seconds_left
        },
        share_path: format!("/bargain/{}", run.id),
        run,
        bargain,
    })
}

/// True when `member` has helped the run (its page offers no second help).
pub async fn helped_by(state: &AppState, run: Uuid, member: Uuid) -> AppResult<bool> {
    storage::bargains::helped_by(&state.store, run, member).await
}

/// The bargains running on a SKU now.
pub async fn running_for_sku(state: &AppState, sku: Uuid) -> AppResult<Vec<Bargain>> {
    storage::bargains::running_for_sku(&state.store, sku, now_ms()).await
}

/// A member's runs of a bargain still in time (newest first, at most 10).
pub async fn member_runs(
    state: &AppState,
    bargain: Uuid,
    member: Uuid,
) -> AppResult<Vec<BargainRun>> {
    storage::bargains::member_runs(&state.store, bargain, member, now_ms()).await
}

/// A bargain with its figures, for head office.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BargainReport {
    /// The bargain.
    #[serde(flatten)]
    pub bargain: Bargain,
    /// Its figures.
    pub report: storage::bargains::BargainFigures,
}

/// One bargain with its figures (head office); 404 when unknown.
pub async fn report(state: &AppState, staff: &StaffActor, id: Uuid) -> AppResult<BargainReport> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let bargain = get(state, id).await?;
    let report = storage::bargains::report(&state.store, id).await?;
    Ok(BargainReport { bargain, report })
}

/// Every bargain (newest first, at most 200) with its figures (head office).
pub async fn list_with_reports(
    state: &AppState,
    staff: &StaffActor,
) -> AppResult<Vec<BargainReport>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let mut out = Vec::new();
    for bargain in storage::bargains::list(&state.store, 200).await? {
        let report = storage::bargains::report(&state.store, bargain.id).await?;
        out.push(BargainReport { bargain, report });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_sums_exactly_within_its_bounds() {
        let mut rng = rand::rngs::OsRng;
        for (total, helps) in [
            (2, 2),
            (3, 2),
            (100, 2),
            (1000, 7),
            (4_999, 100),
            (100, 100),
            (101, 100),
            (1, 1),
        ] {
            for _ in 0..200 {
                let cuts = cut_schedule(total, helps, &mut rng);
                assert_eq!(cuts.len() as i64, helps);
                assert_eq!(cuts.iter().sum::<i64>(), total, "{cuts:?}");
                let cap = max_cut(total, helps);
                assert!(
                    cuts.iter().all(|c| (1..=cap).contains(c)),
                    "{cuts:?} cap {cap}"
                );
            }
        }
    }

    #[test]
    fn schedules_are_unpredictable() {
        let mut rng = rand::rngs::OsRng;
        let a = cut_schedule(10_000, 10, &mut rng);
        let b = cut_schedule(10_000, 10, &mut rng);
        let c = cut_schedule(10_000, 10, &mut rng);
        assert!(a != b || b != c, "three draws alike: {a:?}");
        // Not a fixed shape either: over many draws the first cut takes many values.
        let firsts: std::collections::HashSet<i64> = (0..50)
            .map(|_| cut_schedule(10_000, 10, &mut rng)[0])
            .collect();
        assert!(firsts.len() > 10, "{firsts:?}");
    }

    #[test]
    fn the_largest_cut_is_twice_the_average() {
        assert_eq!(max_cut(1000, 10), 200);
        assert_eq!(max_cut(1001, 10), 201);
        assert_eq!(max_cut(2, 2), 2);
    }
}
