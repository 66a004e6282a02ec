//! The finance export (issue 20): the daily settlement of one Beijing day (UTC+8, the payment
//! providers' day) per store — payments by tender, refunds, distribution commission and
//! provider fees — as JSON and as a CSV file. Payments and refunds are dated by the
//! reconciliation's rules ([`crate::storage::finance::records_of_day`]), so a day's settlement
//! through WeChat Pay or Alipay adds up to the records the reconciliation matches against that
//! provider's bill. See docs/CONTRACTS.md, "Middle-platform sync" → "Finance export".

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use retail_domain::money::Money;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::finance::SettlementRecord;

/// One money record of the day.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettlementLine {
    /// `payment`, `refund` or `commission`.
    pub kind: String,
    /// The payment's, refund's or commission ledger row's id.
    pub id: String,
    /// The tender (`wechat_pay`, `alipay`, `cash`, `stored_balance`, `card`, `points`,
    /// `sandbox_qr`); empty for commission.
    pub method: String,
    /// The order, if any (none for a recharge, or a lane payment whose sale has not arrived).
    pub order_id: Option<String>,
    /// The order's number, if any.
    pub order_no: Option<String>,
    /// The amount: a payment or refund as taken or given back; commission the distributors'
    /// share (a reversal negative).
    pub amount: Money,
    /// When it is dated (RFC 3339).
    pub at: DateTime<Utc>,
    /// The provider's transaction or refund id, when known.
    pub provider_ref: Option<String>,
}

/// Totals of one tender.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct MethodTotals {
    /// The tender.
    pub method: String,
    /// Payments taken.
    pub payments: Money,
    /// How many.
    pub payment_count: i64,
    /// Refunds given back.
    pub refunds: Money,
    /// How many.
    pub refund_count: i64,
}

/// One store's settlement of the day for one merchant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoreSettlement {
    /// The store (location code); none for money of no store (members' recharges).
    pub store_id: Option<String>,
    /// The merchant whose orders these are (`platform`: the operator's own, orders of several
    /// merchants' goods, and money of no order).
    pub merchant_id: Option<String>,
    /// Orders with a payment dated that day.
    pub orders: i64,
    /// Payments taken.
    pub payments: Money,
    /// Refunds given back.
    pub refunds: Money,
    /// Distribution commission booked (less reversals).
    pub commission: Money,
    /// Payment provider fees: not recorded by this server (the providers' bills carry them), so
    /// 0.00.
    pub fees: Money,
    /// `payments − refunds − commission − fees`.
    pub net: Money,
    /// Per tender, by tender name.
    pub by_method: Vec<MethodTotals>,
    /// Every record, in time order.
    pub lines: Vec<SettlementLine>,
}

/// The settlement of one day.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Settlement {
    /// The day (`YYYY-MM-DD`, Beijing).
    pub date: String,
    /// The day's time zone, `+08:00`.
    pub timezone: String,
    /// The day's start (RFC 3339).
    pub from: DateTime<Utc>,
    /// The next day's start.
    pub to: DateTime<Utc>,
    /// Per store and merchant (money of no store last), by store code, then merchant.
    pub stores: Vec<StoreSettlement>,
    /// Every store together.
    pub totals: MethodTotals,
    /// Every store's commission together.
    pub commission: Money,
    /// Every store's fees together.
    pub fees: Money,
    /// Every store's net together.
    pub net: Money,
}

/// Reads `YYYY-MM-DD` (422 on `field` otherwise).
pub fn parse_day(field: &str, text: &str) -> AppResult<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::field(field, "must be a day, YYYY-MM-DD"))
}

fn totals_of(method: &str, records: &[&SettlementRecord]) -> MethodTotals {
    let mut t = MethodTotals {
        method: method.to_owned(),
        ..MethodTotals::default()
    };
    let (mut paid, mut refunded) = (0_i64, 0_i64);
    for r in records {
        match r.kind.as_str() {
            "payment" => {
                paid += r.amount_fen;
                t.payment_count += 1;
            }
            "refund" => {
                refunded += r.amount_fen;
                t.refund_count += 1;
            }
            _ => {}
        }
    }
    t.payments = Money::from_fen(paid);
    t.refunds = Money::from_fen(refunded);
    t
}

/// The settlement of `day` (Beijing) per store and merchant: every store or only `store` (404
/// when it is no location), every merchant or only `merchant` (404 when it is none).
pub async fn settlement(
    state: &AppState,
    day: NaiveDate,
    store: Option<&str>,
    merchant: Option<&str>,
) -> AppResult<Settlement> {
    if let Some(merchant) = merchant {
        if storage::merchants::get(&state.store, merchant)
            .await?
            .is_none()
        {
            return Err(AppError::not_found(format!(
                "merchant {merchant} not found"
            )));
        }
    }
    if let Some(store) = store {
        storage::locations::get(&state.store, store)
            .await
            .map_err(|_| AppError::not_found(format!("store {store} not found")))?;
    }
    let (from_ms, to_ms) = super::reconciliation::day_bounds(day);
    let records = storage::finance::records_of_day(&state.store, from_ms, to_ms).await?;
    type Key = (bool, Option<String>, String);
    let mut by_store: BTreeMap<Key, Vec<&SettlementRecord>> = BTreeMap::new();
    for r in &records {
        if store.is_some_and(|s| r.store_id.as_deref() != Some(s))
            || merchant.is_some_and(|m| r.merchant_id != m)
        {
            continue;
        }
        by_store
            .entry((
                r.store_id.is_none(),
                r.store_id.clone(),
                r.merchant_id.clone(),
            ))
            .or_default()
            .push(r);
    }
    let mut stores = Vec::with_capacity(by_store.len());
    let mut all: Vec<&SettlementRecord> = Vec::new();
    let (mut commission_all, mut net_all) = (0_i64, 0_i64);
    for ((_, store_id, merchant_id), records) in by_store {
        let mut methods: BTreeMap<&str, Vec<&SettlementRecord>> = BTreeMap::new();
        for r in records.iter().filter(|r| r.kind != "commission") {
            methods.entry(r.method.as_str()).or_default().push(r);
        }
        let total = totals_of("", &records);
        let commission: i64 = records
            .iter()
            .filter(|r| r.kind == "commission")
            .map(|r| r.amount_fen)
            .sum();
        let mut orders: Vec<&str> = records
            .iter()
            .filter(|r| r.kind == "payment")
            .filter_map(|r| r.order_id.as_deref())
            .collect();
        orders.sort_unstable();
        orders.dedup();
        let net = total.payments.fen() - total.refunds.fen() - commission;
        commission_all += commission;
        net_all += net;
        stores.push(StoreSettlement {
            store_id,
            merchant_id: Some(merchant_id),
            orders: i64::try_from(orders.len()).unwrap_or(i64::MAX),
            payments: total.payments,
            refunds: total.refunds,
            commission: Money::from_fen(commission),
            fees: Money::from_fen(0),
            net: Money::from_fen(net),
            by_method: methods
                .iter()
                .map(|(method, records)| totals_of(method, records))
                .collect(),
            lines: records
                .iter()
                .map(|r| SettlementLine {
                    kind: r.kind.clone(),
                    id: r.id.clone(),
                    method: r.method.clone(),
                    order_id: r.order_id.clone(),
                    order_no: r.order_no.clone(),
                    amount: Money::from_fen(r.amount_fen),
                    at: storage::from_ms(r.at_ms),
                    provider_ref: r.provider_ref.clone(),
                })
                .collect(),
        });
        all.extend(records);
    }
    Ok(Settlement {
        date: day.format("%Y-%m-%d").to_string(),
        timezone: "+08:00".into(),
        from: storage::from_ms(from_ms),
        to: storage::from_ms(to_ms),
        stores,
        totals: totals_of("", &all),
        commission: Money::from_fen(commission_all),
        fees: Money::from_fen(0),
        net: Money::from_fen(net_all),
    })
}

/// The CSV columns of a settlement file.
pub const CSV_HEADER: [&str; 12] = [
    "date",
    "merchant_id",
    "store_id",
    "kind",
    "method",
    "order_no",
    "order_id",
    "record_id",
    "provider_ref",
    "amount",
    "fee",
    "at",
];

/// The settlement as a CSV file (UTF-8 with a BOM, one row per record; `fee` 0.00 as fees are
/// not recorded), then one `total` row per store and merchant (`kind` `total`, `amount` its net).
pub fn settlement_csv(settlement: &Settlement) -> AppResult<Vec<u8>> {
    let mut out = Vec::from("\u{feff}".as_bytes());
    {
        let mut writer = csv::Writer::from_writer(&mut out);
        let fail = |e: csv::Error| AppError::Internal(anyhow::Error::new(e).context("writing CSV"));
        writer.write_record(CSV_HEADER).map_err(fail)?;
        for store in &settlement.stores {
            let store_id = store.store_id.clone().unwrap_or_default();
            let merchant_id = store.merchant_id.clone().unwrap_or_default();
            for line in &store.lines {
                writer
                    .write_record([
                        settlement.date.as_str(),
                        &merchant_id,
                        &store_id,
                        &line.kind,
                        &line.method,
                        line.order_no.as_deref().unwrap_or(""),
                        line.order_id.as_deref().unwrap_or(""),
                        &line.id,
                        line.provider_ref.as_deref().unwrap_or(""),
                        &line.amount.to_string(),
                        "0.00",
                        &line.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    ])
                    .map_err(fail)?;
            }
            writer
                .write_record([
                    settlement.date.as_str(),
                    &merchant_id,
                    &store_id,
                    "total",
                    "",
                    "",
                    "",
                    "",
                    "",
                    &store.net.to_string(),
                    &store.fees.to_string(),
                    "",
                ])
                .map_err(fail)?;
        }
        writer
            .flush()
            .map_err(|e| AppError::Internal(anyhow::Error::new(e)))?;
    }
    Ok(out)
}
