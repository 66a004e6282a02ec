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
//! The writer runs on a thread of its own (a single-threaded runtime): it awaits the database
//! a dozen times per batch, and on the server's shared runtime each of those wake-ups would
//! queue behind hundreds of HTTP connections' tasks. Its own thread is scheduled by the
//! operating system beside the server's threads instead, so the one thing every order waits
//! for is never kept waiting.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use retail_domain::money::Money;
use retail_domain::order::OrderStatus;
use uuid::Uuid;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::{AppError, AppResult};
use crate::storage::orders::{NewOrder, OrderPlaced};
use crate::storage::stock::{Movement, MovementKind};
use crate::storage::{self, Store};

struct Job {
    order: NewOrder,
    reply: oneshot::Sender<AppResult<OrderPlaced>>,
}

/// Handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct OrderIntake {
    queue: mpsc::Sender<Job>,
    stop: CancellationToken,
    worker: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl std::fmt::Debug for OrderIntake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OrderIntake")
    }
}

impl OrderIntake {
    /// Starts the writer on its own thread (with its own PostgreSQL connections: see
    /// [`Store::for_own_runtime`]).
    pub async fn start(store: Store, max_batch: usize) -> anyhow::Result<Self> {
        let max_batch = max_batch.max(1);
        let (queue, rx) = mpsc::channel(max_batch * 8);
        let stop = CancellationToken::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let loop_stop = stop.clone();
        let (ready_tx, ready) = oneshot::channel::<anyhow::Result<()>>();
        let worker = std::thread::Builder::new()
            .name("order-writer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match store.for_own_runtime(2).await {
                        Ok(store) => {
                            let _ = ready_tx.send(Ok(()));
                            write_loop(store, rx, max_batch, loop_stop).await;
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                        }
                    }
                });
            })?;
        ready
            .await
            .map_err(|_| anyhow::anyhow!("the order writer did not start"))??;
        Ok(Self {
            queue,
            stop,
            worker: Arc::new(Mutex::new(Some(worker))),
        })
    }

    /// Places one order (waits for the batch it joined to commit).
    pub async fn place(&self, order: NewOrder) -> AppResult<OrderPlaced> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { order, reply })
            .await
            .map_err(|_| AppError::Unavailable("the server is shutting down".into()))?;
        answer
            .await
            .map_err(|_| AppError::Unavailable("the order writer stopped".into()))?
    }

    /// Stops accepting orders, finishes what is queued and waits for the writer.
    pub async fn close(&self) {
        let handle = self.worker.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            // Called after the HTTP server has drained, so no caller is waiting: wait for the
            // queue to empty (bounded), then stop the writer.
            for _ in 0..200 {
                if self.queue.capacity() == self.queue.max_capacity() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            self.stop.cancel();
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    stop: CancellationToken,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    loop {
        let received = tokio::select! {
            () = stop.cancelled() => break,
            n = rx.recv_many(&mut jobs, max_batch) => n,
        };
        if received == 0 {
            break;
        }
        let orders: Vec<NewOrder> = jobs.iter().map(|j| j.order.clone()).collect();
        metrics::histogram!("order_batch_size").record(orders.len() as f64);
        let started = std::time::Instant::now();
        let placed = place_batch(&store, &orders).await;
        metrics::histogram!("order_batch_seconds").record(started.elapsed().as_secs_f64());
        match placed {
            Ok(results) => {
                for (job, result) in jobs.drain(..).zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, batch = orders.len(), "placing an order batch failed");
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(AppError::Unavailable(
                        "could not place the order right now, please retry".into(),
                    )));
                }
            }
        }
    }
}

/// Places a batch of orders in one transaction (one commit for all of them): the rules of the
/// order writer, composed of storage statements.
///
/// Each order either reserves all its lines or is refused with 409 `out_of_stock`; orders are
/// considered in the order given, so earlier arrivals win. A retry of an order already placed
/// (same id) answers the first result. On PostgreSQL the stock rows are locked (`FOR UPDATE`),
/// so several server instances can place orders for the same SKU concurrently without overselling.
pub async fn place_batch(
    store: &Store,
    orders: &[NewOrder],
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
