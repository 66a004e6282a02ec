//! Lane sales: a POS lane pushes the sales it completed (journalled first, sent when online,
//! retried until answered). Each sale is checked without the database, then the batch is
//! applied exactly once by sale id ([`storage::sales::push_sales`]), and every applied sale is
//! re-priced with the one engine afterwards: a different total is audited for the store, never
//! refused (the shopper paid).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use retail_domain::money::Money;
use retail_domain::points::PointsRules;
use retail_domain::wire::sales::{
    CreateReturn, PaymentMethod, PosSale, ReturnResult, SaleOutcome, SaleResult, MAX_RETURN_LINES,
    MAX_SALES_PER_PUSH,
};
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use crate::actor::{Caller, DeviceActor, DeviceKind};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::sales::{NewReturn, PushContext};

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
/// idempotent upsert by sale id, all in one transaction. Each sale is answered `applied`,
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
    let verdicts: Vec<Option<String>> = sales
        .iter()
        .map(|sale| validate_sale(sale, &device.location_id, rules, now).err())
        .collect();
    let actor = device.actor();
    let ctx = PushContext {
        store_id: &device.location_id,
        device_id: device.id,
        actor: &actor,
        rules,
    };
    let results = storage::sales::push_sales(&state.store, &ctx, &sales, verdicts).await?;
    // Re-pricing is a check, not part of the answer: it runs after the lane has its reply.
    let applied: Vec<PosSale> = sales
        .into_iter()
        .zip(&results)
        .filter(|(_, r)| r.outcome == SaleOutcome::Applied)
        .map(|(sale, _)| sale)
        .collect();
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

/// Returns items of a completed POS sale (or a picked-up or delivered online order), at a lane
/// or by store staff: checked here (shape, quantities, reason), applied once by the return's id
/// ([`storage::sales::create_return`]), within the caller's store.
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
    let input = NewReturn {
        id: req.id,
        order_id: req.order_id,
        lines: &req.lines,
        reason,
    };
    let result = storage::sales::create_return(
        &state.store,
        &state.settings.points,
        &input,
        &caller.actor(),
        |location| caller.require_store(location),
    )
    .await?;
    Ok(result)
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
}
