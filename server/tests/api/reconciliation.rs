//! Daily reconciliation and head office's payment review (issue 14), against the fake WeChat
//! Pay and Alipay servers: trades are made at the fakes through the server's own provider
//! clients, "ours" are written as rows (the payment-taking code lands separately), and the
//! fakes' bills are matched line by line — every kind of mismatch, a bill not made yet asked for
//! again and given up after the bounded attempts, the job running once per day across a
//! restart; payments and refunds searched and paged, alerts resolved (audited). The console
//! pages run in the headless browser (`browser_pages_reconcile_search_and_export`).

use std::sync::Mutex;

use chrono::{DateTime, Duration as Days, NaiveDate, NaiveTime, TimeZone, Utc};
use retail_payments::{CodePayOutcome, CodePayRequest, PaidTrade, RefundRequest};
use retail_server::actor::{Role, StaffActor};
use retail_server::app::payment_providers::Provider;
use retail_server::app::payment_review::{self, PaymentSearch};
use retail_server::app::reconciliation::{self, beijing, Attempt, BillProblem, JobStep};
use retail_server::config::Settings;
use retail_server::error::AppError;
use retail_server::storage::reconciliation::{self as runs, EntryKind, Outcome};
use retail_testkit::alipay::{self as fake_alipay, FakeAlipay, GatewayMode};
use retail_testkit::payments::{alipay_settings, wechat_settings};
use retail_testkit::wechat_pay::{self as fake_wechat, FakeWechatPay};
use uuid::Uuid;

use crate::support::TestApp;

/// The fakes a test's server takes money through.
pub(crate) struct Fakes {
    pub(crate) wechat: FakeWechatPay,
    pub(crate) alipay: FakeAlipay,
    _keys: tempfile::TempDir,
}

/// Fakes started by [`with_fakes`], waiting for their test to take them ([`fakes_of`]).
static STARTED: Mutex<Vec<(String, Fakes)>> = Mutex::new(Vec::new());

/// Server settings: WeChat Pay and Alipay through fresh fakes, three attempts per day's bill,
/// and no background job (the tests run its passes with a clock of their own).
pub(crate) fn with_fakes(settings: &mut Settings) {
    let wechat = FakeWechatPay::start();
    let alipay = FakeAlipay::start();
    let keys = tempfile::tempdir().unwrap();
    settings.payments.wechat = wechat_settings(&wechat, keys.path());
    settings.payments.alipay = alipay_settings(&alipay, keys.path());
    settings.payments.reconcile_every_secs = 0;
    settings.payments.reconcile_attempts = 3;
    STARTED.lock().unwrap().push((
        wechat.base_url.clone(),
        Fakes {
            wechat,
            alipay,
            _keys: keys,
        },
    ));
}

/// The fakes of a server started with [`with_fakes`].
pub(crate) fn fakes_of(app: &TestApp) -> Fakes {
    let url = &app.settings.payments.wechat.base_url;
    let mut started = STARTED.lock().unwrap();
    let at = started.iter().position(|(u, _)| u == url).unwrap();
    started.swap_remove(at).1
}

pub(crate) fn head_office() -> StaffActor {
    StaffActor {
        id: Uuid::now_v7(),
        username: "admin".into(),
        display_name: "Admin".into(),
        role: Role::HeadOfficeAdmin,
        location_id: None,
        merchant_id: None,
        must_change_password: false,
    }
}

/// `HH:MM` Beijing time on `date`.
fn beijing_at(date: NaiveDate, hh: u32, mm: u32) -> DateTime<Utc> {
    beijing()
        .from_local_datetime(&date.and_time(NaiveTime::from_hms_opt(hh, mm, 0).unwrap()))
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// Pays `fen` at the provider with a payment code, as payment `id`.
pub(crate) async fn charge(
    app: &TestApp,
    fakes: &Fakes,
    provider: Provider,
    id: Uuid,
    fen: i64,
) -> PaidTrade {
    let auth_code = match provider {
        Provider::WechatPay => {
            let code = "134567890123456789";
            fakes
                .wechat
                .on_code(code, fake_wechat::CodeBehaviour::Succeed);
            code
        }
        _ => {
            let code = "287654321012345678";
            fakes
                .alipay
                .on_auth_code(code, fake_alipay::CodeBehaviour::Pay);
            code
        }
    };
    let outcome = app
        .state
        .payments
        .code_pay(
            provider,
            &CodePayRequest {
                out_trade_no: id.simple().to_string(),
                description: "对账测试".into(),
                amount_fen: fen,
                auth_code: auth_code.into(),
                store_id: "SH001".into(),
                device_id: "lane-1".into(),
                client_ip: "127.0.0.1".into(),
            },
        )
        .await
        .unwrap();
    match outcome {
        CodePayOutcome::Paid(trade) => trade,
        other => panic!("not paid: {other:?}"),
    }
}

/// Refunds `fen` of payment `payment` at the provider as refund `id` (settled at once).
pub(crate) async fn refund_at_provider(
    app: &TestApp,
    fakes: &Fakes,
    provider: Provider,
    payment: &PaidTrade,
    id: Uuid,
    fen: i64,
) -> Option<String> {
    let outcome = app
        .state
        .payments
        .refund(
            provider,
            &RefundRequest {
                out_refund_no: id.simple().to_string(),
                out_trade_no: payment.out_trade_no.clone(),
                transaction_id: Some(payment.transaction_id.clone()),
                amount_fen: fen,
                total_fen: payment.amount_fen,
                reason: "对账测试".into(),
                // Nobody listens there: the fake's refund notification goes nowhere.
                notify_url: "http://127.0.0.1:9/refund-notify".into(),
            },
        )
        .await
        .unwrap();
    if provider == Provider::WechatPay {
        fakes
            .wechat
            .settle_refund(&id.simple().to_string(), "SUCCESS")
            .await;
    }
    outcome.refund_id
}

/// Records of ours, written as rows.
pub(crate) struct Ours<'a>(pub(crate) &'a TestApp);

impl Ours<'_> {
    async fn exec(&self, sql: &str, binds: Vec<Bind>) {
        let mut tx = self.0.state.store.begin().await.unwrap();
        let mut query = sqlx::query(sql);
        for b in binds {
            query = match b {
                Bind::Text(t) => query.bind(t),
                Bind::OptText(t) => query.bind(t),
                Bind::Int(i) => query.bind(i),
            };
        }
        query.execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }

    /// A paid online order; returns its id.
    pub(crate) async fn order(&self, order_no: &str, fen: i64, at: i64) -> Uuid {
        let id = Uuid::now_v7();
        self.exec(
            "INSERT INTO orders (id, order_no, channel, fulfilment, status, location_id, \
             subtotal_fen, total_fen, created_by, client_ts, created_at, updated_at) \
             VALUES ($1, $2, 'online', 'pickup', 'paid', 'SH001', $3, $3, 'test', $4, $4, $4)",
            vec![
                Bind::Text(id.to_string()),
                Bind::Text(order_no.into()),
                Bind::Int(fen),
                Bind::Int(at),
            ],
        )
        .await;
        id
    }

    /// A payment of `order` through `method`, paid at `at`.
    pub(crate) async fn payment(
        &self,
        id: Uuid,
        order: Uuid,
        method: &str,
        fen: i64,
        provider_ref: Option<&str>,
        at: i64,
    ) {
        self.exec(
            "INSERT INTO payments (id, order_id, method, amount_fen, status, provider_ref, scene, \
             refunded_fen, paid_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'succeeded', $5, 'code', 0, $6, $6, $6)",
            vec![
                Bind::Text(id.to_string()),
                Bind::Text(order.to_string()),
                Bind::Text(method.into()),
                Bind::Int(fen),
                Bind::OptText(provider_ref.map(str::to_owned)),
                Bind::Int(at),
            ],
        )
        .await;
    }

    /// A lane payment through `method` that succeeded at `at`, its sale not pushed yet.
    pub(crate) async fn lane_payment(
        &self,
        id: Uuid,
        method: &str,
        fen: i64,
        provider_ref: &str,
        at: i64,
    ) {
        self.exec(
            "INSERT INTO lane_payments (id, sale_id, location_id, device_id, method, scene, \
             amount_fen, status, provider_ref, created_at, updated_at) \
             VALUES ($1, $2, 'SH001', 'lane-1', $3, 'code', $4, 'succeeded', $5, $6, $6)",
            vec![
                Bind::Text(id.to_string()),
                Bind::Text(Uuid::now_v7().to_string()),
                Bind::Text(method.into()),
                Bind::Int(fen),
                Bind::Text(provider_ref.into()),
                Bind::Int(at),
            ],
        )
        .await;
    }

    /// A member's recharge through `method`, paid at `at` (the demo's first member).
    pub(crate) async fn recharge(
        &self,
        id: Uuid,
        method: &str,
        fen: i64,
        provider_ref: &str,
        at: i64,
    ) {
        self.exec(
            "INSERT INTO recharges (id, member_id, pay_fen, bonus_fen, method, scene, status, \
             provider_ref, paid_at, created_at, updated_at) \
             VALUES ($1, (SELECT MIN(id) FROM members), $2, 0, $3, 'qr', 'paid', $4, $5, $5, $5)",
            vec![
                Bind::Text(id.to_string()),
                Bind::Int(fen),
                Bind::Text(method.into()),
                Bind::Text(provider_ref.into()),
                Bind::Int(at),
            ],
        )
        .await;
    }

    /// A refund of `payment` in `state`, last changed at `at`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn refund(
        &self,
        id: Uuid,
        payment: Uuid,
        order: Uuid,
        method: &str,
        fen: i64,
        state: &str,
        provider_refund_id: Option<&str>,
        at: i64,
    ) {
        self.exec(
            "INSERT INTO payment_refunds (id, payment_id, order_id, method, amount_fen, reason, \
             source, state, provider_refund_id, requested_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'test', 'cancel', $6, $7, 'test', $8, $8)",
            vec![
                Bind::Text(id.to_string()),
                Bind::Text(payment.to_string()),
                Bind::Text(order.to_string()),
                Bind::Text(method.into()),
                Bind::Int(fen),
                Bind::Text(state.into()),
                Bind::OptText(provider_refund_id.map(str::to_owned)),
                Bind::Int(at),
            ],
        )
        .await;
    }

    /// An open payment alert.
    pub(crate) async fn alert(
        &self,
        kind: &str,
        order: Option<Uuid>,
        detail: &str,
        at: i64,
    ) -> Uuid {
        let id = Uuid::now_v7();
        self.exec(
            "INSERT INTO payment_alerts (id, kind, provider, payment_id, order_id, detail, created_at) \
             VALUES ($1, $2, 'wechat_pay', NULL, $3, $4, $5)",
            vec![
                Bind::Text(id.to_string()),
                Bind::Text(kind.into()),
                Bind::OptText(order.map(|o| o.to_string())),
                Bind::Text(detail.into()),
                Bind::Int(at),
            ],
        )
        .await;
        id
    }
}

pub(crate) enum Bind {
    Text(String),
    OptText(Option<String>),
    Int(i64),
}

fn paid_ms(trade: &PaidTrade) -> i64 {
    trade.paid_at.unwrap().timestamp_millis()
}

/// Each item of a run, by (kind, our id at the provider).
async fn outcomes(app: &TestApp, run: Uuid) -> Vec<(EntryKind, String, Outcome)> {
    let (items, total) = runs::items(&app.state.store, run, true, 0, 1_000)
        .await
        .unwrap();
    assert_eq!(items.len() as i64, total);
    items
        .into_iter()
        .map(|r| {
            let key = r
                .item
                .out_refund_no
                .clone()
                .unwrap_or(r.item.out_trade_no.clone());
            (r.item.kind, key, r.item.outcome)
        })
        .collect()
}

fn hex(id: Uuid) -> String {
    id.simple().to_string()
}

/// WeChat Pay's bill with every kind of mismatch, Alipay's with every line matched; the job
/// records both; a day reconciled again by hand replaces its items (audited).
async fn bills_are_matched_line_by_line(app: TestApp) {
    let fakes = fakes_of(&app);
    let ours = Ours(&app);
    let wx = "wechat_pay";

    // WeChat Pay: matched, amount differs, missing on our side, a lane payment not pushed yet
    // (matched), a refund matched; ours only: a payment and a refund.
    let (matched, differs, theirs_only, lane, ours_only) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let (refund, refund_ours_only) = (Uuid::now_v7(), Uuid::now_v7());
    let t_matched = charge(&app, &fakes, Provider::WechatPay, matched, 1_000).await;
    let t_differs = charge(&app, &fakes, Provider::WechatPay, differs, 2_000).await;
    charge(&app, &fakes, Provider::WechatPay, theirs_only, 500).await;
    let t_lane = charge(&app, &fakes, Provider::WechatPay, lane, 1_234).await;
    let refund_id =
        refund_at_provider(&app, &fakes, Provider::WechatPay, &t_matched, refund, 300).await;
    let at = paid_ms(&t_matched);
    let date = reconciliation::beijing_date(t_matched.paid_at.unwrap());
    let order = ours.order("RC0001", 3_000, at).await;
    ours.payment(
        matched,
        order,
        wx,
        1_000,
        Some(&t_matched.transaction_id),
        at,
    )
    .await;
    ours.payment(
        differs,
        order,
        wx,
        2_100,
        Some(&t_differs.transaction_id),
        at,
    )
    .await;
    ours.lane_payment(lane, wx, 1_234, &t_lane.transaction_id, paid_ms(&t_lane))
        .await;
    ours.payment(ours_only, order, wx, 800, None, at).await;
    ours.refund(
        refund,
        matched,
        order,
        wx,
        300,
        "success",
        refund_id.as_deref(),
        at,
    )
    .await;
    ours.refund(
        refund_ours_only,
        differs,
        order,
        wx,
        100,
        "processing",
        None,
        at,
    )
    .await;
    // Not the day's: cash, a refund still waiting for approval, another day's payment, a
    // refund asked for three days ago and still processing (the settler asked about it today).
    ours.payment(Uuid::now_v7(), order, "cash", 700, None, at)
        .await;
    let old_refund = Uuid::now_v7();
    let three_days_ago = at - 3 * 86_400_000;
    ours.refund(
        old_refund,
        differs,
        order,
        wx,
        60,
        "processing",
        None,
        three_days_ago,
    )
    .await;
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE payment_refunds SET updated_at = $1 WHERE id = $2")
        .bind(at)
        .bind(old_refund.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    ours.refund(
        Uuid::now_v7(),
        differs,
        order,
        wx,
        50,
        "awaiting_approval",
        None,
        at,
    )
    .await;
    ours.payment(Uuid::now_v7(), order, wx, 900, None, at - 3 * 86_400_000)
        .await;

    // Alipay: a payment and its partial refund, both on record.
    let (a_paid, a_refund) = (Uuid::now_v7(), Uuid::now_v7());
    let t_alipay = charge(&app, &fakes, Provider::Alipay, a_paid, 4_321).await;
    refund_at_provider(&app, &fakes, Provider::Alipay, &t_alipay, a_refund, 321).await;
    let a_at = paid_ms(&t_alipay);
    let a_order = ours.order("RC0002", 4_321, a_at).await;
    ours.payment(
        a_paid,
        a_order,
        "alipay",
        4_321,
        Some(&t_alipay.transaction_id),
        a_at,
    )
    .await;
    ours.refund(
        a_refund, a_paid, a_order, "alipay", 321, "success", None, a_at,
    )
    .await;
    // A member's recharge through Alipay: a trade of its own, with no order.
    let recharge = Uuid::now_v7();
    let t_recharge = charge(&app, &fakes, Provider::Alipay, recharge, 10_000).await;
    ours.recharge(
        recharge,
        "alipay",
        10_000,
        &t_recharge.transaction_id,
        paid_ms(&t_recharge),
    )
    .await;

    // The job, the next morning: both days reconciled.
    let next_morning = beijing_at(date + Days::days(1), 10, 30);
    let steps = reconciliation::run_due(&app.state, next_morning)
        .await
        .unwrap();
    assert_eq!(steps.len(), 2, "{steps:?}");
    let run_of = |provider: Provider| {
        steps
            .iter()
            .find_map(|s| match s {
                JobStep::Reconciled {
                    provider: p,
                    date: d,
                    run,
                } if *p == provider && *d == date => Some(*run),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{provider:?} reconciled: {steps:?}"))
    };
    let (wechat_run, alipay_run) = (run_of(Provider::WechatPay), run_of(Provider::Alipay));

    let a = alipay_run.counts;
    assert_eq!(
        (a.bill_lines, a.our_records, a.matched, a.mismatches()),
        (3, 3, 3, 0)
    );
    let mut got = outcomes(&app, alipay_run.run_id).await;
    got.sort();
    assert_eq!(
        got,
        vec![
            (EntryKind::Payment, hex(a_paid), Outcome::Matched),
            (EntryKind::Payment, hex(recharge), Outcome::Matched),
            (EntryKind::Refund, hex(a_refund), Outcome::Matched),
        ]
    );

    let w = wechat_run.counts;
    assert_eq!(
        (
            w.bill_lines,
            w.our_records,
            w.matched,
            w.missing_ours,
            w.missing_theirs,
            w.amount_differs
        ),
        (5, 6, 3, 1, 2, 1),
        "{w:?}"
    );
    let mut got = outcomes(&app, wechat_run.run_id).await;
    got.sort();
    let mut want = vec![
        (EntryKind::Payment, hex(matched), Outcome::Matched),
        (EntryKind::Payment, hex(differs), Outcome::AmountDiffers),
        (EntryKind::Payment, hex(theirs_only), Outcome::MissingOurs),
        (EntryKind::Payment, hex(lane), Outcome::Matched),
        (EntryKind::Payment, hex(ours_only), Outcome::MissingTheirs),
        (EntryKind::Refund, hex(refund), Outcome::Matched),
        (
            EntryKind::Refund,
            hex(refund_ours_only),
            Outcome::MissingTheirs,
        ),
    ];
    want.sort();
    assert_eq!(got, want);
    let (mismatches, total) = runs::items(&app.state.store, wechat_run.run_id, false, 0, 100)
        .await
        .unwrap();
    assert_eq!(total, 4);
    let differing = mismatches
        .iter()
        .find(|r| r.item.outcome == Outcome::AmountDiffers)
        .unwrap();
    assert_eq!(
        (differing.item.our_fen, differing.item.their_fen),
        (Some(2_100), Some(2_000))
    );
    assert_eq!(differing.order_no.as_deref(), Some("RC0001"));

    // Only head office reconciles by hand; a day that has not begun is refused.
    let mut cashier = head_office();
    cashier.role = Role::Cashier;
    let refused = reconciliation::reconcile_now(&app.state, &cashier, wx, date).await;
    assert!(
        matches!(refused, Err(AppError::Forbidden(_))),
        "{refused:?}"
    );
    let refused =
        reconciliation::reconcile_now(&app.state, &head_office(), wx, date + Days::days(2)).await;
    assert!(
        matches!(refused, Err(AppError::Invalid { .. })),
        "{refused:?}"
    );
    let refused = reconciliation::reconcile_now(&app.state, &head_office(), "sandbox", date).await;
    assert!(
        matches!(refused, Err(AppError::Invalid { .. })),
        "{refused:?}"
    );

    // The amount corrected and the refund made: reconciled again, the run's items replaced.
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE payments SET amount_fen = 2000 WHERE id = $1")
        .bind(differs.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE payment_refunds SET state = 'closed' WHERE id = $1")
        .bind(refund_ours_only.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let again = reconciliation::reconcile_now(&app.state, &head_office(), wx, date)
        .await
        .unwrap();
    let Attempt::Reconciled(again) = again else {
        panic!("{again:?}");
    };
    assert_eq!(again.run_id, wechat_run.run_id, "the day keeps one run");
    let c = again.counts;
    assert_eq!(
        (
            c.matched,
            c.missing_ours,
            c.missing_theirs,
            c.amount_differs
        ),
        (4, 1, 1, 0)
    );
    assert_eq!(
        outcomes(&app, again.run_id).await.len(),
        6,
        "the old items are gone"
    );
    let run = runs::run(&app.state.store, again.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.run_by, "staff:admin");
    let audit =
        retail_server::storage::audit::list(&app.state.store, Some(&again.run_id.to_string()), 10)
            .await
            .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "reconciliation.run");
}
crate::both_backends!(
    bills_are_matched_line_by_line,
    bills_are_matched_line_by_line,
    crate::reconciliation::with_fakes
);

/// Before `reconcile_at` nothing is asked; a bill not made yet (WeChat Pay) or a provider
/// answering 500 (Alipay) records nothing but the attempt and is asked for again once due; once
/// reconciled, a day is never asked for again, even after a restart; after the allowed attempts
/// the job gives up on a day.
async fn the_job_waits_for_bills_and_runs_once_per_day(app: TestApp) {
    let fakes = fakes_of(&app);
    let retry = app.settings.payments.reconcile_retry_secs as i64;
    let bill_calls = |fakes: &Fakes| {
        (
            fakes.wechat.requests(),
            fakes
                .alipay
                .methods()
                .iter()
                .filter(|m| m.as_str() == "alipay.data.dataservice.bill.downloadurl.query")
                .count(),
        )
    };
    let today = reconciliation::beijing_date(Utc::now());
    let tomorrow = today + Days::days(1);
    let today_text = today.format("%Y-%m-%d").to_string();

    let steps = reconciliation::run_due(&app.state, beijing_at(tomorrow, 9, 59))
        .await
        .unwrap();
    assert!(steps.is_empty(), "before reconcile_at: {steps:?}");
    assert_eq!(bill_calls(&fakes), (0, 0));

    // No WeChat Pay trade today: NO_STATEMENT_EXIST. Alipay answers 500.
    fakes.alipay.set_mode(GatewayMode::ServerError);
    let first = beijing_at(tomorrow, 10, 0);
    let steps = reconciliation::run_due(&app.state, first).await.unwrap();
    assert_eq!(steps.len(), 2, "{steps:?}");
    for step in &steps {
        let JobStep::NoBill {
            provider,
            date,
            attempts,
            failure,
            gave_up,
        } = step
        else {
            panic!("{step:?}");
        };
        assert_eq!((*date, *attempts, *gave_up), (today, 1, false));
        let expected = match provider {
            Provider::WechatPay => BillProblem::NotReady,
            _ => BillProblem::Unavailable,
        };
        assert_eq!(failure.problem, expected, "{failure:?}");
    }
    for provider in ["wechat_pay", "alipay"] {
        assert!(runs::run_of_day(&app.state.store, provider, &today_text)
            .await
            .unwrap()
            .is_none());
        let wait = runs::wait_of_day(&app.state.store, provider, &today_text)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(wait.attempts, 1);
        assert!(!wait.last_error.is_empty());
    }
    let calls = bill_calls(&fakes);

    // Not due yet: nothing asked.
    let steps = reconciliation::run_due(&app.state, first + Days::seconds(retry - 1))
        .await
        .unwrap();
    assert!(steps.is_empty(), "{steps:?}");
    assert_eq!(bill_calls(&fakes), calls);

    // A trade today, Alipay back: both reconciled at the retry.
    let paid = Uuid::now_v7();
    let trade = charge(&app, &fakes, Provider::WechatPay, paid, 990).await;
    let ours = Ours(&app);
    let order = ours.order("RC0100", 990, paid_ms(&trade)).await;
    ours.payment(
        paid,
        order,
        "wechat_pay",
        990,
        Some(&trade.transaction_id),
        paid_ms(&trade),
    )
    .await;
    fakes.alipay.set_mode(GatewayMode::Normal);
    let steps = reconciliation::run_due(&app.state, first + Days::seconds(retry))
        .await
        .unwrap();
    assert_eq!(steps.len(), 2, "{steps:?}");
    for step in &steps {
        let JobStep::Reconciled { run, .. } = step else {
            panic!("{step:?}");
        };
        assert_eq!(run.counts.mismatches(), 0, "{run:?}");
    }
    for provider in ["wechat_pay", "alipay"] {
        assert!(runs::wait_of_day(&app.state.store, provider, &today_text)
            .await
            .unwrap()
            .is_none());
    }
    let calls = bill_calls(&fakes);

    // Done is done, also after a restart.
    let steps = reconciliation::run_due(&app.state, first + Days::seconds(3 * retry))
        .await
        .unwrap();
    assert!(steps.is_empty(), "{steps:?}");
    let app = app.restart().await;
    let steps = reconciliation::run_due(&app.state, first + Days::seconds(4 * retry))
        .await
        .unwrap();
    assert!(steps.is_empty(), "{steps:?}");
    assert_eq!(bill_calls(&fakes), calls);
    for provider in ["wechat_pay", "alipay"] {
        assert!(runs::run_of_day(&app.state.store, provider, &today_text)
            .await
            .unwrap()
            .is_some());
    }

    // Tomorrow's WeChat Pay bill never comes: three attempts, then the job gives up on it.
    let later = beijing_at(tomorrow + Days::days(1), 10, 0);
    let mut seen = Vec::new();
    for attempt in 0..4 {
        let steps = reconciliation::run_due(&app.state, later + Days::seconds(attempt * retry))
            .await
            .unwrap();
        seen.extend(steps.into_iter().filter(|s| {
            !matches!(
                s,
                JobStep::Reconciled {
                    provider: Provider::Alipay,
                    ..
                }
            )
        }));
    }
    let kinds: Vec<(bool, i64)> = seen
        .iter()
        .map(|s| match s {
            JobStep::NoBill {
                attempts, gave_up, ..
            } => (*gave_up, *attempts),
            JobStep::Reconciled { .. } => panic!("{s:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![(false, 1), (false, 2), (true, 3)],
        "waiting twice, then given up"
    );
    let tomorrow_text = tomorrow.format("%Y-%m-%d").to_string();
    let wait = runs::wait_of_day(&app.state.store, "wechat_pay", &tomorrow_text)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((wait.attempts, wait.next_try_at), (3, None));
    assert!(
        wait.last_error.contains("NO_STATEMENT_EXIST"),
        "{}",
        wait.last_error
    );
    assert!(
        runs::run_of_day(&app.state.store, "wechat_pay", &tomorrow_text)
            .await
            .unwrap()
            .is_none()
    );
}
crate::both_backends!(
    the_job_waits_for_bills_and_runs_once_per_day,
    the_job_waits_for_bills_and_runs_once_per_day,
    crate::reconciliation::with_fakes
);

/// Payments and refunds found by order number, transaction id, tender and days, page by page
/// (nothing cut off); alerts listed and resolved once (audited).
async fn payments_are_searched_and_alerts_resolved(app: TestApp) {
    let ours = Ours(&app);
    let admin = head_office();
    let now = Utc::now().timestamp_millis();
    let order = ours.order("RC7777", 100, now).await;
    let other = ours.order("RC8888", 100, now).await;
    let paid = Uuid::now_v7();
    ours.payment(
        paid,
        order,
        "wechat_pay",
        5_000,
        Some("4200000000000000000001"),
        now,
    )
    .await;
    for _ in 0..55 {
        ours.payment(Uuid::now_v7(), other, "cash", 100, None, now)
            .await;
    }
    ours.refund(
        Uuid::now_v7(),
        paid,
        order,
        "wechat_pay",
        1_000,
        "processing",
        Some("50300000000001"),
        now,
    )
    .await;
    ours.lane_payment(
        Uuid::now_v7(),
        "alipay",
        250,
        "2026120522001400000000000001",
        now,
    )
    .await;

    let search = |s: PaymentSearch| {
        let app = &app;
        let admin = admin.clone();
        async move {
            payment_review::search_payments(&app.state, &admin, &s)
                .await
                .unwrap()
        }
    };
    let by_order = search(PaymentSearch {
        order_no: Some("rc7777".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_order.total, 1);
    assert_eq!(by_order.rows[0].id, paid);
    assert_eq!(by_order.rows[0].order_no.as_deref(), Some("RC7777"));
    let by_txn = search(PaymentSearch {
        provider_ref: Some("4200000000000000000001".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        by_txn.rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![paid]
    );
    let lane = search(PaymentSearch {
        provider_ref: Some("2026120522001400000000000001".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(lane.total, 1);
    assert!(lane.rows[0].at_lane && lane.rows[0].order_id.is_none());
    let today = reconciliation::beijing_date(Utc::now());
    let in_range = search(PaymentSearch {
        order_no: Some("RC".into()),
        from: Some(today),
        to: Some(today),
        ..Default::default()
    })
    .await;
    assert_eq!(in_range.total, 56);
    let before = search(PaymentSearch {
        to: Some(today - Days::days(1)),
        ..Default::default()
    })
    .await;
    assert_eq!(before.total, 0);
    let page_one = search(PaymentSearch {
        method: Some("cash".into()),
        page: 1,
        ..Default::default()
    })
    .await;
    let page_two = search(PaymentSearch {
        method: Some("cash".into()),
        page: 2,
        ..Default::default()
    })
    .await;
    assert_eq!(
        (
            page_one.total,
            page_one.pages(),
            page_one.rows.len(),
            page_two.rows.len()
        ),
        (55, 2, 50, 5)
    );
    let refunds = payment_review::search_refunds(
        &app.state,
        &admin,
        &PaymentSearch {
            provider_ref: Some("4200000000000000000001".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        refunds.total, 1,
        "a refund is found by its payment's transaction id"
    );
    assert_eq!(
        refunds.rows[0].provider_refund_id.as_deref(),
        Some("50300000000001")
    );
    let bad = payment_review::search_payments(
        &app.state,
        &admin,
        &PaymentSearch {
            method: Some("gold".into()),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(bad, Err(AppError::Invalid { .. })));
    let mut manager = head_office();
    manager.role = Role::StoreManager;
    manager.location_id = Some("SH001".into());
    let refused =
        payment_review::search_payments(&app.state, &manager, &PaymentSearch::default()).await;
    assert!(matches!(refused, Err(AppError::Forbidden(_))));

    let late = ours
        .alert(
            "late_payment",
            Some(order),
            "paid after cancellation; refunded",
            now,
        )
        .await;
    ours.alert("amount_mismatch", None, "notified 1.00, order 2.00", now)
        .await;
    let open = payment_review::alerts(&app.state, &admin, false, 1)
        .await
        .unwrap();
    assert_eq!(open.total, 2);
    payment_review::resolve_alert(&app.state, &admin, &late.to_string(), "called the shopper")
        .await
        .unwrap();
    let again = payment_review::resolve_alert(&app.state, &admin, &late.to_string(), "").await;
    assert!(matches!(again, Err(AppError::Conflict { .. })), "{again:?}");
    let unknown =
        payment_review::resolve_alert(&app.state, &admin, &Uuid::now_v7().to_string(), "").await;
    assert!(matches!(unknown, Err(AppError::NotFound(_))), "{unknown:?}");
    let open = payment_review::alerts(&app.state, &admin, false, 1)
        .await
        .unwrap();
    assert_eq!(open.total, 1);
    let resolved = payment_review::alerts(&app.state, &admin, true, 1)
        .await
        .unwrap();
    assert_eq!(resolved.rows[0].resolved_by.as_deref(), Some("staff:admin"));
    assert_eq!(resolved.rows[0].order_no.as_deref(), Some("RC7777"));
    let audit = retail_server::storage::audit::list(&app.state.store, Some(&late.to_string()), 10)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "payment_alert.resolve");
    assert_eq!(audit[0].detail["note"], "called the shopper");
}
crate::both_backends!(
    payments_are_searched_and_alerts_resolved,
    payments_are_searched_and_alerts_resolved
);

/// Head office in the browser: reconciles a day of WeChat Pay by hand and sees its mismatches,
/// downloads the run's CSV (every item), finds payments by order number and by transaction id,
/// resolves an alert; a store manager cannot open the pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_pages_reconcile_search_and_export() {
    use crate::browser::{
        browser, browser_available, click, console_login, start_driver, text_of, type_into,
        wait_for_text, wait_path, Shots,
    };
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn_with(crate::support::Backend::Sqlite, with_fakes)
        .await
        .expect("app");
    let fakes = fakes_of(&app);
    let ours = Ours(&app);
    let (matched, differs, theirs_only) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let t_matched = charge(&app, &fakes, Provider::WechatPay, matched, 1_000).await;
    let t_differs = charge(&app, &fakes, Provider::WechatPay, differs, 2_000).await;
    charge(&app, &fakes, Provider::WechatPay, theirs_only, 500).await;
    let at = paid_ms(&t_matched);
    let date = reconciliation::beijing_date(t_matched.paid_at.unwrap())
        .format("%Y-%m-%d")
        .to_string();
    let first = ours.order("RC5001", 1_000, at).await;
    let second = ours.order("RC5002", 2_100, at).await;
    ours.payment(
        matched,
        first,
        "wechat_pay",
        1_000,
        Some(&t_matched.transaction_id),
        at,
    )
    .await;
    ours.payment(
        differs,
        second,
        "wechat_pay",
        2_100,
        Some(&t_differs.transaction_id),
        at,
    )
    .await;
    let alert = ours
        .alert(
            "late_payment",
            Some(first),
            "paid after cancellation; refunded",
            at,
        )
        .await;

    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let driver = start_driver().await;
    let desk = browser(&driver, false).await;
    console_login(&desk, &app, "admin").await;

    // Reconcile the day by hand.
    desk.goto(&format!("{}/console/payments/reconciliation", app.url))
        .await
        .unwrap();
    click(&desk, "#provider option[value='wechat_pay']").await;
    desk.execute(
        "document.getElementById('date').value = arguments[0];",
        vec![serde_json::json!(date)],
    )
    .await
    .unwrap();
    click(&desk, "#reconcile").await;
    wait_path(&desk, "/console/payments/reconciliation/").await;
    wait_for_text(&desk, "#run-summary", &date).await;
    assert_eq!(text_of(&desk, "#bill-lines").await, "3");
    assert_eq!(text_of(&desk, "#matched").await, "1");
    assert_eq!(text_of(&desk, "#missing-ours").await, "1");
    assert_eq!(text_of(&desk, "#amount-differs").await, "1");
    assert_eq!(text_of(&desk, "#missing-theirs").await, "0");
    let items = text_of(&desk, "#items").await;
    assert!(
        items.contains("金额不一致") && items.contains("我方缺失"),
        "{items}"
    );
    assert!(
        items.contains("RC5002") && items.contains(&hex(theirs_only)),
        "{items}"
    );
    assert!(!items.contains(&hex(matched)), "mismatches only: {items}");
    shots
        .take(&desk, "console-reconciliation-run-desktop")
        .await;

    // The CSV of the run: every item.
    let csv = desk
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.getElementById('export').href)
               .then(r => r.text()).then(done, e => done('failed: ' + e));",
            vec![],
        )
        .await
        .unwrap();
    let csv = csv
        .as_str()
        .unwrap()
        .trim_start_matches('\u{feff}')
        .to_owned();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "line_no,kind,outcome,order_no,out_trade_no,out_refund_no,transaction_id,\
         provider_refund_id,our_amount,their_amount,our_at,their_at,order_id,note",
        "{csv}"
    );
    assert_eq!(lines.len(), 4, "{csv}");
    let row = |id: Uuid| {
        lines
            .iter()
            .find(|l| l.contains(&hex(id)))
            .unwrap_or_else(|| panic!("{id} in {csv}"))
            .split(',')
            .map(str::to_owned)
            .collect::<Vec<String>>()
    };
    let differing = row(differs);
    assert_eq!(&differing[1..4], ["payment", "amount_differs", "RC5002"]);
    assert_eq!(
        &differing[6..10],
        [t_differs.transaction_id.as_str(), "", "21.00", "20.00"]
    );
    assert_eq!(&row(matched)[2..4], ["matched", "RC5001"]);
    assert_eq!(&row(theirs_only)[2..4], ["missing_ours", ""]);

    // The runs page lists the day.
    desk.goto(&format!("{}/console/payments/reconciliation", app.url))
        .await
        .unwrap();
    assert!(text_of(&desk, "#runs").await.contains(&date));
    shots
        .take(&desk, "console-reconciliation-runs-desktop")
        .await;

    // Payments by order number, then by the provider's transaction id.
    desk.goto(&format!("{}/console/payments", app.url))
        .await
        .unwrap();
    type_into(&desk, "#q", "RC5001").await;
    click(&desk, "#payment-search button[type=submit]").await;
    wait_for_text(&desk, "#payments", "RC5001").await;
    assert!(!text_of(&desk, "#payments").await.contains("RC5002"));
    type_into(&desk, "#q", "").await;
    type_into(&desk, "#txn", &t_differs.transaction_id).await;
    click(&desk, "#payment-search button[type=submit]").await;
    wait_for_text(&desk, "#payments", "RC5002").await;
    let found = text_of(&desk, "#payments").await;
    assert!(
        !found.contains("RC5001") && found.contains("21.00"),
        "{found}"
    );
    assert!(text_of(&desk, "#payments-pager").await.contains("1 / 1"));
    shots.take(&desk, "console-payments-search-desktop").await;

    // An alert resolved.
    desk.goto(&format!("{}/console/payments/alerts", app.url))
        .await
        .unwrap();
    assert!(text_of(&desk, "#alerts").await.contains("RC5001"));
    let form = format!("form[action='/console/payments/alerts/{alert}/resolve']");
    type_into(&desk, &format!("{form} input[name=note]"), "已联系顾客").await;
    click(&desk, &format!("{form} button")).await;
    wait_for_text(&desk, ".notice.ok", "已标记").await;
    assert!(!text_of(&desk, "#alerts").await.contains("RC5001"));
    desk.close().await.unwrap();

    // A store manager cannot open them.
    let manager = browser(&driver, false).await;
    console_login(&manager, &app, "mgr.sh001").await;
    for page in [
        "/console/payments",
        "/console/payments/reconciliation",
        "/console/payments/alerts",
    ] {
        manager.goto(&format!("{}{page}", app.url)).await.unwrap();
        let body = text_of(&manager, "body").await;
        assert!(
            body.contains("403") && body.contains("无权"),
            "{page}: {body}"
        );
    }
    manager.close().await.unwrap();
}
