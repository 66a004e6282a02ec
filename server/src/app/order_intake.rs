//! Order intake: the flash-sale hot path.
//!
//! One transaction per order caps a hot SKU at roughly one commit (one fsync) per order. Instead,
//! handlers hand their orders to a single writer, which takes everything that queued up while
//! the previous commit was in flight (up to `max_batch`) and places it with
//! [`place_batch`] in one transaction: one stock row lock, one multi-row insert
//! per table, one durable commit. Under light load a batch is a single order, so latency stays
//! one commit; under heavy load the batch grows and throughput follows. Every caller still gets
//! its own answer, and a crash before the commit loses only orders that were never acknowledged.
//!
//! One order never fails another: when a batch's transaction fails for anything but a busy or
//! unreachable database, the writer places its halves again, each in a transaction of its own
//! (recursively, [`place_isolated`]), until the failing order stands alone and gets the error;
//! every other order of the batch commits. A busy database (503) fails the whole batch, which
//! the callers may retry.
//!
//! The writer also enforces the caps on unpaid orders per client address and per member
//! ([`UnpaidCaps`]): it is the one place every order passes through, in order, so concurrent
//! orders from one client cannot all slip under a cap.
//!
//! The writer runs on a thread of its own (a single-threaded runtime, [`super::group_commit`]):
//! it awaits the database a dozen times per batch, and on the server's shared runtime each of
//! those wake-ups would queue behind hundreds of HTTP connections' tasks. Its own thread is
//! scheduled by the operating system beside the server's threads instead, so the one thing
//! every order waits for is never kept waiting.

use std::collections::{BTreeMap, HashMap, HashSet};

use retail_domain::money::Money;
use retail_domain::order::OrderStatus;
use uuid::Uuid;

use super::group_commit::{Batcher, GroupWriter};
use crate::error::{AppError, AppResult};
use crate::storage::orders::{NewOrder, OrderPlaced};
use crate::storage::stock::{Movement, MovementKind};
use crate::storage::{self, Store};

/// Caps on what one client address or one member may hold in unpaid orders (from
/// [`crate::config::OrderSettings`]).
#[derive(Clone, Copy, Debug)]
pub struct UnpaidCaps {
    /// Unpaid orders per client address.
    pub orders_per_address: i64,
    /// Units reserved by unpaid orders per client address.
    pub units_per_address: i64,
    /// Unpaid orders per member.
    pub orders_per_member: i64,
    /// Units reserved by unpaid orders per member.
    pub units_per_member: i64,
}

impl UnpaidCaps {
    /// The caps the settings configure.
    pub fn from_settings(orders: &crate::config::OrderSettings) -> Self {
        Self {
            orders_per_address: orders.max_unpaid_orders_per_address,
            units_per_address: orders.max_unpaid_units_per_address,
            orders_per_member: orders.max_unpaid_orders_per_member,
            units_per_member: orders.max_unpaid_units_per_member,
        }
    }

    /// True when the per-address caps are on. `i64::MAX` for both means no cap, and then the
    /// holdings are not even read: with no cap one address (a benchmark's, or every shopper
    /// behind one proxy) may hold any number of unpaid orders, and counting them per batch
    /// would cost more as they grow. With a cap, an address never holds more than the cap, so
    /// counting stays a bounded index look-up.
    pub fn per_address(&self) -> bool {
        self.orders_per_address != i64::MAX || self.units_per_address != i64::MAX
    }

    /// True when the per-member caps are on (see [`UnpaidCaps::per_address`]).
    pub fn per_member(&self) -> bool {
        self.orders_per_member != i64::MAX || self.units_per_member != i64::MAX
    }

    /// No caps (tools and benchmarks that place orders directly).
    pub fn none() -> Self {
        Self {
            orders_per_address: i64::MAX,
            units_per_address: i64::MAX,
            orders_per_member: i64::MAX,
            units_per_member: i64::MAX,
        }
    }
}

/// The order writer's rules for a batch: [`place_isolated`] under the unpaid caps.
#[derive(Clone)]
struct OrderRules {
    caps: UnpaidCaps,
}

impl Batcher for OrderRules {
    type Item = NewOrder;
    type Answer = OrderPlaced;
    const NAME: &'static str = "order writer";
    const SIZE_METRIC: &'static str = "order_batch_size";
    const SECONDS_METRIC: &'static str = "order_batch_seconds";

    async fn apply(&mut self, store: &Store, orders: &[NewOrder]) -> Vec<AppResult<OrderPlaced>> {
        place_isolated(store, orders, &self.caps).await
    }
}

/// Handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct OrderIntake(GroupWriter<OrderRules>);

impl std::fmt::Debug for OrderIntake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OrderIntake")
    }
}

impl OrderIntake {
    /// Starts the writer on its own thread (with its own PostgreSQL connections: see
    /// [`Store::for_own_runtime`]).
    pub async fn start(store: Store, max_batch: usize, caps: UnpaidCaps) -> anyhow::Result<Self> {
        Ok(Self(
            // One loop: the caps are checked against what the batches before placed.
            GroupWriter::start(store, max_batch, 1, OrderRules { caps }).await?,
        ))
    }

    /// Places one order (waits for the batch it joined to commit).
    pub async fn place(&self, order: NewOrder) -> AppResult<OrderPlaced> {
        self.0.submit(order).await
    }

    /// Stops accepting orders, finishes what is queued and waits for the writer.
    pub async fn close(&self) {
        self.0.close().await;
    }
}

/// Places `orders` as one batch ([`place_batch`]) and answers one result per order. When the
/// batch fails for anything but a busy or unreachable database, its halves are placed again,
/// each on its own (recursively), so a failing order ends up alone with its error and every
/// other order is placed: one bad order costs about 2·log₂(batch) extra transactions, never
/// another shopper's order. A busy database fails every order of the batch with 503.
pub async fn place_isolated(
    store: &Store,
    orders: &[NewOrder],
    caps: &UnpaidCaps,
) -> Vec<AppResult<OrderPlaced>> {
    // An explicit stack instead of recursion (async recursion needs boxing): ranges of
    // `orders` still to place, first half first, so earlier arrivals still win.
    let mut results: Vec<Option<AppResult<OrderPlaced>>> =
        (0..orders.len()).map(|_| None).collect();
    let mut todo: Vec<std::ops::Range<usize>> = Vec::with_capacity(16);
    todo.push(0..orders.len());
    while let Some(range) = todo.pop() {
        if range.is_empty() {
            continue;
        }
        match place_batch(store, &orders[range.clone()], caps).await {
            Ok(placed) => {
                for (slot, result) in results[range].iter_mut().zip(placed) {
                    *slot = Some(result);
                }
            }
            Err(err) if range.len() == 1 || matches!(err, AppError::Unavailable(_)) => {
                if range.len() == 1 {
                    tracing::error!(error = %err, order = %orders[range.start].id, "an order failed on its own");
                } else {
                    tracing::warn!(error = %err, batch = range.len(), "placing an order batch failed");
                }
                let transient = matches!(err, AppError::Unavailable(_));
                let mut err = Some(err);
                for slot in &mut results[range] {
                    *slot = Some(Err(if transient {
                        AppError::Unavailable(
                            "could not place the order right now, please retry".into(),
                        )
                    } else {
                        err.take()
                            .unwrap_or_else(|| AppError::Internal(anyhow::anyhow!("order failed")))
                    }));
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, batch = range.len(), "an order batch failed: placing its halves apart");
                metrics::counter!("order_batch_splits_total").increment(1);
                let mid = range.start + range.len() / 2;
                // Pushed second-half first, so the first half is placed first.
                todo.push(mid..range.end);
                todo.push(range.start..mid);
            }
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(AppError::Internal(anyhow::anyhow!(
                    "order left without an answer"
                )))
            })
        })
        .collect()
}

/// Places a batch of orders in one transaction (one commit for all of them): the rules of the
/// order writer, composed of storage statements.
///
/// Each order either reserves all its lines or is refused with 409 `out_of_stock`; orders are
/// considered in the order given, so earlier arrivals win. A retry of an order already placed
/// (same id) answers the first result. On PostgreSQL the stock rows are locked (`FOR UPDATE`),
/// so several server instances can place orders for the same SKU concurrently without overselling.
///
/// An order that would take its client address or its member past an [`UnpaidCaps`] cap is
/// refused with 409 `too_many_unpaid_orders`.
pub async fn place_batch(
    store: &Store,
    orders: &[NewOrder],
    caps: &UnpaidCaps,
) -> AppResult<Vec<AppResult<OrderPlaced>>> {
    let mut tx = store.begin().await?;
    let mut results: Vec<Option<AppResult<OrderPlaced>>> =
        (0..orders.len()).map(|_| None).collect();

    // 1. Retries: orders that exist already.
    let ids: Vec<String> = orders.iter().map(|o| o.id.to_string()).collect();
    let existing = storage::orders::placed_by_ids(&mut tx, &ids).await?;

    // 2. Lock and read the stock rows the new orders need.
    let mut wanted: BTreeMap<&str, HashSet<Uuid>> = BTreeMap::new();
    for order in orders.iter().filter(|o| !existing.contains_key(&o.id)) {
        for line in &order.lines {
            wanted
                .entry(order.location_id.as_str())
                .or_default()
                .insert(line.sku_id);
        }
    }
    let mut available = storage::orders::lock_available(&mut tx, store, &wanted).await?;

    // 2b. What the new orders' pricing takes besides stock: flash-sale units, coupons, points.
    let new_orders: Vec<&NewOrder> = orders
        .iter()
        .filter(|o| !existing.contains_key(&o.id))
        .collect();
    let claims: Vec<&storage::promotions::FlashClaim> = new_orders
        .iter()
        .flat_map(|o| o.flash_claims.iter())
        .collect();
    let mut flash = storage::promotions::FlashLedger::load(&mut tx, store, &claims).await?;
    let coupon_ids: Vec<Uuid> = new_orders
        .iter()
        .flat_map(|o| o.coupons.iter().copied())
        .collect();
    let mut coupons_free = storage::orders::available_coupons(&mut tx, store, &coupon_ids).await?;
    let redeemers: Vec<Uuid> = new_orders
        .iter()
        .filter(|o| o.points_redeemed > 0)
        .filter_map(|o| o.member_id)
        .collect();
    let mut points_left = storage::orders::points_balances(&mut tx, store, &redeemers).await?;
    let client_keys: Vec<String> = new_orders
        .iter()
        .filter(|_| caps.per_address())
        .filter_map(|o| o.client_key.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let member_keys: Vec<String> = new_orders
        .iter()
        .filter(|_| caps.per_member())
        .filter_map(|o| o.member_id.map(|m| m.to_string()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let (mut held_by_client, mut held_by_member) =
        storage::orders::unpaid_holdings(&mut tx, &client_keys, &member_keys).await?;

    // 3. Decide, in arrival order.
    let now = storage::now_ms();
    let mut accepted: Vec<(usize, String)> = Vec::new();
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    for (i, order) in orders.iter().enumerate() {
        if let Some(placed) = existing.get(&order.id) {
            results[i] = Some(Ok(placed.clone()));
            continue;
        }
        if seen.contains_key(&order.id) {
            continue; // resolved after the insert, from the first copy
        }
        let mut need: HashMap<Uuid, i64> = HashMap::new();
        for line in &order.lines {
            *need.entry(line.sku_id).or_default() += line.qty;
        }
        let units: i64 = order
            .lines
            .iter()
            .map(storage::orders::NewOrderLine::units)
            .sum();
        let client_held = order
            .client_key
            .as_ref()
            .filter(|_| caps.per_address())
            .map(|k| held_by_client.get(k).copied().unwrap_or_default());
        let member_held = order
            .member_id
            .filter(|_| caps.per_member())
            .map(|m| held_by_member.get(&m).copied().unwrap_or_default());
        let over = |held: Option<storage::orders::Unpaid>, max_orders: i64, max_units: i64| {
            held.is_some_and(|h| {
                h.orders >= max_orders || h.units.saturating_add(units) > max_units
            })
        };
        if over(client_held, caps.orders_per_address, caps.units_per_address)
            || over(member_held, caps.orders_per_member, caps.units_per_member)
        {
            results[i] = Some(Err(AppError::conflict(
                "too_many_unpaid_orders",
                "too many unpaid orders: pay or cancel one before placing another",
            )));
            continue;
        }
        let short = need.iter().find(|(sku, qty)| {
            available
                .get(&(order.location_id.clone(), **sku))
                .copied()
                .unwrap_or(0)
                < **qty
        });
        if let Some((sku, _)) = short {
            let name = order
                .lines
                .iter()
                .find(|l| l.sku_id == *sku)
                .map(|l| l.name.as_str())
                .unwrap_or_default();
            results[i] = Some(Err(AppError::conflict(
                "out_of_stock",
                format!("{name} is out of stock at {}", order.location_id),
            )));
            continue;
        }
        if let Err(refusal) = flash.check(&order.flash_claims) {
            results[i] = Some(Err(match refusal {
                storage::promotions::FlashRefusal::SoldOut => {
                    AppError::conflict("flash_sale_sold_out", "the flash sale has sold out")
                }
                storage::promotions::FlashRefusal::OverLimit(limit) => AppError::conflict(
                    "flash_sale_limit",
                    format!("a member may buy at most {limit} in this flash sale"),
                ),
            }));
            continue;
        }
        if let Some(used) = order.coupons.iter().find(|c| !coupons_free.contains(*c)) {
            results[i] = Some(Err(AppError::conflict(
                "coupon_used",
                format!("coupon {used} has been used already"),
            )));
            continue;
        }
        if order.points_redeemed > 0 {
            let left = order
                .member_id
                .and_then(|m| points_left.get(&m).copied())
                .unwrap_or(0);
            if left < order.points_redeemed {
                results[i] = Some(Err(AppError::conflict(
                    "insufficient_points",
                    format!(
                        "the member has {left} points, {} needed",
                        order.points_redeemed
                    ),
                )));
                continue;
            }
            if let Some(m) = order.member_id {
                points_left.insert(m, left - order.points_redeemed);
            }
        }
        flash.take(&order.flash_claims);
        for c in &order.coupons {
            coupons_free.remove(c);
        }
        for (sku, qty) in need {
            if let Some(avail) = available.get_mut(&(order.location_id.clone(), sku)) {
                *avail -= qty;
            }
        }
        if let Some(key) = order.client_key.as_ref().filter(|_| caps.per_address()) {
            let held = held_by_client.entry(key.clone()).or_default();
            held.orders += 1;
            held.units = held.units.saturating_add(units);
        }
        if let Some(member) = order.member_id.filter(|_| caps.per_member()) {
            let held = held_by_member.entry(member).or_default();
            held.orders += 1;
            held.units = held.units.saturating_add(units);
        }
        seen.insert(order.id, i);
        accepted.push((i, String::new()));
    }

    // 4. Order numbers, resolving the rare collisions.
    let created_at = storage::from_ms(now);
    let mut numbers: HashSet<String> = HashSet::new();
    for (i, number) in accepted.iter_mut() {
        let order = &orders[*i];
        let mut attempt = 0;
        loop {
            let candidate = retail_domain::ids::order_number_attempt(
                order.order_no_prefix,
                created_at,
                order.id,
                attempt,
            );
            if numbers.insert(candidate.clone()) {
                *number = candidate;
                break;
            }
            attempt += 1;
        }
    }
    if !accepted.is_empty() {
        let all: Vec<&String> = accepted.iter().map(|(_, n)| n).collect();
        let taken = storage::orders::numbers_taken(&mut tx, &all).await?;
        for (i, number) in accepted.iter_mut().filter(|(_, n)| taken.contains(n)) {
            let order = &orders[*i];
            let mut attempt = 1;
            loop {
                let candidate = retail_domain::ids::order_number_attempt(
                    order.order_no_prefix,
                    created_at,
                    order.id,
                    attempt,
                );
                if !taken.contains(&candidate) && numbers.insert(candidate.clone()) {
                    *number = candidate;
                    break;
                }
                attempt += 1;
            }
        }
    }

    // 5. Write: flash sales, coupons, points, stock, ledger, orders, lines, events.
    if !accepted.is_empty() {
        let flash_orders: Vec<(Uuid, &[storage::promotions::FlashClaim])> = accepted
            .iter()
            .map(|(i, _)| (orders[*i].id, orders[*i].flash_claims.as_slice()))
            .filter(|(_, c)| !c.is_empty())
            .collect();
        flash.write(&mut tx, &flash_orders).await?;
        for (i, _) in &accepted {
            let order = &orders[*i];
            storage::coupons::use_for_order(&mut tx, &order.coupons, order.id).await?;
            if let (Some(member), true) = (order.member_id, order.points_redeemed > 0) {
                storage::members::redeem_in_tx(
                    &mut tx,
                    store.dialect(),
                    member,
                    order.points_redeemed,
                    &order.id.to_string(),
                    &order.created_by,
                )
                .await?;
            }
        }
        // The reservations, through the one ledger function (availability was checked above on
        // the locked rows): one ledger row per line, one snapshot change per (location, SKU).
        let order_ids: Vec<String> = accepted
            .iter()
            .map(|(i, _)| orders[*i].id.to_string())
            .collect();
        let movements: Vec<Movement<'_>> = accepted
            .iter()
            .zip(&order_ids)
            .flat_map(|((i, _), order_id)| {
                let order = &orders[*i];
                order.lines.iter().map(move |line| Movement {
                    location_id: order.location_id.as_str(),
                    sku_id: line.sku_id,
                    kind: MovementKind::Reservation,
                    on_hand_delta: 0,
                    reserved_delta: line.qty,
                    reason: "order placed",
                    actor: order.created_by.as_str(),
                    ref_id: Some(order_id.as_str()),
                    client_ts: order.client_ts,
                })
            })
            .collect();
        storage::stock::apply_movements(&mut tx, &movements).await?;
        storage::orders::insert_placed(&mut tx, orders, &accepted, now).await?;
    }
    tx.commit().await?;

    for (i, number) in &accepted {
        let order = &orders[*i];
        results[*i] = Some(Ok(OrderPlaced {
            id: order.id,
            order_no: number.clone(),
            status: OrderStatus::PendingPayment,
            total: Money::from_fen(order.total_fen),
            expires_at: Some(storage::from_ms(order.expires_at)),
            created: true,
        }));
    }
    // Duplicates inside the batch answer like retries of the first copy.
    let mut out = Vec::with_capacity(orders.len());
    for (i, result) in results.into_iter().enumerate() {
        out.push(match result {
            Some(r) => r,
            None => match seen.get(&orders[i].id).and_then(|first| {
                accepted
                    .iter()
                    .find(|(j, _)| j == first)
                    .map(|(_, n)| n.clone())
            }) {
                Some(number) => Ok(OrderPlaced {
                    id: orders[i].id,
                    order_no: number,
                    status: OrderStatus::PendingPayment,
                    total: Money::from_fen(orders[i].total_fen),
                    expires_at: Some(storage::from_ms(orders[i].expires_at)),
                    created: false,
                }),
                None => Err(AppError::conflict("out_of_stock", "out of stock")),
            },
        });
    }
    Ok(out)
}
