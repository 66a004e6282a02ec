//! Lane sales: a POS lane pushes the sales it completed (journalled first, sent when online,
//! retried until answered). Each sale is checked without the database, then the batch is
//! applied exactly once by sale id ([`apply_push`]), and every applied sale is
//! re-priced with the one engine afterwards: a different total is audited for the store, never
//! refused (the shopper paid).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use retail_domain::money::Money;
use retail_domain::order::{check_transition, Channel, OrderStatus};
use retail_domain::points::PointsRules;
use retail_domain::wire::sales::{
    CreateReturn, LanePaymentStatus, PaymentMethod, PosSale, ReturnLineResult, ReturnResult,
    SaleOutcome, SaleResult, MAX_RETURN_LINES, MAX_SALES_PER_PUSH,
};
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use crate::actor::{Caller, DeviceActor, DeviceKind, Role};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::lane_payments::LanePaymentRecord;
use crate::storage::sales::{NewReturn, NewSaleOrder, PushContext, StoredSale};
use crate::storage::stock::{Movement, MovementKind};
use crate::storage::Store;

/// Most sales applied in one transaction of a push (a push of up to [`MAX_SALES_PER_PUSH`] is
/// applied in several).
pub const PUSH_CHUNK: usize = 50;

/// Most lines in one sale.
pub const MAX_SALE_LINES: usize = 500;

/// Most payments in one sale.
pub const MAX_SALE_PAYMENTS: usize = 20;

/// Most coupons one sale uses.
pub const MAX_SALE_COUPONS: usize = 10;

/// Largest quantity of one line (units, or grams for weighed SKUs).
pub const MAX_LINE_QTY: i64 = 1_000_000;

/// How far in the future a sale's completion time may lie (lane clocks drift).
const MAX_CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;

/// Longest text field (names, reasons), in characters.
const MAX_TEXT: usize = 200;

fn text_ok(text: &str, max: usize) -> bool {
    text.chars().count() <= max
}

/// Checks one pushed sale without the database; the error says what is wrong.
pub fn validate_sale(
    sale: &PosSale,
    device_store: &str,
    rules: &PointsRules,
    now: DateTime<Utc>,
) -> Result<(), String> {
    if sale.store != device_store {
        return Err(format!(
            "sale belongs to store {}, but this lane is registered at store {device_store}",
            sale.store
        ));
    }
    retail_domain::ids::require_v7(sale.id).map_err(|e| format!("id: {e}"))?;
    let cashier = sale.cashier.trim();
    if cashier.is_empty() || !text_ok(cashier, 64) {
        return Err("cashier: must be 1 to 64 characters".into());
    }
    if !text_ok(&sale.sale_no, 64) {
        return Err("sale_no: at most 64 characters".into());
    }
    if sale.lines.is_empty() || sale.lines.len() > MAX_SALE_LINES {
        return Err(format!(
            "lines: a sale has 1 to {MAX_SALE_LINES} lines, this one {}",
            sale.lines.len()
        ));
    }
    let mut line_nos = HashSet::with_capacity(sale.lines.len());
    let mut line_sum = Money::ZERO;
    for line in &sale.lines {
        let n = line.line_no;
        if n == 0 {
            return Err("line 0: line numbers start at 1".into());
        }
        if !line_nos.insert(n) {
            return Err(format!("line {n}: line number used twice"));
        }
        if line.qty <= 0 || line.qty > MAX_LINE_QTY {
            return Err(format!(
                "line {n}: qty must be 1 to {MAX_LINE_QTY}, got {}",
                line.qty
            ));
        }
        if line.unit_price.is_negative() || line.discount.is_negative() || line.amount.is_negative()
        {
            return Err(format!("line {n}: amounts must not be negative"));
        }
        if line
            .label_price
            .is_some_and(|p| p.is_negative() || p.is_zero())
        {
            return Err(format!("line {n}: a label price must be positive"));
        }
        if !text_ok(&line.name, MAX_TEXT) || !text_ok(&line.barcode, 64) {
            return Err(format!("line {n}: name or barcode too long"));
        }
        line_sum = line_sum
            .checked_add(line.amount)
            .ok_or_else(|| format!("line {n}: amounts overflow"))?;
    }
    if sale.subtotal.is_negative() || sale.discount.is_negative() || sale.total.is_negative() {
        return Err("subtotal, discount and total must not be negative".into());
    }
    if line_sum != sale.total {
        return Err(format!(
            "the line amounts sum to {line_sum}, but the total is {}",
            sale.total
        ));
    }
    if sale.subtotal.checked_sub(sale.discount) != Some(sale.total) {
        return Err(format!(
            "subtotal {} minus discount {} is not the total {}",
            sale.subtotal, sale.discount, sale.total
        ));
    }
    if !sale.coupons.is_empty() {
        if sale.member_id.is_none() {
            return Err("coupons: only a member's sale uses coupons".into());
        }
        if sale.coupons.len() > MAX_SALE_COUPONS {
            return Err(format!("coupons: at most {MAX_SALE_COUPONS}"));
        }
        let distinct: HashSet<&Uuid> = sale.coupons.iter().collect();
        if distinct.len() != sale.coupons.len() {
            return Err("coupons: a coupon appears twice".into());
        }
    }
    if sale.payments.len() > MAX_SALE_PAYMENTS {
        return Err(format!("payments: at most {MAX_SALE_PAYMENTS}"));
    }
    let mut payment_ids = HashSet::with_capacity(sale.payments.len());
    let mut provider_refs = HashSet::new();
    let mut paid = Money::ZERO;
    let mut points = 0_i64;
    for p in &sale.payments {
        let id = p.id;
        retail_domain::ids::require_v7(id).map_err(|e| format!("payment {id}: {e}"))?;
        if !payment_ids.insert(id) {
            return Err(format!("payment {id} appears twice"));
        }
        if p.amount.is_negative() {
            return Err(format!("payment {id}: amount must not be negative"));
        }
        match p.method {
            PaymentMethod::StoredBalance | PaymentMethod::Points => {
                if sale.member_id.is_none() {
                    return Err(format!(
                        "payment {id}: {} needs a member",
                        p.method.as_str()
                    ));
                }
                if p.amount.is_zero() {
                    return Err(format!("payment {id}: amount must be positive"));
                }
            }
            _ => {}
        }
        if p.method == PaymentMethod::Points {
            if p.points <= 0 {
                return Err(format!("payment {id}: points must be positive"));
            }
            let value = rules
                .redemption_value(p.points)
                .map_err(|e| format!("payment {id}: {e}"))?;
            if value != p.amount {
                return Err(format!(
                    "payment {id}: {} points are worth {value}, not {}",
                    p.points, p.amount
                ));
            }
            points = points
                .checked_add(p.points)
                .ok_or_else(|| format!("payment {id}: points overflow"))?;
        } else if p.points != 0 {
            return Err(format!("payment {id}: points are only for points payments"));
        }
        if let Some(r) = &p.provider_ref {
            if r.trim().is_empty() || !text_ok(r, 128) {
                return Err(format!(
                    "payment {id}: provider_ref must be 1 to 128 characters"
                ));
            }
            if !provider_refs.insert(r.as_str()) {
                return Err(format!(
                    "payment {id}: provider reference {r} appears twice"
                ));
            }
        }
        paid = paid
            .checked_add(p.amount)
            .ok_or_else(|| format!("payment {id}: amounts overflow"))?;
    }
    if paid != sale.total {
        return Err(format!(
            "the payments sum to {paid}, but the total is {}",
            sale.total
        ));
    }
    if points > rules.max_redeemable_points(i64::MAX, sale.total) {
        return Err(format!(
            "{points} points exceed the share of the total that may be paid with points"
        ));
    }
    let completed = sale.completed_at.timestamp_millis();
    if completed > now.timestamp_millis().saturating_add(MAX_CLOCK_SKEW_MS) {
        return Err(format!(
            "completed_at {} is more than 10 minutes in the future (lane clock wrong?)",
            sale.completed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    if completed < 0 {
        return Err("completed_at is before 1970".into());
    }
    Ok(())
}

/// Re-prices an applied sale with the engine; a different total is audited
/// (`sale.price_mismatch`) for the store to review. The sale itself stands: the shopper paid.
async fn price_check(state: &AppState, sale: &PosSale, actor: &str) {
    let outcome = match crate::app::pricing::check_lane_sale(state, sale).await {
        Ok(None) => return,
        Ok(Some(server_total)) => json!({
            "lane_total": sale.total, "server_total": server_total, "offline": sale.offline
        }),
        Err(err) => json!({ "lane_total": sale.total, "error": err.to_string() }),
    };
    tracing::warn!(sale = %sale.id, detail = %outcome, "lane sale priced differently");
    let recorded = async {
        let mut tx = state.store.begin().await?;
        storage::audit::record(
            &mut tx,
            actor,
            "sale.price_mismatch",
            "order",
            &sale.id.to_string(),
            outcome,
        )
        .await?;
        tx.commit().await?;
        AppResult::Ok(())
    };
    if let Err(err) = recorded.await {
        tracing::error!(sale = %sale.id, error = %err, "recording a price mismatch failed");
    }
}

/// Applies a push of completed sales (at most [`MAX_SALES_PER_PUSH`]) from a POS lane: an
/// idempotent upsert by sale id, in transactions of [`PUSH_CHUNK`] sales. Each sale is answered `applied`,
/// `duplicate` (stored by an earlier push; nothing changed) or `rejected` (bad data, with the
/// reason; not stored, and the other sales are not affected). Stock is decremented at once and
/// never refused; stored balance and points payments are charged idempotently by payment id.
pub async fn push(
    state: &AppState,
    device: &DeviceActor,
    sales: Vec<PosSale>,
) -> AppResult<Vec<SaleResult>> {
    if device.kind != DeviceKind::Pos {
        return Err(AppError::Forbidden("only POS terminals push sales".into()));
    }
    if sales.len() > MAX_SALES_PER_PUSH {
        return Err(AppError::field(
            "sales",
            format!(
                "at most {MAX_SALES_PER_PUSH} sales per push, got {}",
                sales.len()
            ),
        ));
    }
    let rules = &state.settings.points;
    let now = Utc::now();
    let verifier = state.keys.verifier();
    let verdicts: Vec<Option<String>> = sales
        .iter()
        .map(|sale| {
            validate_sale(sale, &device.location_id, rules, now)
                .and_then(|()| check_member_proof(sale, &verifier))
                .err()
        })
        .collect();
    let actor = device.actor();
    let ctx = PushContext {
        store_id: &device.location_id,
        device_id: device.id,
        actor: &actor,
        rules,
    };
    // In transactions of at most PUSH_CHUNK sales, so a large push never holds SQLite's one
    // writer (and every order behind it) for long. Still exactly once: each sale is applied by
    // its id, so when a later chunk fails (503) and the lane resends the push, the sales of the
    // chunks already committed answer `duplicate`, as a copy in the same push would.
    let mut results = Vec::with_capacity(sales.len());
    for (chunk, verdicts) in sales.chunks(PUSH_CHUNK).zip(verdicts.chunks(PUSH_CHUNK)) {
        results.extend(apply_push(&state.store, &ctx, chunk, verdicts.to_vec()).await?);
    }
    // Re-pricing is a check, not part of the answer: it runs after the lane has its reply.
    let applied: Vec<PosSale> = sales
        .into_iter()
        .zip(&results)
        .filter(|(_, r)| r.outcome == SaleOutcome::Applied)
        .map(|(sale, _)| sale)
        .collect();
    crate::app::events::record(
        state,
        applied
            .iter()
            .map(|sale| {
                crate::app::events::ServerEvent::new(
                    "lane_sale",
                    sale.id,
                    "pos",
                    serde_json::json!({
                        "sale_no": sale.sale_no,
                        "total_fen": sale.total.fen(),
                        "lines": sale.lines.len(),
                    }),
                )
                .member(sale.member_id)
                .store(device.location_id.clone())
            })
            .collect(),
    );
    if !applied.is_empty() {
        let state = state.clone();
        let actor = actor.clone();
        tokio::spawn(async move {
            for sale in &applied {
                price_check(&state, sale, &actor).await;
            }
        });
    }
    let count = |o| results.iter().filter(|r| r.outcome == o).count();
    tracing::info!(
        device = %device.id,
        store = %device.location_id,
        applied = count(SaleOutcome::Applied),
        duplicate = count(SaleOutcome::Duplicate),
        rejected = count(SaleOutcome::Rejected),
        "sales pushed"
    );
    Ok(results)
}

/// Checks that a sale naming a member may touch their account. Earning points needs only the
/// member's id (a member found by phone number at the till); spending their stored balance,
/// points or coupons needs the signed member code the member showed, which must be genuine,
/// name the same member and have been valid when the sale was completed (`completed_at` is
/// checked against the server's clock by [`validate_sale`]). A lane credential alone can no
/// longer charge whichever member it names.
pub fn check_member_proof(
    sale: &PosSale,
    verifier: &retail_domain::codes::CodeVerifier,
) -> Result<(), String> {
    let Some(member) = sale.member_id else {
        return match sale.member_code {
            Some(_) => Err("member_code: the sale names no member".into()),
            None => Ok(()),
        };
    };
    let spends = !sale.coupons.is_empty()
        || sale.payments.iter().any(|p| {
            matches!(
                p.method,
                PaymentMethod::StoredBalance | PaymentMethod::Points
            )
        });
    let Some(text) = sale.member_code.as_deref() else {
        return if spends {
            Err(
                "spending a member's stored balance, points or coupons needs the member code \
                 scanned at the till"
                    .into(),
            )
        } else {
            Ok(())
        };
    };
    if text.len() > 512 {
        return Err("member_code: too long".into());
    }
    match verifier.verify(text, sale.completed_at) {
        Ok(retail_domain::codes::SignedCode::Member(code)) if code.member_id == member => Ok(()),
        Ok(retail_domain::codes::SignedCode::Member(_)) => {
            Err("member_code: the code belongs to another member".into())
        }
        Ok(_) => Err("member_code: not a member code".into()),
        Err(retail_domain::codes::CodeError::Expired) => {
            Err("member_code: the code had expired when the sale was completed".into())
        }
        Err(e) => Err(format!("member_code: {e}")),
    }
}

/// Returns items of a completed POS sale (or a picked-up or delivered online order), at a lane
/// or by store staff: checked here (shape, quantities, reason), applied once by the return's id
/// ([`apply_return`]), within the caller's store.
pub async fn create_return(
    state: &AppState,
    caller: &Caller,
    req: &CreateReturn,
) -> AppResult<ReturnResult> {
    if let Caller::Device(device) = &caller {
        if device.kind != DeviceKind::Pos {
            return Err(AppError::Forbidden(
                "only POS terminals record returns".into(),
            ));
        }
    }
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    if req.lines.is_empty() || req.lines.len() > MAX_RETURN_LINES {
        return Err(AppError::field(
            "lines",
            format!("1 to {MAX_RETURN_LINES} lines"),
        ));
    }
    let mut seen = HashSet::with_capacity(req.lines.len());
    for line in &req.lines {
        if line.line_no == 0 || !seen.insert(line.line_no) {
            return Err(AppError::field(
                "lines",
                format!(
                    "line {}: line numbers start at 1 and appear once",
                    line.line_no
                ),
            ));
        }
        if line.qty <= 0 || line.qty > MAX_LINE_QTY {
            return Err(AppError::field(
                "lines",
                format!("line {}: qty must be 1 to {MAX_LINE_QTY}", line.line_no),
            ));
        }
    }
    let reason = req.reason.as_deref().unwrap_or("").trim();
    if !text_ok(reason, MAX_TEXT) {
        return Err(AppError::field(
            "reason",
            format!("at most {MAX_TEXT} characters"),
        ));
    }
    let (approved_by, cashier) = approve_return(state, caller, req).await?;
    let input = NewReturn {
        id: req.id,
        order_id: req.order_id,
        lines: &req.lines,
        reason,
        approved_by: &approved_by,
        cashier: &cashier,
        refund_shipping: false,
    };
    let result = apply_return(
        &state.store,
        &state.settings.points,
        &input,
        &caller.actor(),
        |location| caller.require_store(location),
    )
    .await?;
    Ok(result)
}

/// Who approves a return and who rang it up: a store manager's or head office's own session
/// approves by itself; a lane or a cashier's session needs the PIN approval of a store manager
/// of its store (or a head-office administrator), and a lane names its signed-in cashier, who
/// must be on the store's lane roster. Answers (approved by, cashier), user names.
async fn approve_return(
    state: &AppState,
    caller: &Caller,
    req: &CreateReturn,
) -> AppResult<(String, String)> {
    let (store, cashier) = match caller {
        Caller::Staff(staff) if staff.role != Role::Cashier => {
            return Ok((staff.username.clone(), staff.username.clone()));
        }
        Caller::Staff(staff) => (
            staff.location_id.clone().unwrap_or_default(),
            staff.username.clone(),
        ),
        Caller::Device(device) => {
            let named = req
                .cashier
                .as_deref()
                .ok_or_else(|| AppError::field("cashier", "a lane names the cashier signed in"))?;
            let cashier = super::staff::lane_person(state, &device.location_id, named).await?;
            (device.location_id.clone(), cashier)
        }
    };
    let approval = req.approval.as_ref().ok_or_else(|| {
        AppError::field(
            "approval",
            "a return needs a store manager's approval: their user name and lane PIN",
        )
    })?;
    let approver =
        super::staff::check_approval(state, &store, &approval.username, &approval.pin).await?;
    Ok((approver.username, cashier))
}

/// A sale about to be claimed: its order number and the points it redeems.
struct Claim<'a> {
    index: usize,
    sale: &'a PosSale,
    order_no: String,
    attempt: u32,
    points_redeemed: i64,
}

/// The server order number of a sale (`attempt` > 0 after a collision).
fn sale_number(sale: &PosSale, attempt: u32) -> String {
    retail_domain::ids::order_number_attempt(
        storage::sales::SALE_NUMBER_PREFIX,
        sale.completed_at,
        sale.id,
        attempt,
    )
}

/// Points redeemed by a sale's `points` payments.
fn points_redeemed(sale: &PosSale) -> i64 {
    sale.payments
        .iter()
        .filter(|p| p.method == PaymentMethod::Points)
        .map(|p| p.points)
        .fold(0_i64, i64::saturating_add)
}

/// What a sale earns points on: the total minus the part paid with points.
fn earning_base(sale: &PosSale) -> Money {
    let points_paid: i64 = sale
        .payments
        .iter()
        .filter(|p| p.method == PaymentMethod::Points)
        .map(|p| p.amount.fen())
        .fold(0_i64, i64::saturating_add);
    Money::from_fen(sale.total.fen().saturating_sub(points_paid).max(0))
}

/// Checks a sale's QR payment against the lane payment intent it names; answers the provider's
/// reference, or why the sale cannot be taken.
fn check_qr_payment(
    sale: &PosSale,
    payment: &retail_domain::wire::sales::PosPayment,
    intent: Option<&LanePaymentRecord>,
    store_id: &str,
) -> Result<String, String> {
    let id = payment.id;
    let tender = payment.method.as_str();
    let intent = intent.ok_or_else(|| {
        format!("{tender} payment {id} is unknown to the server (no lane payment with this id)")
    })?;
    if intent.location_id != store_id || intent.sale_id != sale.id {
        return Err(format!("{tender} payment {id} was asked for another sale"));
    }
    if intent.method != payment.method {
        return Err(format!(
            "{tender} payment {id} was paid as {}, not {tender}",
            intent.method.as_str()
        ));
    }
    if intent.order_id.is_some_and(|o| o != sale.id) {
        return Err(format!("{tender} payment {id} was taken by another sale"));
    }
    if intent.status != LanePaymentStatus::Succeeded {
        return Err(format!(
            "{tender} payment {id} was not paid (it is {})",
            intent.status.as_str()
        ));
    }
    if intent.amount != payment.amount {
        return Err(format!(
            "{tender} payment {id} paid {}, but the sale says {}",
            intent.amount, payment.amount
        ));
    }
    let provider_ref = intent.provider_ref.clone().unwrap_or_default();
    if payment
        .provider_ref
        .as_ref()
        .is_some_and(|r| *r != provider_ref)
    {
        return Err(format!(
            "{tender} payment {id}: the provider reference does not match the provider's"
        ));
    }
    Ok(provider_ref)
}

/// Applies a push of sales in one transaction and answers one result per sale, in order: the
/// exactly-once rules of a lane push, composed of storage statements.
///
/// `rejected[i]` carries the validation error of sale `i` (checked by the caller without the
/// database); such sales are answered `rejected` and not stored. Here the sales are further
/// checked against the database (known SKUs and member, payment ids not used by another order);
/// a sale whose stored balance or points cannot be charged is rejected with that message. None
/// of these stop the other sales of the push.
#[allow(clippy::needless_range_loop)] // parallel per-sale vectors, indexed by the sale's position
pub async fn apply_push(
    store: &Store,
    ctx: &PushContext<'_>,
    sales: &[PosSale],
    mut rejected: Vec<Option<String>>,
) -> AppResult<Vec<SaleResult>> {
    let n = sales.len();
    rejected.resize(n, None);

    // Copies of the same sale inside one push are answered from the first valid copy.
    let mut first_copy: HashMap<Uuid, usize> = HashMap::new();
    let mut copy_of: Vec<Option<usize>> = vec![None; n];
    for (i, sale) in sales.iter().enumerate() {
        if rejected[i].is_some() {
            continue;
        }
        match first_copy.get(&sale.id) {
            Some(&first) => copy_of[i] = Some(first),
            None => {
                first_copy.insert(sale.id, i);
            }
        }
    }
    let live =
        |rejected: &[Option<String>], i: usize| rejected[i].is_none() && copy_of[i].is_none();

    // Known SKUs and members (read before the transaction: neither is ever deleted).
    let sku_ids: Vec<Uuid> = (0..n)
        .filter(|&i| live(&rejected, i))
        .flat_map(|i| sales[i].lines.iter().map(|l| l.sku_id))
        .collect();
    let missing: HashSet<Uuid> = storage::stock::missing_skus(store, &sku_ids)
        .await?
        .into_iter()
        .collect();
    let member_ids: Vec<String> = {
        let set: HashSet<Uuid> = (0..n)
            .filter(|&i| live(&rejected, i))
            .filter_map(|i| sales[i].member_id)
            .collect();
        let mut ids: Vec<String> = set.iter().map(Uuid::to_string).collect();
        ids.sort();
        ids
    };
    let known_members = storage::members::known_ids(store, &member_ids).await?;
    for i in 0..n {
        if !live(&rejected, i) {
            continue;
        }
        let sale = &sales[i];
        if let Some(line) = sale.lines.iter().find(|l| missing.contains(&l.sku_id)) {
            rejected[i] = Some(format!(
                "line {}: unknown SKU {}",
                line.line_no, line.sku_id
            ));
        } else if let Some(member) = sale.member_id.filter(|m| !known_members.contains(m)) {
            rejected[i] = Some(format!("unknown member {member}"));
        }
    }

    let now = storage::now_ms();
    let mut tx = store.begin().await?;
    let mut outcome: Vec<Option<(SaleOutcome, String, i64)>> = vec![None; n];

    // 1. Sales stored by an earlier push. A sale stored already is answered `duplicate` even if
    //    it fails validation now (e.g. the points rules changed since): it is on the server.
    let ids: Vec<String> = (0..n)
        .filter(|&i| copy_of[i].is_none())
        .map(|i| sales[i].id.to_string())
        .collect();
    let stored = storage::sales::stored_sales(&mut tx, &ids).await?;
    type Outcome = Option<(SaleOutcome, String, i64)>;
    let answer_stored =
        |i: usize, found: &StoredSale, rejected: &mut [Option<String>], outcome: &mut [Outcome]| {
            if found.channel == Channel::Pos.as_str() && found.location_id == ctx.store_id {
                outcome[i] = Some((
                    SaleOutcome::Duplicate,
                    found.order_no.clone(),
                    found.points_earned,
                ));
            } else {
                rejected[i] = Some(format!(
                    "sale id {} is already used by another order",
                    sales[i].id
                ));
            }
        };
    for i in 0..n {
        let Some(found) = stored.get(&sales[i].id) else {
            continue;
        };
        if live(&rejected, i) {
            answer_stored(i, found, &mut rejected, &mut outcome);
        } else if copy_of[i].is_none()
            && found.channel == Channel::Pos.as_str()
            && found.location_id == ctx.store_id
        {
            rejected[i] = None;
            answer_stored(i, found, &mut rejected, &mut outcome);
        }
    }
    let is_new = |rejected: &[Option<String>],
                  outcome: &[Option<(SaleOutcome, String, i64)>],
                  i: usize| { live(rejected, i) && outcome[i].is_none() };

    // 2. Payment ids and provider references must not belong to another order.
    let mut payment_owner: HashMap<String, Uuid> = HashMap::new();
    let mut ref_owner: HashMap<String, Uuid> = HashMap::new();
    for i in 0..n {
        if !is_new(&rejected, &outcome, i) {
            continue;
        }
        let sale = &sales[i];
        let clash = sale.payments.iter().find_map(|p| {
            if payment_owner
                .get(&p.id.to_string())
                .is_some_and(|o| *o != sale.id)
            {
                return Some(format!(
                    "payment {} is also used by another sale of this push",
                    p.id
                ));
            }
            match &p.provider_ref {
                Some(r) if ref_owner.get(r).is_some_and(|o| *o != sale.id) => Some(format!(
                    "provider reference {r} is also used by another sale of this push"
                )),
                _ => None,
            }
        });
        if let Some(message) = clash {
            rejected[i] = Some(message);
            continue;
        }
        for p in &sale.payments {
            payment_owner.insert(p.id.to_string(), sale.id);
            if let Some(r) = &p.provider_ref {
                ref_owner.insert(r.clone(), sale.id);
            }
        }
    }
    let payment_ids: Vec<String> = payment_owner.keys().cloned().collect();
    let used_payments = storage::payments::orders_of_payments(&mut tx, &payment_ids).await?;
    let provider_refs: Vec<String> = ref_owner.keys().cloned().collect();
    let used_refs = storage::payments::orders_of_provider_refs(&mut tx, &provider_refs).await?;
    for i in 0..n {
        if !is_new(&rejected, &outcome, i) {
            continue;
        }
        let sale = &sales[i];
        let clash = sale.payments.iter().find_map(|p| {
            if used_payments
                .get(&p.id.to_string())
                .is_some_and(|o| *o != sale.id)
            {
                return Some(format!("payment {} already belongs to another order", p.id));
            }
            match &p.provider_ref {
                Some(r) if used_refs.get(r).is_some_and(|o| *o != sale.id) => Some(format!(
                    "provider reference {r} already belongs to another order"
                )),
                _ => None,
            }
        });
        if let Some(message) = clash {
            rejected[i] = Some(message);
        }
    }

    // 2b. A provider's tender taken at the lane (the sandbox's QR, WeChat Pay, Alipay: a QR or
    //     a payment code) is a lane payment of this store, for this sale, of this tender, paid
    //     with this amount, and not taken by another sale: the sale references it, and the money
    //     is counted once (the row in `payments` appears now, with the sale).
    let qr_ids: Vec<String> = (0..n)
        .filter(|&i| is_new(&rejected, &outcome, i))
        .flat_map(|i| sales[i].payments.iter())
        .filter(|p| p.method.is_provider())
        .map(|p| p.id.to_string())
        .collect();
    let intents = storage::lane_payments::for_ids_in_tx(&mut tx, store, &qr_ids).await?;
    let mut qr_refs: HashMap<Uuid, String> = HashMap::new();
    for i in 0..n {
        if !is_new(&rejected, &outcome, i) {
            continue;
        }
        let sale = &sales[i];
        for p in sale.payments.iter().filter(|p| p.method.is_provider()) {
            match check_qr_payment(sale, p, intents.get(&p.id), ctx.store_id) {
                Ok(provider_ref) => {
                    qr_refs.insert(p.id, provider_ref);
                }
                Err(message) => {
                    rejected[i] = Some(message);
                    break;
                }
            }
        }
    }

    // 3. Order numbers, resolving the rare collisions (inside the push, then with stored ones).
    let mut numbers: HashSet<String> = HashSet::new();
    let mut claims: Vec<Claim<'_>> = Vec::new();
    for i in 0..n {
        if !is_new(&rejected, &outcome, i) {
            continue;
        }
        let sale = &sales[i];
        let mut attempt = 0;
        let mut order_no = sale_number(sale, attempt);
        while !numbers.insert(order_no.clone()) {
            attempt += 1;
            order_no = sale_number(sale, attempt);
        }
        claims.push(Claim {
            index: i,
            sale,
            order_no,
            attempt,
            points_redeemed: points_redeemed(sale),
        });
    }
    let candidates: Vec<String> = claims.iter().map(|c| c.order_no.clone()).collect();
    let taken = storage::orders::taken_order_nos(&mut tx, &candidates).await?;
    for claim in claims.iter_mut().filter(|c| taken.contains(&c.order_no)) {
        loop {
            claim.attempt += 1;
            let candidate = sale_number(claim.sale, claim.attempt);
            if !taken.contains(&candidate) && numbers.insert(candidate.clone()) {
                claim.order_no = candidate;
                break;
            }
        }
    }
    // Sorted by id, so concurrent pushes of overlapping batches wait on each other in one order.
    claims.sort_by_key(|c| c.sale.id);

    // 4. Claim the sales. A row not inserted was stored meanwhile by a concurrent push of the same
    //    sale (answered `duplicate`), or — very rarely — its number was taken meanwhile (retried
    //    with the next number).
    let mut applied: Vec<usize> = Vec::new();
    let mut pending: Vec<&mut Claim<'_>> = claims.iter_mut().collect();
    for _round in 0..8 {
        if pending.is_empty() {
            break;
        }
        let batch: Vec<NewSaleOrder<'_>> = pending
            .iter()
            .map(|c| NewSaleOrder {
                sale: c.sale,
                order_no: &c.order_no,
                points_redeemed: c.points_redeemed,
            })
            .collect();
        let inserted = storage::sales::insert_orders(&mut tx, ctx, &batch, now).await?;
        let missing: Vec<String> = pending
            .iter()
            .filter(|c| !inserted.contains(&c.sale.id))
            .map(|c| c.sale.id.to_string())
            .collect();
        let found = storage::sales::stored_sales(&mut tx, &missing).await?;
        let mut retry = Vec::new();
        for claim in pending {
            if inserted.contains(&claim.sale.id) {
                applied.push(claim.index);
            } else if let Some(stored) = found.get(&claim.sale.id) {
                answer_stored(claim.index, stored, &mut rejected, &mut outcome);
            } else {
                loop {
                    claim.attempt += 1;
                    let candidate = sale_number(claim.sale, claim.attempt);
                    if numbers.insert(candidate.clone()) {
                        claim.order_no = candidate;
                        break;
                    }
                }
                retry.push(claim);
            }
        }
        pending = retry;
    }
    if !pending.is_empty() {
        return Err(AppError::Internal(anyhow::anyhow!(
            "could not allocate order numbers for a push"
        )));
    }
    let order_nos: HashMap<usize, String> = claims
        .iter()
        .map(|c| (c.index, c.order_no.clone()))
        .collect();

    // 5. Members, in member order: charge stored balance and points (idempotent by payment id),
    //    then earn on what was not paid with points (idempotent by sale id).
    let mut earned: HashMap<usize, i64> = HashMap::new();
    let mut by_member: Vec<(Uuid, Uuid, usize)> = applied
        .iter()
        .filter_map(|&i| sales[i].member_id.map(|m| (m, sales[i].id, i)))
        .collect();
    by_member.sort();
    let mut dropped: HashSet<usize> = HashSet::new();
    for (member, sale_id, i) in by_member {
        let sale = &sales[i];
        let charges: Vec<_> = sale
            .payments
            .iter()
            .filter(|p| {
                matches!(
                    p.method,
                    PaymentMethod::StoredBalance | PaymentMethod::Points
                )
            })
            .collect();
        if !charges.is_empty() || !sale.coupons.is_empty() {
            storage::savepoint(&mut tx, "pos_sale_charge").await?;
            let mut failure: Option<String> = None;
            // The coupons chosen at the till are used by this sale, once.
            match storage::coupons::use_for_sale_in_tx(
                &mut tx,
                member,
                &sale.coupons,
                sale_id,
                sale.completed_at.timestamp_millis(),
            )
            .await
            {
                Ok(()) => {}
                Err(AppError::Internal(err)) => return Err(AppError::Internal(err)),
                Err(err) => failure = Some(err.to_string()),
            }
            for payment in charges {
                if failure.is_some() {
                    break;
                }
                let ref_id = payment.id.to_string();
                let result = match payment.method {
                    PaymentMethod::StoredBalance => {
                        storage::members::pay_balance_in_tx(
                            &mut tx,
                            store.dialect(),
                            member,
                            payment.amount,
                            &ref_id,
                            Some(sale_id),
                            ctx.actor,
                        )
                        .await
                    }
                    _ => {
                        storage::members::redeem_in_tx(
                            &mut tx,
                            store.dialect(),
                            member,
                            payment.points,
                            &ref_id,
                            ctx.actor,
                        )
                        .await
                    }
                };
                match result {
                    Ok(()) => {}
                    Err(AppError::Internal(err)) => return Err(AppError::Internal(err)),
                    Err(err) => {
                        failure = Some(err.to_string());
                        break;
                    }
                }
            }
            if let Some(message) = failure {
                storage::rollback_to_savepoint(&mut tx, "pos_sale_charge").await?;
                // The order row was inserted by this transaction only: nobody has seen it.
                storage::orders::discard_unseen(&mut tx, sale_id).await?;
                rejected[i] = Some(message);
                dropped.insert(i);
                continue;
            }
            storage::release_savepoint(&mut tx, "pos_sale_charge").await?;
        }
        let at = sale.completed_at.timestamp_millis().min(now);
        let points = storage::members::earn_in_tx(
            &mut tx,
            ctx.rules,
            member,
            earning_base(sale),
            &sale_id.to_string(),
            ctx.actor,
            at,
        )
        .await?;
        earned.insert(i, points);
    }
    applied.retain(|i| !dropped.contains(i));
    let earning: Vec<(String, i64)> = applied
        .iter()
        .filter_map(|i| {
            earned
                .get(i)
                .filter(|p| **p != 0)
                .map(|p| (sales[*i].id.to_string(), *p))
        })
        .collect();
    storage::sales::set_points_earned(&mut tx, &earning).await?;
    applied.sort_by_key(|&i| sales[i].id);

    // 6. Lines, events, payments and stock of the applied sales.
    if !applied.is_empty() {
        let sale_ids =
            storage::sales::insert_sale_rows(&mut tx, ctx, sales, &applied, &qr_refs, now).await?;
        let mut movements: Vec<Movement<'_>> = applied
            .iter()
            .flat_map(|&i| {
                let sale = &sales[i];
                let reason = if sale.offline {
                    "pos sale (offline)"
                } else {
                    "pos sale"
                };
                let ref_id = sale_ids[&i].as_str();
                sale.lines.iter().map(move |l| Movement {
                    location_id: ctx.store_id,
                    sku_id: l.sku_id,
                    kind: MovementKind::Sale,
                    on_hand_delta: -l.qty,
                    reserved_delta: 0,
                    reason,
                    actor: ctx.actor,
                    ref_id: Some(ref_id),
                    client_ts: sale.completed_at.timestamp_millis(),
                })
            })
            .collect();
        // Stock rows in SKU order (the order every writer locks them in).
        movements.sort_by(|a, b| a.sku_id.cmp(&b.sku_id).then(a.ref_id.cmp(&b.ref_id)));
        storage::stock::apply_movements(&mut tx, &movements).await?;
        for &i in &applied {
            for p in sales[i].payments.iter().filter(|p| p.method.is_provider()) {
                storage::lane_payments::mark_taken_in_tx(&mut tx, p.id, sales[i].id).await?;
            }
        }
    }
    tx.commit().await?;

    // 7. Answers, with the members' points balances after the push.
    for &i in &applied {
        outcome[i] = Some((
            SaleOutcome::Applied,
            order_nos.get(&i).cloned().unwrap_or_default(),
            earned.get(&i).copied().unwrap_or(0),
        ));
    }
    let mut balances: BTreeMap<Uuid, i64> = BTreeMap::new();
    for i in 0..n {
        let source = copy_of[i].unwrap_or(i);
        if let (Some(member), Some(_)) = (sales[source].member_id, &outcome[source]) {
            if rejected[source].is_none() && !balances.contains_key(&member) {
                balances.insert(
                    member,
                    storage::members::points_balance(store, member).await?,
                );
            }
        }
    }
    let mut results = Vec::with_capacity(n);
    for (i, sale) in sales.iter().enumerate() {
        let source = copy_of[i].unwrap_or(i);
        let result = match (&rejected[i], &rejected[source], &outcome[source]) {
            (Some(error), _, _) | (None, Some(error), _) => SaleResult {
                id: sale.id,
                outcome: SaleOutcome::Rejected,
                order_no: None,
                points_earned: 0,
                points_balance: None,
                error: Some(error.clone()),
            },
            (None, None, Some((kind, order_no, points))) => SaleResult {
                id: sale.id,
                outcome: if source == i {
                    *kind
                } else {
                    SaleOutcome::Duplicate
                },
                order_no: Some(order_no.clone()),
                points_earned: *points,
                points_balance: sales[source]
                    .member_id
                    .and_then(|m| balances.get(&m).copied()),
                error: None,
            },
            (None, None, None) => {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "sale {} was left without an outcome",
                    sale.id
                )));
            }
        };
        results.push(result);
    }
    Ok(results)
}

/// Records a return: refunds what was actually paid for the returned units, puts them back into
/// stock, takes back the points they earned and gives back their share of stored balance and
/// redeemed points, all in one transaction. `authorize` is asked whether the caller may act for
/// the order's location before anything is read or changed. A retry with the same id answers the
/// first result; the same id on another order is 409 `id_in_use`.
pub async fn apply_return(
    store: &Store,
    rules: &PointsRules,
    input: &NewReturn<'_>,
    actor: &str,
    authorize: impl Fn(&str) -> AppResult<()>,
) -> AppResult<ReturnResult> {
    let mut tx = store.begin().await?;
    let head = storage::orders::lock_head(&mut tx, store, input.order_id).await?;
    authorize(&head.location_id)?;
    let return_id = input.id.to_string();
    if let Some(order_id) = storage::sales::return_order(&mut tx, input.id).await? {
        drop(tx);
        if order_id != input.order_id {
            return Err(AppError::conflict(
                "id_in_use",
                "this return id belongs to another order",
            ));
        }
        return storage::sales::returns_of(store, rules, input.order_id)
            .await?
            .into_iter()
            .find(|r| r.return_id == input.id)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("return {} vanished", input.id)));
    }
    match head.status {
        OrderStatus::Completed
        | OrderStatus::PickedUp
        | OrderStatus::Delivered
        | OrderStatus::AfterSale => {}
        OrderStatus::Refunded => {
            return Err(AppError::conflict(
                "not_returnable",
                format!(
                    "order {} has been refunded completely already",
                    head.order_no
                ),
            ));
        }
        other => {
            return Err(AppError::conflict(
                "not_returnable",
                format!(
                    "order {} is {}: only completed, collected or delivered orders take returns",
                    head.order_no, other
                ),
            ));
        }
    }

    // What is left to return, and what each line refunded so far.
    let lines = storage::orders::lines_in_tx(&mut tx, input.order_id).await?;
    let line_refunded = storage::sales::refunded_by_line(&mut tx, input.order_id).await?;
    let by_no: HashMap<i64, (Uuid, i64, i64, i64)> = lines
        .iter()
        .map(|(no, sku, qty, amount, returned)| (*no, (*sku, *qty, *amount, *returned)))
        .collect();
    let mut results: Vec<(ReturnLineResult, Uuid)> = Vec::with_capacity(input.lines.len());
    for request in input.lines {
        let no = i64::from(request.line_no);
        let Some(&(sku, qty, amount, returned)) = by_no.get(&no) else {
            return Err(AppError::field(
                "lines",
                format!("order {} has no line {}", head.order_no, request.line_no),
            ));
        };
        let left = qty - returned;
        if request.qty > left {
            return Err(AppError::conflict(
                "return_exceeds_sale",
                format!(
                    "line {}: {} to return, but only {} of {} sold are left to return",
                    request.line_no,
                    request.qty,
                    left.max(0),
                    qty
                ),
            ));
        }
        let refund = if request.qty == left {
            amount - line_refunded.get(&no).copied().unwrap_or(0)
        } else {
            i64::try_from(i128::from(amount) * i128::from(request.qty) / i128::from(qty.max(1)))
                .unwrap_or(0)
        };
        results.push((
            ReturnLineResult {
                line_no: request.line_no,
                qty: request.qty,
                refund: Money::from_fen(refund.max(0)),
            },
            sku,
        ));
    }
    // Everything back: completed (or collected, delivered) → after_sale → refunded.
    let returned: HashMap<u32, i64> = results.iter().map(|(l, _)| (l.line_no, l.qty)).collect();
    let all_back = lines.iter().all(|(no, _, qty, _, already)| {
        let now_back = u32::try_from(*no)
            .ok()
            .and_then(|n| returned.get(&n))
            .copied()
            .unwrap_or(0);
        already + now_back >= *qty
    });
    // The shipping fee goes back with the last units when the caller says so.
    let shipping_fen = if input.refund_shipping && all_back {
        storage::delivery::shipping_fee_in_tx(&mut tx, input.order_id).await?
    } else {
        0
    };
    let refund_fen: i64 = results.iter().map(|(l, _)| l.refund.fen()).sum::<i64>() + shipping_fen;

    // The order's earlier returns, and the split of this one.
    let (refunded_before, last_at) = storage::sales::returns_total(&mut tx, input.order_id).await?;
    // Strictly after the order's previous return, so the returns' order is their commit order.
    let created_at = storage::now_ms().max(last_at + 1);
    let basis = storage::sales::refund_basis(&mut tx, rules, &head).await?;
    let refunded_after = refunded_before + refund_fen;
    let before = storage::sales::split_refunded(&basis, refunded_before);
    let after = storage::sales::split_refunded(&basis, refunded_after);
    let (balance_back, points_back) = (after.1 - before.1, after.3 - before.3);
    let (points_then, growth_then) = storage::sales::reversed_by(&basis, refunded_before);
    let (points_now, growth_now) = storage::sales::reversed_by(&basis, refunded_after);
    let (points_to_take, growth_to_take) = (points_now - points_then, growth_now - growth_then);

    // Members first, then stock (the lock order of every writer here).
    let mut points_reversed = 0;
    if let Some(member) = head.member_id {
        if points_to_take > 0 || growth_to_take > 0 {
            storage::members::reverse_in_tx(
                &mut tx,
                member,
                points_to_take,
                growth_to_take,
                &return_id,
                actor,
            )
            .await?;
            if let Some(delta) = storage::members::reversal_delta(&mut tx, &return_id).await? {
                points_reversed = -delta;
            }
        }
        if balance_back > 0 {
            storage::members::refund_balance_in_tx(
                &mut tx,
                member,
                Money::from_fen(balance_back),
                &return_id,
                Some(input.order_id),
                actor,
            )
            .await?;
        }
        if points_back > 0 {
            storage::members::refund_points_in_tx(&mut tx, member, points_back, &return_id, actor)
                .await?;
        }
    }
    let mut movements: Vec<Movement<'_>> = results
        .iter()
        .map(|(line, sku)| Movement {
            location_id: &head.location_id,
            sku_id: *sku,
            kind: MovementKind::Return,
            on_hand_delta: line.qty,
            reserved_delta: 0,
            reason: "return",
            actor,
            ref_id: Some(&return_id),
            client_ts: created_at,
        })
        .collect();
    movements.sort_by_key(|m| m.sku_id);
    storage::stock::apply_movements(&mut tx, &movements).await?;
    for (line, _) in &results {
        storage::sales::add_returned_qty(&mut tx, input.order_id, line.line_no, line.qty).await?;
    }
    // The distributors' commission on the returned units is reversed (`app::distribution`).
    let returned_after: Vec<(i64, i64)> = results
        .iter()
        .map(|(l, _)| {
            let no = i64::from(l.line_no);
            let before = by_no.get(&no).map(|(_, _, _, r)| *r).unwrap_or(0);
            (no, before + l.qty)
        })
        .collect();
    super::distribution::reverse_in_tx(
        &mut tx,
        store,
        input.order_id,
        Some(&returned_after),
        &return_id,
    )
    .await?;
    let returned_lines: Vec<ReturnLineResult> = results.iter().map(|(l, _)| l.clone()).collect();
    let tenders = storage::sales::tender_refunds(&basis, before.0, after.0);
    // What goes back through a provider (WeChat Pay, Alipay, the sandbox) is sent to it after
    // the commit, tracked until final; the return was approved with a manager's PIN already.
    for tender in tenders
        .iter()
        .filter(|t| super::refunds::is_provider_tender(&t.method))
    {
        super::refunds::request_in_tx(
            &mut tx,
            Money::ZERO,
            &super::refunds::RefundAsk {
                order_id: input.order_id,
                payment_id: None,
                method: &tender.method,
                amount_fen: tender.amount.fen(),
                reason: "退货退款 return",
                source: storage::refunds::RefundSource::Return,
                source_id: Some(&return_id),
                requested_by: actor,
                approved_by: Some(input.approved_by),
            },
        )
        .await?;
    }
    storage::sales::insert_return(
        &mut tx,
        &storage::sales::ReturnRecord {
            id: input.id,
            order_id: input.order_id,
            location_id: &head.location_id,
            refund_fen,
            points_reversed,
            reason: input.reason,
            actor,
            approved_by: input.approved_by,
            cashier: input.cashier,
            created_at,
            lines: &returned_lines,
        },
    )
    .await?;
    storage::audit::record(
        &mut tx,
        actor,
        "refund",
        "order",
        &input.order_id.to_string(),
        serde_json::json!({
            "return_id": return_id,
            "order_no": head.order_no,
            "refund": Money::from_fen(refund_fen).to_string(),
            "shipping": Money::from_fen(shipping_fen).to_string(),
            "tender": Money::from_fen(after.0 - before.0).to_string(),
            "stored_balance": Money::from_fen(balance_back).to_string(),
            "points_refunded": points_back,
            "points_reversed": points_reversed,
            "tenders": tenders.iter().map(|t| serde_json::json!({
                "method": t.method, "amount": t.amount.to_string()
            })).collect::<Vec<_>>(),
            "approved_by": input.approved_by,
            "cashier": input.cashier,
            "lines": results.iter().map(|(l, _)| serde_json::json!({
                "line_no": l.line_no, "qty": l.qty, "refund": l.refund.to_string()
            })).collect::<Vec<_>>(),
            "reason": input.reason,
        }),
    )
    .await?;

    if all_back {
        let mut head = head.clone();
        for to in [OrderStatus::AfterSale, OrderStatus::Refunded] {
            if head.status == to {
                continue;
            }
            check_transition(head.fulfilment, head.status, to)
                .map_err(|e| AppError::conflict("invalid_transition", e.to_string()))?;
            let reason = if to == OrderStatus::Refunded {
                "everything returned"
            } else {
                "return"
            };
            super::orders::record_status(&mut tx, &head, to, actor, reason).await?;
            head.status = to;
        }
        storage::payments::mark_order_refunded(&mut tx, input.order_id).await?;
    }
    tx.commit().await?;

    Ok(ReturnResult {
        return_id: input.id,
        order_id: input.order_id,
        refund: Money::from_fen(refund_fen),
        shipping_refund: Money::from_fen(shipping_fen),
        balance_refunded: Money::from_fen(balance_back),
        points_refunded: points_back,
        tender_refund: Money::from_fen(after.0 - before.0),
        tenders,
        approved_by: Some(input.approved_by.to_owned()),
        cashier: Some(input.cashier.to_owned()),
        points_reversed,
        reason: input.reason.to_owned(),
        actor: actor.to_owned(),
        created_at: storage::from_ms(created_at),
        lines: results.into_iter().map(|(l, _)| l).collect(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use retail_domain::wire::sales::{PosPayment, PosSaleLine};

    fn sale() -> PosSale {
        PosSale {
            id: Uuid::now_v7(),
            sale_no: "SH001-01-000001".into(),
            store: "SH001".into(),
            cashier: "cashier1.sh001".into(),
            member_id: None,
            member_code: None,
            lines: vec![PosSaleLine {
                line_no: 1,
                sku_id: Uuid::now_v7(),
                barcode: "6901234567892".into(),
                name: "水".into(),
                qty: 2,
                unit_price: Money::from_fen(250),
                discount: Money::ZERO,
                amount: Money::from_fen(500),
                label_price: None,
            }],
            payments: vec![PosPayment {
                id: Uuid::now_v7(),
                method: PaymentMethod::Cash,
                amount: Money::from_fen(500),
                points: 0,
                provider_ref: None,
            }],
            subtotal: Money::from_fen(500),
            discount: Money::ZERO,
            total: Money::from_fen(500),
            completed_at: Utc::now(),
            offline: false,
            coupons: Vec::new(),
        }
    }

    #[test]
    fn validation() {
        let rules = PointsRules::default();
        let now = Utc::now();
        assert_eq!(validate_sale(&sale(), "SH001", &rules, now), Ok(()));
        let err = validate_sale(&sale(), "SH002", &rules, now).unwrap_err();
        assert!(err.starts_with("sale belongs to store SH001"), "{err}");
        let mut s = sale();
        s.total = Money::from_fen(400);
        assert!(validate_sale(&s, "SH001", &rules, now).is_err());
        let mut s = sale();
        s.lines[0].qty = 0;
        assert!(validate_sale(&s, "SH001", &rules, now).is_err());
        let mut s = sale();
        s.payments[0].amount = Money::from_fen(499);
        assert!(validate_sale(&s, "SH001", &rules, now).is_err());
        let mut s = sale();
        s.completed_at = now + chrono::Duration::minutes(11);
        assert!(validate_sale(&s, "SH001", &rules, now).is_err());
        let mut s = sale();
        s.payments[0].method = PaymentMethod::Points;
        s.payments[0].points = 500;
        assert!(validate_sale(&s, "SH001", &rules, now)
            .unwrap_err()
            .contains("needs a member"));
        s.member_id = Some(Uuid::now_v7());
        // 500 points = ¥5.00, but at most half of the sale may be paid with points.
        assert!(validate_sale(&s, "SH001", &rules, now)
            .unwrap_err()
            .contains("exceed"));
        let mut s = sale();
        s.lines.push(s.lines[0].clone());
        assert!(validate_sale(&s, "SH001", &rules, now)
            .unwrap_err()
            .contains("twice"));
        // Coupons: a member's sale only, each once, a few at most.
        let mut s = sale();
        let coupon = Uuid::now_v7();
        s.coupons = vec![coupon];
        assert!(validate_sale(&s, "SH001", &rules, now)
            .unwrap_err()
            .contains("only a member's sale"));
        s.member_id = Some(Uuid::now_v7());
        assert_eq!(validate_sale(&s, "SH001", &rules, now), Ok(()));
        s.coupons.push(coupon);
        assert!(validate_sale(&s, "SH001", &rules, now)
            .unwrap_err()
            .contains("appears twice"));
        s.coupons = (0..=MAX_SALE_COUPONS).map(|_| Uuid::now_v7()).collect();
        assert!(validate_sale(&s, "SH001", &rules, now)
            .unwrap_err()
            .contains("at most"));
    }

    #[test]
    fn spending_a_members_account_needs_their_member_code() {
        use retail_domain::codes::{CodeSigner, MemberCode, SignedCode};
        let signer = CodeSigner::generate();
        let verifier = signer.verifier();
        let member = Uuid::now_v7();
        let mut s = sale();
        s.member_id = Some(member);
        // Earning points: the id is enough (a member found by phone number).
        assert!(check_member_proof(&s, &verifier).is_ok());
        // Spending the balance: not without the code.
        s.payments[0].method = PaymentMethod::StoredBalance;
        let err = check_member_proof(&s, &verifier).unwrap_err();
        assert!(err.contains("member code"), "{err}");
        let code = |member_id, expires_at| {
            signer.sign(&SignedCode::Member(MemberCode {
                member_id,
                expires_at,
            }))
        };
        let valid_then = s.completed_at + chrono::Duration::seconds(60);
        s.member_code = Some(code(member, valid_then));
        assert!(check_member_proof(&s, &verifier).is_ok());
        // Another member's code, an expired one, a forged one, or one with no member named.
        s.member_code = Some(code(Uuid::now_v7(), valid_then));
        assert!(check_member_proof(&s, &verifier).is_err());
        s.member_code = Some(code(member, s.completed_at - chrono::Duration::seconds(1)));
        assert!(check_member_proof(&s, &verifier)
            .unwrap_err()
            .contains("expired"));
        let other = CodeSigner::generate();
        s.member_code = Some(other.sign(&SignedCode::Member(MemberCode {
            member_id: member,
            expires_at: valid_then,
        })));
        assert!(check_member_proof(&s, &verifier).is_err());
        s.member_code = Some("x".repeat(600));
        assert!(check_member_proof(&s, &verifier).is_err());
        s.payments[0].method = PaymentMethod::Cash;
        s.member_id = None;
        s.member_code = Some(code(member, valid_then));
        assert!(check_member_proof(&s, &verifier).is_err());
        // Coupons and points need it too.
        s.member_id = Some(member);
        s.member_code = None;
        s.coupons = vec![Uuid::now_v7()];
        assert!(check_member_proof(&s, &verifier).is_err());
    }
}
