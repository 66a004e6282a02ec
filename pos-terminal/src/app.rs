//! The running lane: devices, sync tasks and cashier input wired around the [`Lane`] core.
//!
//! [`run`] checks the credential (or starts offline from the stored identity), downloads the
//! catalog on first start with a progress bar, then runs until shut down:
//!
//! * the scanner task feeds frames (a serial port, or a pseudo-terminal with `--simulate`);
//! * the catalog task pulls changes every `catalog_poll_secs`, and at once on an MQTT notice,
//!   with the pricing context and the store's receipt keys;
//! * the push task sends unsent journalled sales in batches every `push_interval_secs` and
//!   right after each sale (with nothing to send, it pings `/healthz`), and tells the lane
//!   whether the server is reachable; first it registers the lane's receipt key until the
//!   server has it;
//! * a payment code (付款码) scanned (or typed) while an amount is due is the tender for what is
//!   due: the attempt is journalled, the server charges it (`POST /pos/payments/code`), and
//!   while the shopper confirms on their phone the lane polls every 2 s, reversing the payment
//!   after `code_payment_timeout_secs`; an attempt the server did not answer is settled when it
//!   is back, and at the next start;
//! * cashier input comes from the keyboard screen (`tui`), or with `--headless` as one command
//!   per line on stdin ([`Command::parse`]), each answered by one line on stdout
//!   (`OK …`, `ERR …`, `SALE …`, `EVENT …`).
//!
//! A completed sale is in the journal before its receipt is sent to the printer; a printer that
//! fails — unreachable, or by its real-time status out of paper, cover open, in error or not
//! answering ([`retail_devices::printer::ReceiptPrinter`]) — leaves the receipt waiting for `reprint` and
//! says so on the message line and in the status bar (`printer 缺纸 PAPER OUT`); paper near end
//! prints and warns.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use retail_devices::display::CustomerDisplay;
use retail_devices::printer::{PrintError, PrintOutcome, PrinterSink, ReceiptPrinter};
use retail_devices::printer_status::{PAPER_LOW, PAPER_LOW_STATUS};
use retail_devices::receipt::ReceiptLayout;
use retail_devices::scanner::ScanFrame;
use retail_devices::scanner_line::{run_serial_scanner, ScannerEvent};
use retail_devices::virtual_scanner::VirtualScanner;
use retail_domain::money::Money;
use retail_domain::pricing::Coupon;
use retail_domain::profiles::{DeviceCatalog, DisplayProfile, PrinterProfile, ScannerProfile};
use retail_domain::wire::sales::{
    CreateCodePayment, CreateLanePayment, LanePayment, LanePaymentStatus, PaymentMethod, PosPayment,
};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, Notify};

use crate::config::Config;
use crate::lane::{
    Lane, LaneError, LaneMember, LaneSettings, PaymentOutcome, PendingQr, ScanOutcome, TakenPayment,
};
use crate::server_api::{ApiError, RemoteMember, ServerApi};
use crate::store::LaneDb;
use crate::sync::{self, BusLogin, SyncProgress};
use crate::ui::{draw, KeyAction, Keyboard, View, HELP};

/// How often the lane asks the server whether the QR payment shown was paid.
const QR_POLL: Duration = Duration::from_secs(1);
/// How often the lane asks the server about a payment code being charged.
const CODE_POLL: Duration = Duration::from_secs(2);

/// A cashier command (keys on the screen, or a line on stdin with `--headless`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// As if scanned.
    Scan(String),
    /// Set a line's quantity.
    Qty(u32, i64),
    /// Void a line.
    Void(u32),
    /// Sign in: user name and PIN (checked offline against the roster).
    Login(String, String),
    /// Sign out.
    Logout,
    /// Void the sale with a store manager's approval: their user name and PIN.
    VoidSale(String, String),
    /// Park the sale.
    Park,
    /// Resume parked sale n (1-based).
    Resume(usize),
    /// Take a payment.
    Pay(PaymentMethod, Money),
    /// Start a QR payment through the payment provider (online) for this amount, or for what
    /// is due.
    PayQr(Option<Money>),
    /// Cancel the QR payment waiting for the shopper.
    QrCancel,
    /// Ask the server now whether the waiting QR payment was paid.
    QrCheck,
    /// List the member's usable coupons (online).
    Coupons,
    /// Apply coupon n (1-based) of the last list.
    Coupon(usize),
    /// Remove the coupons chosen for the sale.
    NoCoupon,
    /// Redeem the member's points as a payment (online).
    Points(i64),
    /// Look a member up by phone number (online).
    MemberPhone(String),
    /// Remove the member.
    NoMember,
    /// Reprint the last receipt.
    Reprint,
    /// Print the status line.
    Status,
    /// Open the shift with the opening cash.
    ShiftOpen(Money),
    /// Close the shift with the counted cash (prints the Z report).
    ShiftClose(Money),
    /// Cash into or out of the drawer with its reason (prints a slip, opens the drawer).
    Cash(crate::cash::Direction, Money, String),
    /// Hand the drawer over: the incoming cashier's user name and PIN, the cash counted (the
    /// outgoing shift closes with its Z report, the incoming one opens with that cash).
    Handover(String, String, Money),
    /// Switch the lane to offline selling (`true`) or back, approved by a store manager: their
    /// user name and PIN.
    Offline(bool, String, String),
    /// The counter scale: show, zero, tare, clear the tare (and `sim …` with `--simulate`).
    Scale(crate::scale::ScaleAction),
    /// Return lines `(line_no, qty)` of the sale whose receipt code was scanned last (online),
    /// approved by a store manager: their user name and PIN (checked by the server).
    Return(Vec<(u32, i64)>, String, String),
    /// Input that could not be understood (the message says why).
    Invalid(String),
}

impl Command {
    /// Parses a headless command line: `login USER PIN`, `logout`, `scan CODE`, `qty LINE N`,
    /// `void LINE`, `voidsale MANAGER PIN`,
    /// `park`, `resume [N]`, `pay cash|card|balance AMOUNT`, `pay qr [AMOUNT]`, `qr cancel|check`,
    /// `member PHONE`, `nomember`, `points N`, `coupons`, `coupon N`, `nocoupon`, `reprint`,
    /// `status`, `shift open|close AMOUNT`, `return LINE:QTY[,LINE:QTY…] MANAGER PIN`.
    pub fn parse(line: &str) -> Result<Command, String> {
        let mut words = line.split_whitespace();
        let verb = words.next().unwrap_or("");
        let rest: Vec<&str> = words.collect();
        let num = |i: usize, what: &str| -> Result<i64, String> {
            rest.get(i)
                .ok_or_else(|| format!("{verb}: {what} is missing"))?
                .parse::<i64>()
                .map_err(|_| format!("{verb}: {what} must be a whole number"))
        };
        let line_no = |i: usize| -> Result<u32, String> {
            u32::try_from(num(i, "line number")?).map_err(|_| "no such line".to_owned())
        };
        match verb {
            "scan" => rest
                .first()
                .map(|t| Command::Scan((*t).to_owned()))
                .ok_or_else(|| "scan: the code is missing".into()),
            "qty" => Ok(Command::Qty(line_no(0)?, num(1, "quantity")?)),
            "void" => Ok(Command::Void(line_no(0)?)),
            "login" => match rest.as_slice() {
                [user, pin] => Ok(Command::Login((*user).to_owned(), (*pin).to_owned())),
                _ => Err("login: USER PIN".into()),
            },
            "logout" => Ok(Command::Logout),
            "voidsale" => match rest.as_slice() {
                [user, pin] => Ok(Command::VoidSale((*user).to_owned(), (*pin).to_owned())),
                _ => {
                    Err("voidsale: MANAGER PIN (the approving manager's user name and PIN)".into())
                }
            },
            "park" => Ok(Command::Park),
            "resume" => Ok(Command::Resume(if rest.is_empty() {
                1
            } else {
                usize::try_from(num(0, "number")?).map_err(|_| "no such parked sale")?
            })),
            "pay" if rest.first() == Some(&"qr") => match rest.get(1) {
                None => Ok(Command::PayQr(None)),
                Some(a) => Ok(Command::PayQr(Some(
                    a.parse::<Money>()
                        .map_err(|e| format!("pay: amount: {e}"))?,
                ))),
            },
            "qr" => match rest.first().copied() {
                Some("cancel") => Ok(Command::QrCancel),
                Some("check") => Ok(Command::QrCheck),
                other => Err(format!("qr: cancel or check, not {other:?}")),
            },
            "coupons" => Ok(Command::Coupons),
            "coupon" => Ok(Command::Coupon(
                usize::try_from(num(0, "coupon number")?).map_err(|_| "no such coupon")?,
            )),
            "nocoupon" => Ok(Command::NoCoupon),
            "pay" => {
                let method = match rest.first().copied() {
                    Some("cash") => PaymentMethod::Cash,
                    Some("card") => PaymentMethod::Card,
                    Some("balance") => PaymentMethod::StoredBalance,
                    Some("points") => PaymentMethod::Points,
                    other => return Err(format!("pay: unknown method {other:?}")),
                };
                let amount = rest
                    .get(1)
                    .ok_or("pay: the amount is missing")?
                    .parse::<Money>()
                    .map_err(|e| format!("pay: amount: {e}"))?;
                Ok(Command::Pay(method, amount))
            }
            "member" => rest
                .first()
                .map(|t| Command::MemberPhone((*t).to_owned()))
                .ok_or_else(|| "member: the phone number is missing".into()),
            "nomember" => Ok(Command::NoMember),
            "cash" => {
                let direction = match rest.first().copied() {
                    Some("in") => crate::cash::Direction::In,
                    Some("out") => crate::cash::Direction::Out,
                    other => return Err(format!("cash: in or out, not {other:?}")),
                };
                let amount = rest
                    .get(1)
                    .ok_or("cash: the amount is missing")?
                    .parse::<Money>()
                    .map_err(|e| format!("cash: amount: {e}"))?;
                Ok(Command::Cash(
                    direction,
                    amount,
                    rest.get(2..).unwrap_or(&[]).join(" "),
                ))
            }
            "handover" => match rest.as_slice() {
                [user, pin, counted] => Ok(Command::Handover(
                    (*user).to_owned(),
                    (*pin).to_owned(),
                    counted
                        .parse::<Money>()
                        .map_err(|e| format!("handover: counted cash: {e}"))?,
                )),
                _ => Err("handover: NEXT_USER PIN COUNTED_CASH".into()),
            },
            "offline" => match rest.as_slice() {
                [on @ ("on" | "off"), user, pin] => Ok(Command::Offline(
                    *on == "on",
                    (*user).to_owned(),
                    (*pin).to_owned(),
                )),
                _ => Err("offline: on|off MANAGER PIN (a store manager approves)".into()),
            },
            "scale" => crate::scale::ScaleAction::parse(&rest).map(Command::Scale),
            "points" => Ok(Command::Points(num(0, "points")?)),
            "reprint" => Ok(Command::Reprint),
            "status" => Ok(Command::Status),
            "shift" => {
                let amount = rest
                    .get(1)
                    .ok_or("shift: the cash amount is missing")?
                    .parse::<Money>()
                    .map_err(|e| format!("shift: amount: {e}"))?;
                match rest.first().copied() {
                    Some("open") => Ok(Command::ShiftOpen(amount)),
                    Some("close") => Ok(Command::ShiftClose(amount)),
                    other => Err(format!("shift: open or close, not {other:?}")),
                }
            }
            "return" => {
                let spec = rest
                    .first()
                    .ok_or("return: LINE:QTY[,LINE:QTY…] is missing")?;
                let mut lines = Vec::new();
                for part in spec.split(',') {
                    let (l, q) = part
                        .split_once(':')
                        .ok_or_else(|| format!("return: {part:?} is not LINE:QTY"))?;
                    let l: u32 = l
                        .parse()
                        .map_err(|_| format!("return: line {l:?} is not a number"))?;
                    let q: i64 = q
                        .parse()
                        .map_err(|_| format!("return: quantity {q:?} is not a number"))?;
                    lines.push((l, q));
                }
                match &rest[1..] {
                    [user, pin] => Ok(Command::Return(lines, (*user).to_owned(), (*pin).to_owned())),
                    _ => Err(
                        "return: LINE:QTY[,LINE:QTY…] MANAGER PIN (the approving manager's user name and PIN)"
                            .into(),
                    ),
                }
            }
            "" => Err("empty command".into()),
            other => Err(format!("unknown command {other:?}")),
        }
    }
}

/// Messages from the background tasks to the lane loop.
#[derive(Debug)]
enum Background {
    Scanner(ScannerEvent),
    Online(bool),
    CatalogUpdated(i64),
    /// The store's receipt keys changed (fetched from the server).
    ReceiptKeys,
    /// The QR payment waiting for the shopper is no longer pending.
    Qr(LanePayment),
    /// What the server said about the payment code being charged.
    Code(CodeEvent),
    /// What the idle printer said when asked its status.
    PrinterChecked(Result<PrintOutcome, PrintError>),
    /// The counter scale's state changed.
    Scale(retail_devices::counter_scale::ScaleState),
    /// Head office (the middle platform) changed a member's tier or rights.
    MemberChanged(retail_domain::wire::bus::MemberTierNotice),
}

/// What the watch of a payment code found.
#[derive(Debug)]
enum CodeEvent {
    /// Where it stands now (open or final).
    Status(LanePayment),
    /// The server does not know it: it never took the charge, nothing was charged.
    Unknown(uuid::Uuid),
    /// The reversal was refused (it stays open; the cashier may try again).
    Stuck(uuid::Uuid, String),
}

fn load_profiles(
    config: &Config,
) -> anyhow::Result<(ScannerProfile, PrinterProfile, Option<DisplayProfile>)> {
    let catalog = DeviceCatalog::load_dir(&config.firmware_dir.join("profiles")).map_err(|e| {
        anyhow::anyhow!(
            "device profiles in {}: {e}",
            config.firmware_dir.join("profiles").display()
        )
    })?;
    let scanner = catalog
        .scanners
        .get(&config.scanner_profile)
        .cloned()
        .with_context(|| format!("no scanner profile {:?}", config.scanner_profile))?;
    let printer = catalog
        .printers
        .get(&config.printer_profile)
        .cloned()
        .with_context(|| format!("no printer profile {:?}", config.printer_profile))?;
    let display = match &config.display_profile {
        Some(id) => Some(
            catalog
                .displays
                .get(id)
                .cloned()
                .with_context(|| format!("no customer display profile {id:?}"))?,
        ),
        None => None,
    };
    Ok((scanner, printer, display))
}

fn progress_bar(p: SyncProgress) {
    let width = 30;
    let filled = if p.total > 0 {
        (p.done * width / p.total).clamp(0, width)
    } else {
        width
    } as usize;
    eprint!(
        "\rcatalog [{}{}] {}/{} records",
        "#".repeat(filled),
        " ".repeat(width as usize - filled),
        p.done,
        p.total
    );
}

/// Prepares the lane: identity, first sync, pricing context. Returns the lane and the device id.
pub async fn prepare(config: &Config, db: &LaneDb, api: &ServerApi) -> anyhow::Result<String> {
    let identity = match api.identify().await {
        Ok(identity) => {
            db.save_identity(&identity).await?;
            identity
        }
        Err(ApiError::Unreachable(e)) => match db.identity().await? {
            Some(identity) => {
                eprintln!("server unreachable ({e}); starting offline");
                identity
            }
            None => bail!(
                "the first start needs the server at {}: {e}",
                config.server_url
            ),
        },
        Err(e) => bail!("{e}"),
    };
    let store = identity.location_id.clone();
    if let Some(configured) = &config.store {
        if configured != &store {
            bail!(
                "this credential belongs to a lane of store {store}, but the configuration says \
                 store {configured}"
            );
        }
    }
    if !db.catalog_synced().await? {
        eprintln!("first start: downloading the catalog from {}", api.base());
        let n = sync::pull_catalog(db, api, progress_bar)
            .await
            .context("the first catalog download failed (the lane cannot sell before it)")?;
        eprintln!("\ncatalog downloaded: {n} records");
    } else if let Err(e) = sync::pull_catalog(db, api, |_| {}).await {
        eprintln!("catalog update skipped: {e}");
    }
    if let Err(e) =
        sync::refresh_context(db, api, &store, config.code_verifier_key.as_deref()).await
    {
        if db.pricing_context().await?.is_none() || db.roster().await?.is_none() {
            bail!("cannot fetch the pricing context and who may sign in: {e}");
        }
        eprintln!("pricing context update skipped: {e}");
    }
    // Receipt keys: the lane signs and verifies offline all along; the push task retries the
    // registration and the catalog task the keys until they succeed.
    if let Err(e) = sync::register_receipt_key(db, api).await {
        eprintln!("receipt key registration skipped (retried later): {e}");
    }
    if let Err(e) = sync::refresh_receipt_keys(db, api, &store).await {
        eprintln!("receipt keys update skipped: {e}");
    }
    Ok(identity.id)
}

/// Headless input and output as channels instead of stdin and stdout, so that several lanes can
/// run in one process (the store-day harness of `retail-scenarios`): each command line sent on
/// `commands` is answered on `answers` exactly as `--headless` answers on stdout (`OK …`,
/// `ERR …`, `SALE …`, `EVENT …`, and the `SIMULATE …` and `READY …` lines at start).
#[derive(Debug)]
pub struct LaneConsole {
    /// Command lines, as typed on stdin with `--headless`.
    pub commands: mpsc::Receiver<String>,
    /// Answer lines, as printed on stdout with `--headless`.
    pub answers: mpsc::UnboundedSender<String>,
}

/// Where answer lines go: stdout, or a [`LaneConsole`]'s channel.
#[derive(Clone, Debug)]
struct Out(Option<mpsc::UnboundedSender<String>>);

impl Out {
    fn line(&self, line: String) {
        match &self.0 {
            Some(tx) => {
                let _ = tx.send(line);
            }
            None => println!("{line}"),
        }
    }
}

/// Runs the lane until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    run_with_console(config, None, shutdown).await
}

/// Like [`run`]; with a `console`, headless commands come from and answers go to its channels
/// (the lane is then headless whatever `config.headless` says).
pub async fn run_with_console(
    mut config: Config,
    console: Option<LaneConsole>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (console_commands, out) = match console {
        Some(c) => {
            config.headless = true;
            (Some(c.commands), Out(Some(c.answers)))
        }
        None => (None, Out(None)),
    };
    let (scanner_profile, printer_profile, display_profile) = load_profiles(&config)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let db = LaneDb::open(&config.data_dir.join("lane.db")).await?;
    let trust = config.trust()?;
    let api = ServerApi::with_trust(&config.server_url, &config.credential, &trust);
    let device_id = prepare(&config, &db, &api).await?;
    let identity = db.identity().await?.context("no identity")?;
    let store = identity.location_id.clone();

    let settings = LaneSettings {
        store: store.clone(),
        store_name: config.store_name.clone().unwrap_or_else(|| store.clone()),
        lane: config.lane,
        layouts: config.layouts(),
        receipt_layout: ReceiptLayout::from_profile(&printer_profile),
        footer: config.footer.clone(),
    };
    let mut lane = Lane::open(db.clone(), settings).await?;
    let cash = crate::cash::CashBook::open(db.clone()).await?;

    let (tx, mut rx) = mpsc::channel::<Background>(256);
    let (scan_tx, mut scan_rx) = mpsc::channel::<ScannerEvent>(256);

    // Devices.
    // With --simulate receipts go to a file unless a printer is configured explicitly.
    let printer_sink = match (&config.printer, config.simulate) {
        (Some(p), _) => PrinterSink::parse(p).map_err(anyhow::Error::msg)?,
        (None, true) => PrinterSink::File {
            path: config.data_dir.join("receipts.bin"),
            decoded_copy: true,
        },
        (None, false) => bail!("printer is not configured (file:, tcp: or serial:)"),
    };
    let printer = ReceiptPrinter::new(printer_sink, &printer_profile);
    // The customer display: its configured line, or with --simulate a file.
    let mut display = None;
    if let Some(profile) = display_profile {
        let sink = match (&config.display, config.simulate) {
            (Some(d), _) => PrinterSink::parse(d).map_err(anyhow::Error::msg)?,
            (None, true) => {
                let path = config.data_dir.join("display.bin");
                out.line(format!(
                    "SIMULATE customer display: raw bytes in {} (see the last screen with: \
                     tail -c {} {})",
                    path.display(),
                    usize::from(profile.rows) * usize::from(profile.columns) + 2,
                    path.display()
                ));
                PrinterSink::File {
                    path,
                    decoded_copy: false,
                }
            }
            (None, false) => bail!("display_profile is set but display (its line) is not"),
        };
        display = Some(CustomerDisplay::new(profile, sink));
    }
    let mut tasks = tokio::task::JoinSet::new();
    let (screen_tx, screen_rx) =
        tokio::sync::watch::channel(crate::customer_screen::CustomerScreen::default());
    if let Some(addr) = &config.customer_screen {
        let addr: std::net::SocketAddr = addr.parse().context("customer_screen")?;
        let listener = crate::customer_screen::bind(addr)
            .await
            .with_context(|| format!("cannot serve the customer display on {addr}"))?;
        out.line(format!(
            "CUSTOMER SCREEN http://{}/",
            listener.local_addr().unwrap_or(addr)
        ));
        tasks.spawn(async move {
            if let Err(e) = crate::customer_screen::serve(listener, screen_rx).await {
                tracing::warn!(error = %e, "the browser customer display stopped");
            }
        });
    }
    let scale = crate::scale::LaneScale::start(&config, &mut tasks)?;
    if let Some(scale) = &scale {
        out.line(format!("SIMULATE counter scale on {}", scale.port));
        let (mut rx, tx) = (scale.subscribe(), tx.clone());
        tasks.spawn(async move {
            while rx.changed().await.is_ok() {
                let state = rx.borrow_and_update().clone();
                if tx.send(Background::Scale(state)).await.is_err() {
                    return;
                }
            }
        });
    }
    if config.simulate {
        let scanner = VirtualScanner::create().context("cannot create the virtual scanner pty")?;
        out.line(format!("SIMULATE scanner {}", scanner.path));
        out.line(format!(
            "SIMULATE send scans with: printf '6901234567892\\r' > {}",
            scanner.path
        ));
        if let PrinterSink::File {
            path,
            decoded_copy: true,
        } = &printer.sink
        {
            out.line(format!(
                "SIMULATE receipts: raw ESC/POS bytes in {}, readable text in {}.txt",
                path.display(),
                path.display()
            ));
        }
        tasks.spawn(scanner.run(scanner_profile.clone(), scan_tx));
    } else {
        let port = config
            .scanner_port
            .clone()
            .context("scanner_port is not configured")?;
        tasks.spawn(run_serial_scanner(port, scanner_profile.clone(), scan_tx));
    }

    // Catalog pulls: on notice and by poll.
    let pull = Arc::new(Notify::new());
    if let Some(url) = &config.mqtt_url {
        let broker = retail_devices::server_link::parse_broker_url(url).context("mqtt_url")?;
        let members = tx.clone();
        tasks.spawn(sync::watch_store_notices(
            BusLogin {
                host: broker.host,
                port: broker.port,
                tls: broker.tls,
                trust: trust.clone(),
                device_id: device_id.clone(),
                credential: config.credential.clone(),
                store: store.clone(),
            },
            pull.clone(),
            move |notice| {
                if members.try_send(Background::MemberChanged(notice)).is_err() {
                    tracing::warn!("member notice dropped: the lane is not keeping up");
                }
            },
        ));
    }
    {
        let (db, api, tx, pull, store) = (
            db.clone(),
            api.clone(),
            tx.clone(),
            pull.clone(),
            store.clone(),
        );
        let every = Duration::from_secs(config.catalog_poll_secs.max(1));
        let configured_key = config.code_verifier_key.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = pull.notified() => {}
                    _ = tokio::time::sleep(every) => {}
                }
                let before = db.catalog_cursor().await.unwrap_or(0);
                match sync::pull_catalog(&db, &api, |_| {}).await {
                    Ok(n) => {
                        let _ = sync::refresh_context(&db, &api, &store, configured_key.as_deref())
                            .await;
                        let after = db.catalog_cursor().await.unwrap_or(before);
                        if n > 0 || after != before {
                            let _ = tx.send(Background::CatalogUpdated(n)).await;
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "catalog pull failed"),
                }
                match sync::refresh_receipt_keys(&db, &api, &store).await {
                    Ok(true) => {
                        let _ = tx.send(Background::ReceiptKeys).await;
                    }
                    Ok(false) => {}
                    Err(e) => tracing::debug!(error = %e, "receipt keys update failed"),
                }
            }
        });
    }
    // Sale push.
    let push_now = Arc::new(Notify::new());
    {
        let (db, api, tx, push_now) = (db.clone(), api.clone(), tx.clone(), push_now.clone());
        let cash_book = cash.clone();
        let every = Duration::from_secs(config.push_interval_secs.max(1));
        tasks.spawn(async move {
            loop {
                // Until the server has the lane's receipt key (a no-op once it has): before the
                // sales, so the receipt codes of every sale on the server verify there.
                if let Err(e) = sync::register_receipt_key(&db, &api).await {
                    tracing::debug!(error = %e, "receipt key registration failed");
                }
                let online = match sync::push_unsent(&db, &api, 500).await {
                    Ok(report) if report.sent > 0 => {
                        tracing::info!(?report, "sales pushed");
                        true
                    }
                    // Nothing to push: a heartbeat says whether the server is there.
                    Ok(_) => api.ping().await.is_ok(),
                    Err(e) => {
                        tracing::debug!(error = %e, "sale push failed");
                        !e.is_offline()
                    }
                };
                // The drawer's shifts, Z reports, cash movements and offline switches.
                let online = match cash_book.push_unsent(&api).await {
                    Ok(n) if n > 0 => {
                        tracing::info!(n, "cash events pushed");
                        true
                    }
                    Ok(_) => online,
                    Err(e) => {
                        tracing::debug!(error = %e, "cash event push failed");
                        online && !e.is_offline()
                    }
                };
                if tx.send(Background::Online(online)).await.is_err() {
                    return;
                }
                tokio::select! {
                    _ = push_now.notified() => {}
                    _ = tokio::time::sleep(every) => {}
                }
            }
        });
    }
    // The idle printer watch: asks a printer with real-time status how it is every
    // `printer_check_secs`, holding the printer's lock so it never talks over a print.
    let printer_busy = Arc::new(tokio::sync::Mutex::new(()));
    if config.printer_check_secs > 0 && printer.asks_status() {
        let (printer, busy, tx) = (printer.clone(), printer_busy.clone(), tx.clone());
        let every = Duration::from_secs(config.printer_check_secs);
        tasks.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let checked = {
                    let _printing = busy.lock().await;
                    printer.check().await
                };
                if let Some(result) = checked {
                    if tx.send(Background::PrinterChecked(result)).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
    {
        let tx = tx.clone();
        tasks.spawn(async move {
            while let Some(e) = scan_rx.recv().await {
                if tx.send(Background::Scanner(e)).await.is_err() {
                    return;
                }
            }
        });
    }

    // Cashier input: stdin lines (headless) or keys (screen).
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Input>(64);
    if let Some(mut commands) = console_commands {
        tasks.spawn(async move {
            while let Some(line) = commands.recv().await {
                if cmd_tx.send(Input::Line(line)).await.is_err() {
                    return;
                }
            }
        });
    } else if config.headless {
        tasks.spawn(async move {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if cmd_tx.send(Input::Line(line)).await.is_err() {
                    return;
                }
            }
        });
    } else {
        // crossterm's reader blocks: a thread of its own.
        std::thread::spawn(move || loop {
            match ratatui::crossterm::event::read() {
                Ok(ratatui::crossterm::event::Event::Key(key)) => {
                    if cmd_tx.blocking_send(Input::Key(key)).is_err() {
                        return;
                    }
                }
                Ok(_) => {
                    if cmd_tx.blocking_send(Input::Redraw).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        });
    }

    out.line(format!(
        "READY store {store} lane {:02}: sign in (login USER PIN)",
        config.lane
    ));
    let mut terminal = if config.headless {
        None
    } else {
        Some(ratatui::try_init().context("cannot start the cashier screen")?)
    };
    let mut runner = Runner {
        lane: &mut lane,
        api: &api,
        tx: tx.clone(),
        coupon_list: Vec::new(),
        qr_watch: None,
        code_watch: None,
        code_timeout: Duration::from_secs(config.code_payment_timeout_secs.max(1)),
        display,
        last_change: None,
        printer: &printer,
        printer_busy,
        printer_layout: ReceiptLayout::from_profile(&printer_profile),
        push_now: &push_now,
        headless: config.headless,
        out,
        message: (false, "ready: scan an item".into()),
        printer_state: "ok".into(),
        printer_alert: false,
        scanner_state: "?".into(),
        pending_return: None,
        keyboard: Keyboard::signed_out(),
        unsent: 0,
        scale,
        screen_tx,
        cash,
        forced_offline: false,
        adverts: config.adverts.clone(),
        advert_secs: config.advert_secs.max(1),
        started: std::time::Instant::now(),
        points_pending: None,
        last_points: None,
        last_done: None,
    };
    if let Some(pending) = runner.lane.pending_qr().cloned() {
        runner.say(
            false,
            format!(
                "EVENT a QR payment of {} was waiting when the lane stopped: asking the server",
                pending.amount
            ),
        );
        runner.watch_qr(pending.payment_id);
    }
    if let Some(pending) = runner.lane.pending_code().cloned() {
        runner.say(
            false,
            format!(
                "EVENT a payment code of {} was being charged when the lane stopped: settling it \
                 with the server before the sale can complete",
                pending.amount
            ),
        );
        runner.watch_code();
    }
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let result = loop {
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            Some(msg) = rx.recv() => runner.background(msg).await,
            Some(input) = cmd_rx.recv() => match input {
                Input::Line(line) => {
                    let line = line.trim().to_owned();
                    if line.is_empty() { continue; }
                    match Command::parse(&line) {
                        Ok(cmd) => runner.command(cmd).await,
                        Err(e) => runner.say(true, format!("ERR {e}")),
                    }
                }
                Input::Key(key) => {
                    let lines: Vec<u32> =
                        runner.lane.basket().lines.iter().map(|l| l.line_no).collect();
                    match runner.keyboard.key(key, &lines) {
                        KeyAction::None => {}
                        KeyAction::Help => runner.say(false, format!("OK {HELP}")),
                        KeyAction::Quit => break Ok(()),
                        KeyAction::Run(cmd) => runner.command(cmd).await,
                    }
                    runner.keyboard.signed_in(runner.lane.cashier().is_some());
                }
                Input::Redraw => {}
            },
            _ = tick.tick() => {
                runner.unsent = runner.lane.db().counts().await.map(|c| c.unsent).unwrap_or(-1);
            }
        }
        runner.refresh_display().await;
        if let Some(terminal) = terminal.as_mut() {
            let view = runner.view();
            if let Err(e) = terminal.draw(|f| draw(f, &view)) {
                break Err(anyhow::anyhow!("the cashier screen failed: {e}"));
            }
        }
    };
    if terminal.is_some() {
        ratatui::restore();
    }
    for watch in [runner.qr_watch.take(), runner.code_watch.take()]
        .into_iter()
        .flatten()
    {
        watch.abort();
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    // Every task holding the database has ended: close it (WAL checkpointed, files released).
    db.pool().close().await;
    result
}

/// Cashier input.
enum Input {
    Line(String),
    Key(ratatui::crossterm::event::KeyEvent),
    Redraw,
}

/// A line of a sale that can be returned.
#[derive(Clone, Debug)]
struct ReturnableLine {
    line_no: u32,
    name: String,
    left: i64,
}

/// The lane loop's state around the core.
struct Runner<'a> {
    lane: &'a mut Lane,
    api: &'a ServerApi,
    tx: mpsc::Sender<Background>,
    /// The member's coupons as last listed (`coupon N` picks from it).
    coupon_list: Vec<Coupon>,
    /// The task polling the server for the waiting QR payment.
    qr_watch: Option<tokio::task::JoinHandle<()>>,
    /// The task polling (and finally reversing) the payment code being charged.
    code_watch: Option<tokio::task::JoinHandle<()>>,
    /// How long the shopper has to confirm a payment code.
    code_timeout: Duration,
    display: Option<CustomerDisplay>,
    /// Change of the last completed sale (shown until the next sale starts).
    last_change: Option<Money>,
    printer: &'a ReceiptPrinter,
    /// Held while printing or asking the printer's status (one conversation at a time).
    printer_busy: Arc<tokio::sync::Mutex<()>>,
    printer_layout: ReceiptLayout,
    push_now: &'a Notify,
    headless: bool,
    out: Out,
    message: (bool, String),
    printer_state: String,
    /// The last print failed or warned: the command's answer is shown as an alert.
    printer_alert: bool,
    scanner_state: String,
    pending_return: Option<(uuid::Uuid, Vec<ReturnableLine>)>,
    keyboard: Keyboard,
    unsent: i64,
    /// The counter scale, when the lane has one.
    scale: Option<crate::scale::LaneScale>,
    /// The customer screen for the browser display.
    screen_tx: tokio::sync::watch::Sender<crate::customer_screen::CustomerScreen>,
    /// Cash movements and the control log.
    cash: crate::cash::CashBook,
    /// A manager switched the lane to offline selling.
    forced_offline: bool,
    adverts: Vec<String>,
    advert_secs: u64,
    started: std::time::Instant,
    /// Points the member earns with the sale being rung up (as last priced).
    points_pending: Option<i64>,
    /// Points earned with the last completed sale.
    last_points: Option<i64>,
    /// When the last sale completed.
    last_done: Option<std::time::Instant>,
}

impl Runner<'_> {
    /// Reports a line: printed with `--headless`, else shown on the message line.
    fn say(&mut self, error: bool, line: String) {
        if self.headless {
            self.out.line(line);
        } else if !line.starts_with("SALE ") {
            let text = line
                .strip_prefix("OK ")
                .or_else(|| line.strip_prefix("ERR "))
                .or_else(|| line.strip_prefix("EVENT "))
                .unwrap_or(&line)
                .to_owned();
            self.message = (error, text);
        }
    }

    fn view(&self) -> View {
        let mut view = View::from_lane(self.lane);
        view.selected = self.keyboard.selected;
        view.message = self.message.clone();
        view.input = self.keyboard.input();
        view.unsent = self.unsent;
        view.printer = self.printer_state.clone();
        view.scanner = self.scanner_state.clone();
        view.scale = self
            .scale
            .as_ref()
            .map(|s| s.state().text())
            .unwrap_or_default();
        if let Some(qr) = self.lane.pending_qr() {
            view.qr = crate::ui::qr_block_lines(&qr.pay_url).unwrap_or_default();
            view.qr_caption = format!("扫码支付 Scan to pay ¥{} · {}", qr.amount, qr.pay_url);
        }
        view
    }

    async fn background(&mut self, msg: Background) {
        match msg {
            Background::Scanner(ScannerEvent::Frame(ScanFrame::Code { text, .. })) => {
                self.command(Command::Scan(text)).await
            }
            Background::Scanner(ScannerEvent::Frame(ScanFrame::Garbled { reason })) => {
                self.say(true, format!("ERR scanner sent garbage: {reason}"))
            }
            Background::Scanner(ScannerEvent::Connected(what)) => {
                self.scanner_state = "ok".into();
                self.say(false, format!("EVENT {what}"))
            }
            Background::Scanner(ScannerEvent::Disconnected(what)) => {
                self.scanner_state = "DISCONNECTED".into();
                self.say(true, format!("EVENT {what}"))
            }
            Background::Online(online) => {
                let online = online && !self.forced_offline;
                if online != self.lane.online() {
                    self.say(
                        !online,
                        format!("EVENT {}", if online { "online" } else { "offline" }),
                    );
                }
                self.lane.set_online(online);
            }
            Background::Qr(payment) => {
                let result = self.qr_settled(payment).await;
                match result {
                    Ok(text) => self.say(false, format!("OK {text}")),
                    Err(e) => self.say(true, format!("ERR {e}")),
                }
            }
            Background::Code(event) => {
                let result = self.code_event(event).await;
                match result {
                    Ok(Some(text)) => self.say(false, format!("OK {text}")),
                    Ok(None) => {}
                    Err(e) => self.say(true, format!("ERR {e}")),
                }
            }
            Background::PrinterChecked(result) => {
                let (state, alert) = printer_state(&result);
                if state == self.printer_state {
                    return;
                }
                let was_down = self.printer_state != "ok" && self.printer_state != PAPER_LOW_STATUS;
                self.printer_state = state.into();
                let waiting = self
                    .lane
                    .db()
                    .counts()
                    .await
                    .map(|c| c.unprinted)
                    .unwrap_or(0);
                match result {
                    Err(e) => self.say(true, format!("EVENT printer: {e}")),
                    Ok(_) if was_down && waiting > 0 => self.say(
                        alert,
                        format!(
                            "EVENT printer ready again ({state}): reprint (F7) prints the {waiting} waiting receipt(s)"
                        ),
                    ),
                    Ok(_) => self.say(alert, format!("EVENT printer {state}")),
                }
            }
            Background::Scale(state) => {
                if let Some(scale) = self.scale.as_mut() {
                    scale.observe(&state);
                }
            }
            Background::ReceiptKeys => {
                if let Err(e) = self.lane.reload_receipt_keys().await {
                    self.say(true, format!("ERR receipt keys reload: {e}"));
                }
            }
            Background::MemberChanged(notice) => {
                if let Some(text) = self.member_changed(&notice).await {
                    self.say(text.starts_with("ERR"), text);
                }
            }
            Background::CatalogUpdated(n) => match self.lane.reload().await {
                Ok(()) => self.say(false, format!("EVENT catalog updated ({n} records)")),
                Err(e) => self.say(true, format!("ERR catalog reload: {e}")),
            },
        }
    }

    /// A member's tier changed (the store bus): when that member is on the sale, the sale takes
    /// the new tier and is priced again, and the member is re-read from the server (points,
    /// name of the tier); offline, the tier's name comes from the lane's own tier table. Nothing
    /// for a member not on the sale. What to tell the cashier, if anything.
    async fn member_changed(
        &mut self,
        notice: &retail_domain::wire::bus::MemberTierNotice,
    ) -> Option<String> {
        let held = self.lane.basket().member.clone()?;
        if held.id != notice.member_id {
            return None;
        }
        let member = match self.api.member(notice.member_id).await {
            Ok(m) => member_from_remote(&m),
            Err(_) => LaneMember {
                tier_name: self.lane.tier_name(&notice.tier),
                tier: notice.tier.clone(),
                ..held
            },
        };
        let name = member.tier_name.clone();
        Some(match self.lane.retier_member(member) {
            Ok(()) => format!(
                "EVENT member's tier is now {name} (head office); {}",
                self.total_text()
            ),
            Err(e) => format!("ERR member's tier changed to {name}, not applied to this sale: {e}"),
        })
    }

    async fn command(&mut self, cmd: Command) {
        self.printer_alert = false;
        match self.apply(cmd).await {
            Ok(text) => {
                let alert = self.printer_alert;
                self.say(alert, format!("OK {text}"))
            }
            Err(e) => self.say(true, format!("ERR {e}")),
        }
        let n = self.lane.basket().lines.len();
        if self.keyboard.selected >= n {
            self.keyboard.selected = n.saturating_sub(1);
        }
    }

    fn total_text(&self) -> String {
        match self.lane.priced() {
            Some(p) => format!("total {} due {}", p.total, self.lane.due()),
            None => "total 0.00".into(),
        }
    }

    /// Prints (with the printer's status check when its profile has one); the status bar and
    /// the alert follow the result.
    async fn print(&mut self, bytes: &[u8]) -> Result<PrintOutcome, PrintError> {
        let result = {
            let _printing = self.printer_busy.lock().await;
            self.printer.print(bytes).await
        };
        let (state, alert) = printer_state(&result);
        self.printer_state = state.into();
        self.printer_alert |= alert;
        result
    }

    /// Prints the receipts that are waiting, in order, marking each printed as it goes; stops at
    /// the first that fails (it and the rest keep waiting).
    async fn reprint_waiting(
        &mut self,
        waiting: &[crate::store::JournalEntry],
    ) -> Result<String, LaneError> {
        let mut done: Vec<String> = Vec::new();
        let mut paper_low = false;
        for entry in waiting {
            match self.print(&entry.receipt).await {
                Ok(outcome) => {
                    self.lane.db().mark_printed(entry.sale.id).await?;
                    paper_low |= outcome.paper_low;
                    done.push(entry.sale.sale_no.clone());
                }
                Err(e) if done.is_empty() => {
                    return Err(LaneError::NotUsableHere(format!(
                        "{e}; the receipt waits for reprint"
                    )))
                }
                Err(e) => {
                    return Err(LaneError::NotUsableHere(format!(
                        "{e}; receipt {} reprinted, {} still wait for reprint",
                        done.join(", "),
                        waiting.len() - done.len()
                    )))
                }
            }
        }
        Ok(print_note(
            &PrintOutcome { paper_low },
            &format!("receipt {} reprinted", done.join(", ")),
        ))
    }

    async fn apply(&mut self, cmd: Command) -> Result<String, LaneError> {
        // Everything but signing in names the person signed in.
        if !matches!(
            cmd,
            Command::Login(..) | Command::Status | Command::Invalid(_)
        ) {
            self.lane.require_cashier()?;
        }
        // Switched to offline selling by a manager: nothing that needs the server.
        if self.forced_offline
            && matches!(
                cmd,
                Command::MemberPhone(_)
                    | Command::Coupons
                    | Command::Coupon(_)
                    | Command::Points(_)
                    | Command::PayQr(_)
                    | Command::Pay(PaymentMethod::StoredBalance | PaymentMethod::SandboxQr, _)
                    | Command::Return(..)
            )
        {
            return Err(LaneError::Offline(
                "this (the lane is switched to offline selling)",
            ));
        }
        match cmd {
            Command::Login(user, pin) => {
                let cashier = self.lane.sign_in(&user, &pin)?;
                let text = format!("signed in: {} ({})", cashier.display_name, cashier.username);
                self.keyboard.mode = crate::ui::InputMode::Code;
                Ok(text)
            }
            Command::Logout => {
                let who = self.lane.sign_out()?;
                self.keyboard.mode = crate::ui::InputMode::SignInUser;
                Ok(format!("{who} signed out"))
            }
            Command::Scan(text) => match self.scan(&text).await? {
                ScanOutcome::LineAdded(n) | ScanOutcome::LineIncremented(n) => {
                    if let Some(i) = self.lane.basket().lines.iter().position(|l| l.line_no == n) {
                        self.keyboard.selected = i;
                    }
                    let line = self
                        .lane
                        .basket()
                        .lines
                        .iter()
                        .find(|l| l.line_no == n)
                        .map(|l| format!("{} x{}", l.sku.display_name(), l.qty_text()))
                        .unwrap_or_default();
                    Ok(format!("line {n} {line}; {}", self.total_text()))
                }
                ScanOutcome::MemberIdentified(id) => {
                    let mut text = format!("member {id} (verified offline)");
                    if let Ok(m) = self.api.member(id).await {
                        self.lane.confirm_member(member_from_remote(&m))?;
                        text = format!("member {} {} {} points", m.phone, m.tier.name, m.points);
                    }
                    Ok(format!("{text}; {}", self.total_text()))
                }
                ScanOutcome::Receipt(code) => self.start_return(code.sale_id).await,
                ScanOutcome::PaymentCode { provider, code } => {
                    self.start_code_payment(provider, &code).await
                }
                ScanOutcome::Pickup(code) => {
                    match self
                        .api
                        .hand_over(
                            code.order_id,
                            &serde_json::json!({"pickup_code": code.short_code}),
                        )
                        .await
                    {
                        Ok(order) => Ok(format!(
                            "pickup order {} handed over",
                            order["order_no"].as_str().unwrap_or("")
                        )),
                        Err(e) if e.is_offline() => Err(LaneError::Offline("a pickup handover")),
                        Err(e) => Err(LaneError::NotUsableHere(format!("pickup: {e}"))),
                    }
                }
            },
            Command::Qty(line, qty) => {
                self.lane.set_qty(line, qty)?;
                Ok(format!("line {line} qty {qty}; {}", self.total_text()))
            }
            Command::Void(line) => {
                self.lane.void_line(line)?;
                Ok(format!("line {line} voided; {}", self.total_text()))
            }
            Command::VoidSale(approver, pin) => {
                let approved_by = self.lane.void_sale(&approver, &pin).await?;
                Ok(format!("sale voided (approved by {approved_by})"))
            }
            Command::Park => {
                self.lane.park().await?;
                Ok(format!("sale parked ({} parked)", self.lane.parked().len()))
            }
            Command::Resume(n) => {
                self.lane.resume(n.saturating_sub(1)).await?;
                Ok(format!("sale resumed; {}", self.total_text()))
            }
            Command::MemberPhone(phone) => match self.api.member_by_phone(&phone).await {
                Ok(m) => {
                    self.lane.set_member(member_from_remote(&m))?;
                    Ok(format!(
                        "member {} {}; {}",
                        m.phone,
                        m.tier.name,
                        self.total_text()
                    ))
                }
                Err(e) if e.is_offline() => Err(LaneError::Offline("looking a member up by phone")),
                Err(e) => Err(LaneError::NotUsableHere(format!("member: {e}"))),
            },
            Command::NoMember => {
                self.lane.clear_member()?;
                Ok(format!("member removed; {}", self.total_text()))
            }
            Command::Pay(PaymentMethod::SandboxQr, amount) => self.start_qr(Some(amount)).await,
            Command::Pay(method, amount) => self.pay(method, amount).await,
            Command::PayQr(amount) => self.start_qr(amount).await,
            Command::QrCancel if self.lane.pending_code().is_some() => self.cancel_code().await,
            Command::QrCancel => self.cancel_qr().await,
            Command::QrCheck if self.lane.pending_code().is_some() => {
                let Some(pending) = self.lane.pending_code().cloned() else {
                    return Err(LaneError::NotUsableHere("no payment code is open".into()));
                };
                match self.api.lane_payment(pending.payment_id).await {
                    Ok(p) => {
                        Ok(self
                            .code_event(CodeEvent::Status(p))
                            .await?
                            .unwrap_or_else(|| {
                                format!(
                                    "付款码 payment code {}: {}",
                                    pending.amount,
                                    pending.status_text()
                                )
                            }))
                    }
                    Err(ApiError::Refused { status: 404, .. }) => Ok(self
                        .code_event(CodeEvent::Unknown(pending.payment_id))
                        .await?
                        .unwrap_or_default()),
                    Err(e) if e.is_offline() => Err(LaneError::Offline("a payment code")),
                    Err(e) => Err(LaneError::NotUsableHere(format!("payment code: {e}"))),
                }
            }
            Command::QrCheck => {
                let pending =
                    self.lane.pending_qr().cloned().ok_or_else(|| {
                        LaneError::NotUsableHere("no QR payment is waiting".into())
                    })?;
                match self.api.lane_payment(pending.payment_id).await {
                    Ok(p) if p.status == LanePaymentStatus::Pending => Ok(format!(
                        "QR payment {} still waiting for the shopper",
                        pending.amount
                    )),
                    Ok(p) => self.qr_settled(p).await,
                    Err(e) if e.is_offline() => Err(LaneError::Offline("a QR payment")),
                    Err(e) => Err(LaneError::NotUsableHere(format!("QR payment: {e}"))),
                }
            }
            Command::Coupons => self.list_coupons().await,
            Command::Coupon(n) => {
                if !self.lane.online() {
                    return Err(LaneError::Offline("using a coupon"));
                }
                let coupon = n
                    .checked_sub(1)
                    .and_then(|i| self.coupon_list.get(i))
                    .cloned()
                    .ok_or_else(|| {
                        LaneError::NotUsableHere(format!(
                            "no coupon {n} in the list (list them with `coupons`)"
                        ))
                    })?;
                self.lane.apply_coupon(coupon.clone())?;
                Ok(format!(
                    "coupon {} applied; {}",
                    coupon.name_zh,
                    self.total_text()
                ))
            }
            Command::NoCoupon => {
                self.lane.clear_coupons()?;
                Ok(format!("coupons removed; {}", self.total_text()))
            }
            Command::Points(points) => {
                let member = self
                    .lane
                    .basket()
                    .member
                    .clone()
                    .ok_or_else(|| LaneError::BadPayment("identify the member first".into()))?;
                let remote = match self.api.member(member.id).await {
                    Ok(m) => m,
                    Err(e) if e.is_offline() => {
                        return Err(LaneError::Offline("paying with points"))
                    }
                    Err(e) => return Err(LaneError::NotUsableHere(format!("member: {e}"))),
                };
                let outcome = self.lane.redeem_points(points, remote.points).await?;
                self.finish_payment(outcome, Money::ZERO).await
            }
            Command::Reprint => {
                // Receipts that could not print go first, oldest first, all of them; with none
                // waiting, a copy of the last sale's receipt.
                let waiting = self.lane.db().unprinted_sales().await?;
                if !waiting.is_empty() {
                    return self.reprint_waiting(&waiting).await;
                }
                let last = self
                    .lane
                    .db()
                    .last_sale()
                    .await?
                    .ok_or_else(|| LaneError::NotUsableHere("no sale to reprint yet".into()))?;
                match self.print(&last.receipt).await {
                    Ok(outcome) => {
                        self.lane.db().mark_printed(last.sale.id).await?;
                        Ok(print_note(
                            &outcome,
                            &format!("receipt {} reprinted", last.sale.sale_no),
                        ))
                    }
                    Err(e) => Err(LaneError::NotUsableHere(format!(
                        "{e}; the receipt waits for reprint"
                    ))),
                }
            }
            Command::Status => {
                let counts = self.lane.db().counts().await?;
                Ok(format!(
                    "{} unsent {} rejected {} unprinted {} printer {} lines {} {}",
                    if self.lane.online() {
                        "online"
                    } else {
                        "offline"
                    },
                    counts.unsent,
                    counts.rejected,
                    counts.unprinted,
                    self.printer_state,
                    self.lane.basket().lines.len(),
                    self.total_text()
                ))
            }
            Command::ShiftOpen(cash) => {
                if self.lane.shift().is_some() {
                    return Err(LaneError::NotUsableHere("a shift is already open".into()));
                }
                if cash.is_negative() {
                    return Err(LaneError::BadPayment(
                        "opening cash must not be negative".into(),
                    ));
                }
                let id = retail_domain::ids::new_id();
                let cashier = self.lane.require_cashier()?.username.clone();
                self.lane
                    .db()
                    .open_shift(id, &cashier, cash.fen(), chrono::Utc::now())
                    .await?;
                self.lane.set_shift(Some(id));
                self.shift_opened(id, &cashier, cash).await?;
                Ok(format!("shift opened with {cash} in the drawer"))
            }
            Command::ShiftClose(counted) => self.close_shift(counted, None).await,
            Command::Cash(direction, amount, reason) => {
                self.cash_move(direction, amount, &reason).await
            }
            Command::Handover(user, pin, counted) => self.handover(&user, &pin, counted).await,
            Command::Offline(on, manager, pin) => {
                let approved_by = self.lane.approve(&manager, &pin)?;
                let cashier = self.lane.require_cashier()?.username.clone();
                if on == self.forced_offline {
                    return Err(LaneError::NotUsableHere(format!(
                        "the lane is already {}",
                        if on {
                            "switched to offline selling"
                        } else {
                            "selling online"
                        }
                    )));
                }
                self.forced_offline = on;
                if on {
                    self.lane.set_online(false);
                }
                let detail = if on {
                    "switched to offline selling"
                } else {
                    "switched back to online selling"
                };
                self.cash
                    .log(
                        if on { "offline_on" } else { "offline_off" },
                        &cashier,
                        Some(&approved_by),
                        detail,
                    )
                    .await?;
                let mut event = crate::cash::CashBook::event(
                    if on {
                        retail_domain::wire::cash_control::CashEventKind::OfflineOn
                    } else {
                        retail_domain::wire::cash_control::CashEventKind::OfflineOff
                    },
                    self.lane.shift(),
                    &cashier,
                );
                event.approved_by = Some(approved_by.clone());
                self.cash.enqueue(&event).await?;
                self.push_now.notify_one();
                Ok(format!("lane {detail} (approved by {approved_by})"))
            }
            Command::Scale(action) => match self.scale.as_mut() {
                Some(scale) => scale.act(action).await.map_err(LaneError::NotUsableHere),
                None => Err(LaneError::NotUsableHere(
                    "this lane has no counter scale (scale_profile)".into(),
                )),
            },
            Command::Return(lines, approver, pin) => self.finish_return(lines, approver, pin).await,
            Command::Invalid(why) => Err(LaneError::NotUsableHere(why)),
        }
    }

    /// Scans with the lane core; a receipt code of a lane key not known yet makes an online lane
    /// fetch its store's receipt keys (a lane registered since the last fetch) and try once more.
    async fn scan(&mut self, text: &str) -> Result<ScanOutcome, LaneError> {
        match self.scan_once(text).await {
            Err(LaneError::UnknownReceiptKey(_)) if self.lane.online() => {
                let store = self.lane.settings().store.clone();
                match sync::refresh_receipt_keys(self.lane.db(), self.api, &store).await {
                    Ok(_) => self.lane.reload_receipt_keys().await?,
                    Err(e) => tracing::debug!(error = %e, "receipt keys update failed"),
                }
                self.scan_once(text).await
            }
            other => other,
        }
    }

    /// One scan with the lane core; at a lane with a counter scale, a weighed item takes the
    /// scale's stable weight (and the scale must then return to zero).
    async fn scan_once(&mut self, text: &str) -> Result<ScanOutcome, LaneError> {
        let Some(scale) = self.scale.as_mut() else {
            return self.lane.scan(text).await;
        };
        let (outcome, used) = self.lane.scan_at_scale(text, scale.input()).await?;
        if used {
            scale.taken();
        }
        Ok(outcome)
    }

    async fn start_return(&mut self, sale_id: uuid::Uuid) -> Result<String, LaneError> {
        let view = match self.api.sale(sale_id).await {
            Ok(v) => v,
            Err(e) if e.is_offline() => return Err(LaneError::Offline("a return")),
            Err(ApiError::Refused { status: 404, .. }) => {
                return Err(LaneError::NotUsableHere(
                    "the server does not know this sale (not pushed yet?)".into(),
                ))
            }
            Err(e) => return Err(LaneError::NotUsableHere(format!("return: {e}"))),
        };
        let lines: Vec<ReturnableLine> = view["lines"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| {
                        Some(ReturnableLine {
                            line_no: u32::try_from(l["line_no"].as_i64()?).ok()?,
                            name: l["name"].as_str()?.to_owned(),
                            left: l["qty"].as_i64()? - l["returned_qty"].as_i64().unwrap_or(0),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let text = lines
            .iter()
            .map(|l| format!("{}:{} left {}", l.line_no, l.name, l.left))
            .collect::<Vec<_>>()
            .join(" | ");
        self.pending_return = Some((sale_id, lines));
        self.keyboard.mode = crate::ui::InputMode::Return;
        self.keyboard.text.clear();
        Ok(format!(
            "return from sale {}: {text}; enter return LINE:QTY,…",
            view["order_no"].as_str().unwrap_or("")
        ))
    }

    async fn finish_return(
        &mut self,
        lines: Vec<(u32, i64)>,
        approver: String,
        pin: String,
    ) -> Result<String, LaneError> {
        let Some((sale_id, returnable)) = self.pending_return.clone() else {
            return Err(LaneError::NotUsableHere(
                "scan the receipt code of the sale first".into(),
            ));
        };
        for (line, qty) in &lines {
            let Some(r) = returnable.iter().find(|r| r.line_no == *line) else {
                return Err(LaneError::NoSuchLine(*line));
            };
            if *qty <= 0 || *qty > r.left {
                return Err(LaneError::BadQuantity(format!(
                    "line {line} ({}): 1 to {} can be returned",
                    r.name, r.left
                )));
            }
        }
        let request = retail_domain::wire::sales::CreateReturn {
            id: retail_domain::ids::new_id(),
            order_id: sale_id,
            lines: lines
                .iter()
                .map(|(l, q)| retail_domain::wire::sales::ReturnLineRequest {
                    line_no: *l,
                    qty: *q,
                })
                .collect(),
            reason: Some("returned at the till".into()),
            approval: Some(retail_domain::wire::sales::ReturnApproval {
                username: approver,
                pin,
            }),
            cashier: Some(self.lane.require_cashier()?.username.clone()),
        };
        let result = match self.api.create_return(&request).await {
            Ok(r) => r,
            Err(e) if e.is_offline() => return Err(LaneError::Offline("a return")),
            Err(ApiError::Refused {
                status: 403 | 422 | 429,
                message,
                ..
            }) => return Err(LaneError::WrongPin(format!("return refused: {message}"))),
            Err(e) => return Err(LaneError::NotUsableHere(format!("return: {e}"))),
        };
        let cash_back = result
            .tenders
            .iter()
            .filter(|t| t.method == PaymentMethod::Cash.as_str())
            .map(|t| t.amount.fen())
            .sum::<i64>();
        self.pending_return = None;
        self.lane
            .db()
            .record_return(
                result.return_id,
                sale_id,
                result.refund.fen(),
                cash_back,
                self.lane.shift(),
            )
            .await?;
        let mut rows = vec![(
            "销售单 Sale".to_owned(),
            sale_id.to_string()[..8].to_owned(),
        )];
        for l in &result.lines {
            rows.push((
                format!("行 line {} × {}", l.line_no, l.qty),
                l.refund.to_string(),
            ));
        }
        rows.push(("退款 Refund".into(), result.refund.to_string()));
        let mut back = Vec::new();
        for tender in &result.tenders {
            let label = tender_refund_label(&tender.method);
            rows.push((label.to_owned(), tender.amount.to_string()));
            back.push(format!("{} {}", tender.amount, tender.method));
        }
        if !result.balance_refunded.is_zero() {
            rows.push((
                "退储值 To balance".into(),
                result.balance_refunded.to_string(),
            ));
            back.push(format!("{} to the stored balance", result.balance_refunded));
        }
        if result.points_refunded > 0 {
            rows.push((
                "退积分 Points back".into(),
                result.points_refunded.to_string(),
            ));
            back.push(format!("{} points", result.points_refunded));
        }
        rows.push((
            "收银员 Cashier".into(),
            result.cashier.clone().unwrap_or_default(),
        ));
        rows.push((
            "批准 Approved by".into(),
            result.approved_by.clone().unwrap_or_default(),
        ));
        // The drawer opens only when cash goes back.
        let slip = retail_devices::receipt::encode_report(
            "退货单 RETURN",
            &rows,
            &self.printer_layout,
            cash_back > 0,
        );
        let printed = match self.print(&slip).await {
            Ok(outcome) => print_note(&outcome, "slip printed"),
            Err(e) => format!("{e}: slip not printed"),
        };
        let cash = if cash_back > 0 {
            format!("; hand back {} in cash", Money::from_fen(cash_back))
        } else {
            String::new()
        };
        Ok(format!(
            "return recorded: refund {} ({}){cash}; approved by {}; {printed}",
            result.refund,
            back.join(", "),
            result.approved_by.as_deref().unwrap_or("")
        ))
    }

    /// Queues a shift's opening for the server.
    async fn shift_opened(
        &mut self,
        shift: uuid::Uuid,
        cashier: &str,
        cash: Money,
    ) -> Result<(), LaneError> {
        let mut event = crate::cash::CashBook::event(
            retail_domain::wire::cash_control::CashEventKind::ShiftOpened,
            Some(shift),
            cashier,
        );
        event.amount = Some(cash);
        self.cash.enqueue(&event).await?;
        self.push_now.notify_one();
        Ok(())
    }

    async fn close_shift(
        &mut self,
        counted: Money,
        handed_over_to: Option<String>,
    ) -> Result<String, LaneError> {
        let Some((id, cashier, opened, opening)) = self.lane.db().open_shift_info().await? else {
            return Err(LaneError::NotUsableHere(
                "no shift is open (F11 opens one)".into(),
            ));
        };
        if counted.is_negative() {
            return Err(LaneError::BadPayment(
                "counted cash must not be negative".into(),
            ));
        }
        let sales = self.lane.db().shift_sales(id).await?;
        let (returns, refunds, cash_back) = self.lane.db().shift_returns(id).await?;
        let mut by_method: std::collections::BTreeMap<&'static str, i64> = Default::default();
        let mut total = 0i64;
        for s in &sales {
            total += s.sale.total.fen();
            for p in &s.sale.payments {
                *by_method.entry(p.method.as_str()).or_default() += p.amount.fen();
            }
        }
        let cash_sales = by_method.get("cash").copied().unwrap_or(0);
        let (cash_in, cash_out) = self.cash.shift_moves(id).await?;
        let expected = opening + cash_sales - cash_back + cash_in - cash_out;
        let now = chrono::Utc::now();
        let cashier_name = cashier.clone();
        let mut rows = vec![
            ("收银员 Cashier".to_owned(), cashier),
            (
                "开班 Opened".to_owned(),
                opened.format("%Y-%m-%d %H:%M").to_string(),
            ),
            (
                "交班 Closed".to_owned(),
                now.format("%Y-%m-%d %H:%M").to_string(),
            ),
            ("销售笔数 Sales".to_owned(), sales.len().to_string()),
            (
                "销售额 Sales total".to_owned(),
                Money::from_fen(total).to_string(),
            ),
        ];
        for (method, fen) in &by_method {
            rows.push((format!("  {method}"), Money::from_fen(*fen).to_string()));
        }
        rows.push(("退货笔数 Returns".into(), returns.to_string()));
        rows.push(("退款 Refunds".into(), Money::from_fen(refunds).to_string()));
        rows.push((
            "备用金 Opening cash".into(),
            Money::from_fen(opening).to_string(),
        ));
        rows.push(("入款 Cash in".into(), Money::from_fen(cash_in).to_string()));
        rows.push((
            "出款 Cash out".into(),
            Money::from_fen(cash_out).to_string(),
        ));
        rows.push((
            "应有现金 Expected cash".into(),
            Money::from_fen(expected).to_string(),
        ));
        rows.push(("实点现金 Counted cash".into(), counted.to_string()));
        rows.push((
            "差额 Difference".into(),
            Money::from_fen(counted.fen() - expected).to_string(),
        ));
        let fen = Money::from_fen;
        let mut event = crate::cash::CashBook::event(
            retail_domain::wire::cash_control::CashEventKind::ShiftClosed,
            Some(id),
            &cashier_name,
        );
        event.amount = Some(counted);
        event.z_report = Some(retail_domain::wire::cash_control::ZReport {
            opened_at: opened,
            closed_at: now,
            sales: i64::try_from(sales.len()).unwrap_or(i64::MAX),
            sales_total: fen(total),
            returns,
            refunds: fen(refunds),
            opening_cash: fen(opening),
            cash_sales: fen(cash_sales),
            cash_back: fen(cash_back),
            cash_in: fen(cash_in),
            cash_out: fen(cash_out),
            expected_cash: fen(expected),
            counted_cash: counted,
            difference: fen(counted.fen() - expected),
            handed_over_to,
        });
        // The shift closes and its Z report is queued for the server in one transaction.
        self.lane
            .db()
            .close_shift(id, counted.fen(), now, &event)
            .await?;
        self.lane.set_shift(None);
        self.push_now.notify_one();
        let report = retail_devices::receipt::encode_report(
            "Z 报表 Z REPORT",
            &rows,
            &self.printer_layout,
            true,
        );
        let printed = match self.print(&report).await {
            Ok(outcome) => print_note(&outcome, "Z report printed"),
            Err(e) => format!("{e}: Z report not printed"),
        };
        Ok(format!(
            "shift closed: {} sales, expected cash {}, counted {counted}; {printed}",
            sales.len(),
            Money::from_fen(expected)
        ))
    }

    /// Cash into or out of the drawer of the open shift: journalled with its reason, a slip
    /// printed, the drawer opened.
    async fn cash_move(
        &mut self,
        direction: crate::cash::Direction,
        amount: Money,
        reason: &str,
    ) -> Result<String, LaneError> {
        let Some((shift, _, _, opening)) = self.lane.db().open_shift_info().await? else {
            return Err(LaneError::NotUsableHere(
                "no shift is open (F11 opens one)".into(),
            ));
        };
        let cashier = self.lane.require_cashier()?.username.clone();
        let expected =
            Money::from_fen(drawer_cash(self.lane.db(), &self.cash, shift, opening).await?);
        self.cash
            .record_move(shift, direction, amount, reason, &cashier, expected)
            .await?;
        let mut event = crate::cash::CashBook::event(
            match direction {
                crate::cash::Direction::In => {
                    retail_domain::wire::cash_control::CashEventKind::CashIn
                }
                crate::cash::Direction::Out => {
                    retail_domain::wire::cash_control::CashEventKind::CashOut
                }
            },
            Some(shift),
            &cashier,
        );
        event.amount = Some(amount);
        event.reason = Some(reason.trim().to_owned());
        self.cash.enqueue(&event).await?;
        self.push_now.notify_one();
        let rows = vec![
            ("收银员 Cashier".to_owned(), cashier),
            ("金额 Amount".to_owned(), amount.to_string()),
            ("原因 Reason".to_owned(), reason.trim().to_owned()),
            (
                "时间 Time".to_owned(),
                chrono::Utc::now().format("%Y-%m-%d %H:%M").to_string(),
            ),
        ];
        let mut slip = retail_devices::receipt::encode_report(
            direction.title(),
            &rows,
            &self.printer_layout,
            true,
        );
        slip.extend_from_slice(&self.printer_layout.drawer_kick);
        let printed = match self.print(&slip).await {
            Ok(outcome) => print_note(&outcome, "slip printed"),
            Err(e) => format!("{e}: slip not printed"),
        };
        Ok(format!(
            "cash {} {amount} recorded ({}); {printed}",
            direction.as_str(),
            reason.trim()
        ))
    }

    /// Hands the drawer over: the incoming cashier signs in with their PIN, the outgoing shift
    /// closes with the counted cash and its Z report, and a shift opens for the incoming
    /// cashier with that cash.
    async fn handover(
        &mut self,
        user: &str,
        pin: &str,
        counted: Money,
    ) -> Result<String, LaneError> {
        let outgoing = self.lane.require_cashier()?.username.clone();
        if self.lane.shift().is_none() {
            return Err(LaneError::NotUsableHere(
                "no shift is open to hand over (F11 opens one)".into(),
            ));
        }
        if counted.is_negative() {
            return Err(LaneError::BadPayment(
                "counted cash must not be negative".into(),
            ));
        }
        if user.trim().eq_ignore_ascii_case(&outgoing) {
            return Err(LaneError::NotUsableHere(
                "hand over to another cashier".into(),
            ));
        }
        // The incoming cashier's PIN first: a wrong one changes nothing.
        let incoming = self.lane.sign_in(user, pin)?.username.clone();
        let closed = self.close_shift(counted, Some(incoming.clone())).await?;
        let id = retail_domain::ids::new_id();
        self.lane
            .db()
            .open_shift(id, &incoming, counted.fen(), chrono::Utc::now())
            .await?;
        self.lane.set_shift(Some(id));
        self.shift_opened(id, &incoming, counted).await?;
        self.cash
            .log(
                "handover",
                &outgoing,
                None,
                &format!("handed over to {incoming} with {counted} counted"),
            )
            .await?;
        self.keyboard.mode = crate::ui::InputMode::Code;
        Ok(format!(
            "handed over from {outgoing} to {incoming}: {closed}; shift opened for {incoming} with {counted}"
        ))
    }

    async fn pay(&mut self, method: PaymentMethod, amount: Money) -> Result<String, LaneError> {
        let outcome = match method {
            PaymentMethod::Cash | PaymentMethod::Card => self.lane.pay(method, amount).await?,
            PaymentMethod::StoredBalance => {
                let member = self.lane.member_with_code()?.clone();
                let remote = match self.api.member(member.id).await {
                    Ok(m) => m,
                    Err(e) if e.is_offline() => {
                        return Err(LaneError::Offline("paying with the stored balance"))
                    }
                    Err(e) => return Err(LaneError::NotUsableHere(format!("member: {e}"))),
                };
                if remote.balance < amount {
                    return Err(LaneError::BadPayment(format!(
                        "the stored balance is {}, less than {amount}",
                        remote.balance
                    )));
                }
                self.lane
                    .add_confirmed_payment(TakenPayment {
                        payment: PosPayment {
                            id: retail_domain::ids::new_id(),
                            method,
                            amount,
                            points: 0,
                            provider_ref: None,
                        },
                        tendered: amount,
                        change: Money::ZERO,
                    })
                    .await?
            }
            PaymentMethod::Points
            | PaymentMethod::SandboxQr
            | PaymentMethod::WechatPay
            | PaymentMethod::Alipay => {
                return Err(LaneError::NotUsableHere(
                    "points: use `points N`; QR: use `pay qr [AMOUNT]`".into(),
                ));
            }
        };
        self.finish_payment(outcome, amount).await
    }

    /// Starts a QR payment: the server creates the intent (idempotent by its id), the lane shows
    /// the QR and watches for the payment.
    async fn start_qr(&mut self, amount: Option<Money>) -> Result<String, LaneError> {
        if !self.lane.online() {
            return Err(LaneError::Offline("a QR payment"));
        }
        let amount = amount.unwrap_or_else(|| self.lane.due());
        let id = self.lane.check_qr(amount)?;
        let request = CreateLanePayment {
            id,
            sale_id: self.lane.basket().id,
            amount,
        };
        // One retry with the same id: a lost answer does not make a second intent.
        let mut answer = self.api.create_lane_payment(&request).await;
        if matches!(&answer, Err(e) if e.is_offline()) {
            answer = self.api.create_lane_payment(&request).await;
        }
        let intent = match answer {
            Ok(p) => p,
            Err(e) if e.is_offline() => return Err(LaneError::Offline("a QR payment")),
            Err(e) => return Err(LaneError::NotUsableHere(format!("QR payment: {e}"))),
        };
        if intent.id != id || intent.amount != amount || intent.sale_id != request.sale_id {
            return Err(LaneError::NotUsableHere(
                "the server answered another QR payment than the one asked for".into(),
            ));
        }
        self.lane
            .set_pending_qr(PendingQr {
                payment_id: id,
                amount,
                pay_url: intent.pay_url.clone(),
            })
            .await?;
        self.watch_qr(id);
        if self.headless {
            self.out.line(format!("QR {}", intent.pay_url));
            for line in crate::ui::qr_block_lines(&intent.pay_url).unwrap_or_default() {
                self.out.line(format!("QR|{line}"));
            }
        }
        Ok(format!(
            "QR payment {amount}: show the QR to the shopper (qr cancel to cancel)"
        ))
    }

    fn watch_qr(&mut self, id: uuid::Uuid) {
        if let Some(old) = self.qr_watch.take() {
            old.abort();
        }
        let (api, tx) = (self.api.clone(), self.tx.clone());
        self.qr_watch = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(QR_POLL).await;
                match api.lane_payment(id).await {
                    Ok(p) if p.status == LanePaymentStatus::Pending => {}
                    Ok(p) => {
                        let _ = tx.send(Background::Qr(p)).await;
                        return;
                    }
                    Err(e) => tracing::debug!(error = %e, "QR payment poll failed"),
                }
            }
        }));
    }

    /// The server says the waiting QR payment is no longer pending: take it, or drop it.
    async fn qr_settled(&mut self, payment: LanePayment) -> Result<String, LaneError> {
        let waiting = self.lane.pending_qr().map(|p| p.payment_id);
        if waiting != Some(payment.id) {
            return Err(LaneError::NotUsableHere(format!(
                "QR payment {} is not the one waiting at this lane",
                payment.id
            )));
        }
        if let Some(watch) = self.qr_watch.take() {
            watch.abort();
        }
        match payment.status {
            LanePaymentStatus::Succeeded => {
                let provider_ref = payment.provider_ref.clone().unwrap_or_default();
                let outcome = self.lane.qr_paid(payment.id, provider_ref).await?;
                self.finish_payment(outcome, payment.amount).await
            }
            LanePaymentStatus::Cancelled
            | LanePaymentStatus::Pending
            | LanePaymentStatus::UserPaying
            | LanePaymentStatus::Failed
            | LanePaymentStatus::Reversed => {
                self.lane.drop_qr().await?;
                Ok(format!(
                    "QR payment {} cancelled; {}",
                    payment.amount,
                    self.total_text()
                ))
            }
        }
    }

    /// Cancels the waiting QR payment at the server (needed: the shopper may be paying); when
    /// the shopper was quicker, the payment is taken instead.
    async fn cancel_qr(&mut self) -> Result<String, LaneError> {
        let pending = self
            .lane
            .pending_qr()
            .cloned()
            .ok_or_else(|| LaneError::NotUsableHere("no QR payment is waiting".into()))?;
        match self.api.cancel_lane_payment(pending.payment_id).await {
            Ok(p) => self.qr_settled(p).await,
            Err(ApiError::Refused { code, .. }) if code == "already_paid" => {
                match self.api.lane_payment(pending.payment_id).await {
                    Ok(p) => {
                        let text = self.qr_settled(p).await?;
                        Ok(format!("the shopper had paid already: {text}"))
                    }
                    Err(e) => Err(LaneError::NotUsableHere(format!("QR payment: {e}"))),
                }
            }
            Err(e) if e.is_offline() => Err(LaneError::Offline(
                "cancelling a QR payment (the shopper may be paying)",
            )),
            Err(e) => Err(LaneError::NotUsableHere(format!("QR payment: {e}"))),
        }
    }

    /// Charges the shopper's payment code for what is due: the attempt is journalled first, then
    /// the server is asked (one retry with the same id when the answer is lost); the answer is
    /// taken (paid), watched (the shopper confirming, or no answer yet) or dropped (refused).
    async fn start_code_payment(
        &mut self,
        provider: retail_domain::payment_code::PaymentCodeProvider,
        code: &str,
    ) -> Result<String, LaneError> {
        if !self.lane.online() {
            return Err(LaneError::Offline("a payment code (付款码)"));
        }
        let pending = self.lane.begin_code_payment(provider, code).await?;
        let request = CreateCodePayment {
            id: pending.payment_id,
            sale_id: self.lane.basket().id,
            amount: pending.amount,
            auth_code: code.to_owned(),
        };
        let mut answer = self.api.create_code_payment(&request).await;
        if matches!(&answer, Err(e) if e.is_offline()) {
            answer = self.api.create_code_payment(&request).await;
        }
        match answer {
            Ok(payment) if payment.id != pending.payment_id || payment.amount != pending.amount => {
                // Not ours: settle ours by polling as if unanswered.
                tracing::error!(asked = %pending.payment_id, answered = %payment.id,
                    "the server answered another payment than the one asked for");
                self.watch_code();
                Ok(format!(
                    "付款码 payment code {}: the server's answer did not match; asking again",
                    pending.amount
                ))
            }
            Ok(payment) => Ok(self
                .code_event(CodeEvent::Status(payment))
                .await?
                .unwrap_or_default()),
            Err(e) if e.is_offline() => {
                self.watch_code();
                Ok(format!(
                    "付款码 payment code {}: no answer from the server ({e}); the attempt is kept \
                     and settled when the server answers — the sale waits for it",
                    pending.amount
                ))
            }
            Err(e) => {
                let why = e.to_string();
                self.lane
                    .drop_code(pending.payment_id, "failed", Some(&why))
                    .await?;
                Err(LaneError::BadPayment(format!(
                    "付款码 payment code refused by the server: {why}; take another tender"
                )))
            }
        }
    }

    /// Polls the server about the payment code being charged every [`CODE_POLL`] until it is
    /// settled; past the deadline (`code_payment_timeout_secs` after it was journalled) it asks
    /// the server to reverse it, again and again until the server answers.
    fn watch_code(&mut self) {
        if let Some(old) = self.code_watch.take() {
            old.abort();
        }
        let Some(pending) = self.lane.pending_code().cloned() else {
            return;
        };
        let id = pending.payment_id;
        let deadline = pending.started_at
            + chrono::Duration::from_std(self.code_timeout).unwrap_or(chrono::Duration::MAX);
        let (api, tx) = (self.api.clone(), self.tx.clone());
        self.code_watch = Some(tokio::spawn(async move {
            let mut last = pending.status;
            loop {
                tokio::time::sleep(CODE_POLL).await;
                let answer = if chrono::Utc::now() >= deadline {
                    match api.cancel_lane_payment(id).await {
                        Err(ApiError::Refused { code, .. }) if code == "already_paid" => {
                            api.lane_payment(id).await
                        }
                        other => other,
                    }
                } else {
                    api.lane_payment(id).await
                };
                let event = match answer {
                    Ok(p)
                        if matches!(
                            p.status,
                            LanePaymentStatus::Pending | LanePaymentStatus::UserPaying
                        ) =>
                    {
                        if last == Some(p.status) {
                            continue;
                        }
                        last = Some(p.status);
                        if tx
                            .send(Background::Code(CodeEvent::Status(p)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        continue;
                    }
                    Ok(p) => CodeEvent::Status(p),
                    Err(ApiError::Refused { status: 404, .. }) => CodeEvent::Unknown(id),
                    Err(ApiError::Refused { message, .. }) => CodeEvent::Stuck(id, message),
                    Err(e) => {
                        tracing::debug!(error = %e, "payment code poll failed; asking again");
                        continue;
                    }
                };
                let _ = tx.send(Background::Code(event)).await;
                return;
            }
        }));
    }

    /// Applies what the server said about the payment code being charged: paid → the tender is
    /// taken (the sale completes); still open → shown; refused or reversed → dropped, the sale
    /// open for another tender. `None` when there is nothing new to say.
    async fn code_event(&mut self, event: CodeEvent) -> Result<Option<String>, LaneError> {
        let id = match &event {
            CodeEvent::Status(p) => p.id,
            CodeEvent::Unknown(id) | CodeEvent::Stuck(id, _) => *id,
        };
        let Some(pending) = self
            .lane
            .pending_code()
            .filter(|p| p.payment_id == id)
            .cloned()
        else {
            return Err(LaneError::NotUsableHere(format!(
                "payment {id} is not the payment code being charged at this lane"
            )));
        };
        let payment = match event {
            CodeEvent::Unknown(_) => {
                self.stop_code_watch();
                self.lane
                    .drop_code(id, "unsent", Some("the server never took the charge"))
                    .await?;
                return Ok(Some(format!(
                    "付款码 payment code {}: the server never took it, nothing was charged; scan \
                     the code again or take another tender",
                    pending.amount
                )));
            }
            CodeEvent::Stuck(_, why) => {
                self.stop_code_watch();
                return Err(LaneError::NotUsableHere(format!(
                    "付款码 payment code {} could not be reversed: {why}; try again (qr cancel)",
                    pending.amount
                )));
            }
            CodeEvent::Status(p) => p,
        };
        let label = pending.provider_label();
        match payment.status {
            LanePaymentStatus::Pending | LanePaymentStatus::UserPaying => {
                let changed = pending.status != Some(payment.status);
                self.lane.code_status(id, payment.status).await?;
                if self.code_watch.is_none() {
                    self.watch_code();
                }
                let now = self
                    .lane
                    .pending_code()
                    .map(|p| p.status_text())
                    .unwrap_or("");
                Ok(changed.then(|| format!("{label} {}: {now}", pending.amount)))
            }
            LanePaymentStatus::Succeeded => {
                self.stop_code_watch();
                let provider_ref = payment.provider_ref.clone().unwrap_or_default();
                let outcome = self
                    .lane
                    .code_paid(id, payment.method, provider_ref.clone())
                    .await?;
                let done = self.finish_payment(outcome, payment.amount).await?;
                Ok(Some(format!(
                    "{label} {} paid (交易号 {provider_ref}); {done}",
                    payment.amount
                )))
            }
            LanePaymentStatus::Failed => {
                self.stop_code_watch();
                let why = payment
                    .failure
                    .clone()
                    .unwrap_or_else(|| "refused by the provider".into());
                self.lane.drop_code(id, "failed", Some(&why)).await?;
                Err(LaneError::BadPayment(format!(
                    "支付失败 {label} payment failed: {why}; take another tender"
                )))
            }
            LanePaymentStatus::Reversed | LanePaymentStatus::Cancelled => {
                self.stop_code_watch();
                self.lane
                    .drop_code(id, payment.status.as_str(), None)
                    .await?;
                Ok(Some(format!(
                    "已撤销 {label} payment {} reversed: not paid (the shopper did not confirm \
                     in time); {}",
                    payment.amount,
                    self.total_text()
                )))
            }
        }
    }

    fn stop_code_watch(&mut self) {
        if let Some(watch) = self.code_watch.take() {
            watch.abort();
        }
    }

    /// Reverses the payment code being charged at the cashier's request (the shopper gave up,
    /// or another tender): the server reverses it at the provider; paid meanwhile → taken.
    async fn cancel_code(&mut self) -> Result<String, LaneError> {
        let pending = self
            .lane
            .pending_code()
            .cloned()
            .ok_or_else(|| LaneError::NotUsableHere("no payment code is open".into()))?;
        let answer = match self.api.cancel_lane_payment(pending.payment_id).await {
            Err(ApiError::Refused { code, .. }) if code == "already_paid" => {
                self.api.lane_payment(pending.payment_id).await
            }
            other => other,
        };
        let event = match answer {
            Ok(p) => CodeEvent::Status(p),
            Err(ApiError::Refused { status: 404, .. }) => CodeEvent::Unknown(pending.payment_id),
            Err(e) if e.is_offline() => {
                return Err(LaneError::Offline(
                    "reversing a payment code (the shopper may be paying)",
                ))
            }
            Err(e) => return Err(LaneError::NotUsableHere(format!("payment code: {e}"))),
        };
        Ok(self.code_event(event).await?.unwrap_or_else(|| {
            format!(
                "付款码 payment code {}: {}",
                pending.amount,
                self.lane
                    .pending_code()
                    .map(|p| p.status_text())
                    .unwrap_or("")
            )
        }))
    }

    /// Lists the identified member's usable coupons (online).
    async fn list_coupons(&mut self) -> Result<String, LaneError> {
        let member = self
            .lane
            .basket()
            .member
            .clone()
            .ok_or_else(|| LaneError::NotUsableHere("identify the member first".into()))?;
        if !self.lane.online() {
            return Err(LaneError::Offline("using a coupon"));
        }
        let coupons = match self.api.member_coupons(member.id).await {
            Ok(c) => c,
            Err(e) if e.is_offline() => return Err(LaneError::Offline("using a coupon")),
            Err(e) => return Err(LaneError::NotUsableHere(format!("coupons: {e}"))),
        };
        self.coupon_list = coupons;
        if self.coupon_list.is_empty() {
            return Ok("the member has no coupon usable now".into());
        }
        let list = self
            .coupon_list
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{}:{} {}", i + 1, c.name_zh, c.name_en))
            .collect::<Vec<_>>()
            .join(" | ");
        Ok(format!("coupons {list}; apply with coupon N"))
    }

    /// Shows the shopper the running total, the QR amount or the change.
    async fn refresh_display(&mut self) {
        // The thank-you stays until the next sale starts, or for half a minute.
        if !self.lane.basket().lines.is_empty()
            || self
                .last_done
                .is_some_and(|t| t.elapsed() > Duration::from_secs(30))
        {
            self.last_change = None;
            self.last_done = None;
        }
        if self.lane.basket().member.is_some() {
            self.points_pending = self.lane.priced().map(|p| p.points_earned);
        } else if self.lane.priced().is_some() {
            self.points_pending = None;
        }
        let extras = crate::customer_screen::ScreenExtras {
            weight: self.scale.as_ref().map(|s| s.state().text()),
            last: self
                .last_change
                .map(|change| crate::customer_screen::LastSale {
                    change,
                    points: self.last_points,
                }),
            adverts: self.adverts.clone(),
            advert_turn: usize::try_from(self.started.elapsed().as_secs() / self.advert_secs)
                .unwrap_or(0),
        };
        let screen = crate::customer_screen::CustomerScreen::build(self.lane, &extras);
        let rows = crate::customer_screen::pole_rows(&screen);
        self.screen_tx.send_if_modified(|s| {
            let changed = *s != screen;
            *s = screen;
            changed
        });
        let failed = match self.display.as_mut() {
            Some(display) => display.show(rows).await.err(),
            None => None,
        };
        if let Some(e) = failed {
            self.say(true, format!("EVENT customer display: {e}"));
        }
    }

    async fn finish_payment(
        &mut self,
        outcome: PaymentOutcome,
        amount: Money,
    ) -> Result<String, LaneError> {
        match outcome {
            PaymentOutcome::Partial(due) => Ok(format!("paid {amount}; still due {due}")),
            PaymentOutcome::Completed(done) => {
                self.push_now.notify_one();
                self.coupon_list.clear();
                self.last_change = Some(done.change);
                self.last_points = self.points_pending.take();
                self.last_done = Some(std::time::Instant::now());
                self.say(
                    false,
                    format!(
                        "SALE {} {} total {} change {}",
                        done.sale.id, done.sale.sale_no, done.sale.total, done.change
                    ),
                );
                let mut bytes = done.receipt.clone();
                if done.open_drawer {
                    bytes.extend_from_slice(&self.printer_layout.drawer_kick);
                }
                let result = self.print(&bytes).await;
                if result.is_ok() {
                    self.lane.db().mark_printed(done.sale.id).await?;
                }
                let printed = receipt_note(&result, done.open_drawer);
                Ok(format!(
                    "sale {} complete, change {}; {printed}",
                    done.sale.sale_no, done.change
                ))
            }
        }
    }
}

/// The cash the drawer of a shift should hold now: opening + cash sales − cash handed back +
/// cash in − cash out.
async fn drawer_cash(
    db: &LaneDb,
    cash: &crate::cash::CashBook,
    shift: uuid::Uuid,
    opening: i64,
) -> Result<i64, LaneError> {
    let sales = db.shift_sales(shift).await?;
    let cash_sales: i64 = sales
        .iter()
        .flat_map(|s| s.sale.payments.iter())
        .filter(|p| p.method == PaymentMethod::Cash)
        .map(|p| p.amount.fen())
        .sum();
    let (_, _, cash_back) = db.shift_returns(shift).await?;
    let (cash_in, cash_out) = cash.shift_moves(shift).await?;
    Ok(opening + cash_sales - cash_back + cash_in - cash_out)
}

/// The return slip's label for what goes back through a tender.
fn tender_refund_label(method: &str) -> &'static str {
    match method {
        "cash" => "退现 Cash back",
        "card" => "退卡 To card",
        "stored_balance" => "退储值 To balance",
        "points" => "退积分 Points",
        _ => "原路退回 To the QR payment",
    }
}

/// What the cashier is told about a print that went out: `done`, with the paper-low warning.
fn print_note(outcome: &PrintOutcome, done: &str) -> String {
    if outcome.paper_low {
        format!("{done}; {PAPER_LOW}")
    } else {
        done.to_owned()
    }
}

/// What the cashier is told about a completed sale's receipt: printed (perhaps with the
/// paper-low warning), or why not — the sale is saved and the receipt waits for reprint.
pub fn receipt_note(result: &Result<PrintOutcome, PrintError>, open_drawer: bool) -> String {
    match result {
        Ok(outcome) => print_note(outcome, "receipt printed"),
        Err(e) => {
            let mut text = format!("{e}: the sale is saved, the receipt waits for reprint (F7)");
            if e.after_sending() {
                text.push_str("; part of it may have printed: check it before reprinting");
            } else if open_drawer {
                text.push_str("; the drawer did not open");
            }
            text
        }
    }
}

/// The status bar's printer text for a print's result, and whether the cashier is alerted.
pub fn printer_state(result: &Result<PrintOutcome, PrintError>) -> (&'static str, bool) {
    match result {
        Ok(outcome) => (outcome.status_text(), outcome.paper_low),
        Err(e) => (e.status_text(), true),
    }
}

fn member_from_remote(m: &RemoteMember) -> LaneMember {
    LaneMember {
        id: m.id,
        tier: m.tier.code.clone(),
        tier_name: m.tier.name.clone(),
        points: m.points,
        balance: Some(m.balance),
        masked_phone: Some(m.phone.clone()),
        confirmed_online: true,
        code: None,
    }
}
