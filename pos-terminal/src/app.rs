//! The running lane: devices, sync tasks and cashier input wired around the [`Lane`] core.
//!
//! [`run`] checks the credential (or starts offline from the stored identity), downloads the
//! catalog on first start with a progress bar, then runs until shut down:
//!
//! * the scanner task feeds frames (a serial port, or a pseudo-terminal with `--simulate`);
//! * the catalog task pulls changes every `catalog_poll_secs`, and at once on an MQTT notice;
//! * the push task sends unsent journalled sales in batches every `push_interval_secs` and
//!   right after each sale, and tells the lane whether the server is reachable;
//! * cashier input comes from the keyboard screen (`tui`), or with `--headless` as one command
//!   per line on stdin ([`Command::parse`]), each answered by one line on stdout
//!   (`OK …`, `ERR …`, `SALE …`, `EVENT …`).
//!
//! A completed sale is in the journal before its receipt is sent to the printer; a printer that
//! fails leaves the receipt waiting for `reprint` and says so.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use retail_domain::money::Money;
use retail_domain::profiles::{DeviceCatalog, PrinterProfile, ScannerProfile};
use retail_domain::wire::sales::{PaymentMethod, PosPayment};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, Notify};

use crate::config::Config;
use crate::devices::{run_serial_scanner, PrinterSink, ScannerEvent, VirtualScanner};
use crate::lane::{
    Lane, LaneError, LaneMember, LaneSettings, PaymentOutcome, ScanOutcome, TakenPayment,
};
use crate::receipt::ReceiptLayout;
use crate::scanner::ScanFrame;
use crate::server_api::{ApiError, RemoteMember, ServerApi};
use crate::store::LaneDb;
use crate::sync::{self, BusLogin, SyncProgress};

/// A cashier command (keys on the screen, or a line on stdin with `--headless`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// As if scanned.
    Scan(String),
    /// Set a line's quantity.
    Qty(u32, i64),
    /// Void a line.
    Void(u32),
    /// Void the sale with the manager's PIN.
    VoidSale(String),
    /// Park the sale.
    Park,
    /// Resume parked sale n (1-based).
    Resume(usize),
    /// Take a payment.
    Pay(PaymentMethod, Money),
    /// Look a member up by phone number (online).
    MemberPhone(String),
    /// Remove the member.
    NoMember,
    /// Reprint the last receipt.
    Reprint,
    /// Print the status line.
    Status,
}

impl Command {
    /// Parses a headless command line: `scan CODE`, `qty LINE N`, `void LINE`, `voidsale PIN`,
    /// `park`, `resume [N]`, `pay cash|card|balance|qr AMOUNT`, `member PHONE`, `nomember`,
    /// `reprint`, `status`.
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
            "voidsale" => Ok(Command::VoidSale(rest.first().unwrap_or(&"").to_string())),
            "park" => Ok(Command::Park),
            "resume" => Ok(Command::Resume(if rest.is_empty() {
                1
            } else {
                usize::try_from(num(0, "number")?).map_err(|_| "no such parked sale")?
            })),
            "pay" => {
                let method = match rest.first().copied() {
                    Some("cash") => PaymentMethod::Cash,
                    Some("card") => PaymentMethod::Card,
                    Some("balance") => PaymentMethod::StoredBalance,
                    Some("qr") => PaymentMethod::SandboxQr,
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
            "reprint" => Ok(Command::Reprint),
            "status" => Ok(Command::Status),
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
}

fn load_profiles(config: &Config) -> anyhow::Result<(ScannerProfile, PrinterProfile)> {
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
    Ok((scanner, printer))
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
    if !db.catalog_synced().await? {
        eprintln!("first start: downloading the catalog from {}", api.base());
        let n = sync::pull_catalog(db, api, progress_bar)
            .await
            .context("the first catalog download failed (the lane cannot sell before it)")?;
        eprintln!("\ncatalog downloaded: {n} records");
    } else if let Err(e) = sync::pull_catalog(db, api, |_| {}).await {
        eprintln!("catalog update skipped: {e}");
    }
    if let Err(e) = sync::refresh_context(db, api, &store).await {
        if db.pricing_context().await?.is_none() {
            bail!("cannot fetch the pricing context: {e}");
        }
        eprintln!("pricing context update skipped: {e}");
    }
    Ok(identity.id)
}

/// Runs the lane until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (scanner_profile, printer_profile) = load_profiles(&config)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let db = LaneDb::open(&config.data_dir.join("lane.db")).await?;
    let api = ServerApi::new(&config.server_url, &config.credential);
    let device_id = prepare(&config, &db, &api).await?;
    let identity = db.identity().await?.context("no identity")?;
    let store = identity.location_id.clone();

    let settings = LaneSettings {
        store: store.clone(),
        store_name: config.store_name.clone().unwrap_or_else(|| store.clone()),
        lane: config.lane,
        cashier: config.cashier.clone(),
        manager_pin_sha256: config.manager_pin_sha256.clone(),
        layouts: config.layouts(),
        receipt_layout: ReceiptLayout::from_profile(&printer_profile),
        footer: config.footer.clone(),
    };
    let mut lane = Lane::open(db.clone(), settings).await?;

    let (tx, mut rx) = mpsc::channel::<Background>(256);
    let (scan_tx, mut scan_rx) = mpsc::channel::<ScannerEvent>(256);

    // Devices.
    let printer = if config.simulate {
        PrinterSink::File {
            path: config.data_dir.join("receipts.bin"),
            decoded_copy: true,
        }
    } else {
        match &config.printer {
            Some(p) => PrinterSink::parse(p).map_err(anyhow::Error::msg)?,
            None => bail!("printer is not configured (file:, tcp: or serial:)"),
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    if config.simulate {
        let scanner = VirtualScanner::create().context("cannot create the virtual scanner pty")?;
        println!("SIMULATE scanner {}", scanner.path);
        println!(
            "SIMULATE send scans with: printf '6901234567892\\r' > {}",
            scanner.path
        );
        if let PrinterSink::File { path, .. } = &printer {
            println!(
                "SIMULATE receipts: raw ESC/POS bytes in {}, readable text in {}.txt",
                path.display(),
                path.display()
            );
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
        match sync::parse_broker(url) {
            Some((host, port)) => {
                tasks.spawn(sync::watch_catalog_notices(
                    BusLogin {
                        host,
                        port,
                        device_id: device_id.clone(),
                        credential: config.credential.clone(),
                        store: store.clone(),
                    },
                    pull.clone(),
                ));
            }
            None => bail!("mqtt_url {url:?}: use mqtt://host:port"),
        }
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
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = pull.notified() => {}
                    _ = tokio::time::sleep(every) => {}
                }
                let before = db.catalog_cursor().await.unwrap_or(0);
                match sync::pull_catalog(&db, &api, |_| {}).await {
                    Ok(n) => {
                        let _ = sync::refresh_context(&db, &api, &store).await;
                        let after = db.catalog_cursor().await.unwrap_or(before);
                        if n > 0 || after != before {
                            let _ = tx.send(Background::CatalogUpdated(n)).await;
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "catalog pull failed"),
                }
            }
        });
    }
    // Sale push.
    let push_now = Arc::new(Notify::new());
    {
        let (db, api, tx, push_now) = (db.clone(), api.clone(), tx.clone(), push_now.clone());
        let every = Duration::from_secs(config.push_interval_secs.max(1));
        tasks.spawn(async move {
            loop {
                let online = match sync::push_unsent(&db, &api, 500).await {
                    Ok(report) => {
                        if report.sent > 0 {
                            tracing::info!(?report, "sales pushed");
                        }
                        true
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "sale push failed");
                        !e.is_offline()
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

    // Cashier input (headless: stdin).
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<String>(64);
    tasks.spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if cmd_tx.send(line).await.is_err() {
                return;
            }
        }
    });

    println!(
        "READY store {store} lane {:02} cashier {}",
        config.lane, config.cashier
    );
    let mut runner = Runner {
        lane: &mut lane,
        api: &api,
        printer: &printer,
        printer_layout: ReceiptLayout::from_profile(&printer_profile),
        push_now: &push_now,
        pending_receipt: None,
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(msg) = rx.recv() => runner.background(msg).await,
            Some(line) = cmd_rx.recv() => {
                let line = line.trim().to_owned();
                if line.is_empty() { continue; }
                match Command::parse(&line) {
                    Ok(cmd) => runner.command(cmd).await,
                    Err(e) => println!("ERR {e}"),
                }
            }
        }
    }
    tasks.abort_all();
    Ok(())
}

/// The lane loop's state around the core.
struct Runner<'a> {
    lane: &'a mut Lane,
    api: &'a ServerApi,
    printer: &'a PrinterSink,
    printer_layout: ReceiptLayout,
    push_now: &'a Notify,
    pending_receipt: Option<uuid::Uuid>,
}

impl Runner<'_> {
    async fn background(&mut self, msg: Background) {
        match msg {
            Background::Scanner(ScannerEvent::Frame(ScanFrame::Code { text, .. })) => {
                self.command(Command::Scan(text)).await
            }
            Background::Scanner(ScannerEvent::Frame(ScanFrame::Garbled { reason })) => {
                println!("ERR scanner sent garbage: {reason}")
            }
            Background::Scanner(ScannerEvent::Connected(what)) => println!("EVENT {what}"),
            Background::Scanner(ScannerEvent::Disconnected(what)) => println!("EVENT {what}"),
            Background::Online(online) => {
                if online != self.lane.online() {
                    println!("EVENT {}", if online { "online" } else { "offline" });
                }
                self.lane.set_online(online);
            }
            Background::CatalogUpdated(n) => match self.lane.reload().await {
                Ok(()) => println!("EVENT catalog updated ({n} records)"),
                Err(e) => println!("ERR catalog reload: {e}"),
            },
        }
    }

    async fn command(&mut self, cmd: Command) {
        match self.apply(cmd).await {
            Ok(text) => println!("OK {text}"),
            Err(e) => println!("ERR {e}"),
        }
    }

    fn total_text(&self) -> String {
        match self.lane.priced() {
            Some(p) => format!("total {} due {}", p.total, self.lane.due()),
            None => "total 0.00".into(),
        }
    }

    async fn apply(&mut self, cmd: Command) -> Result<String, LaneError> {
        match cmd {
            Command::Scan(text) => match self.lane.scan(&text).await? {
                ScanOutcome::LineAdded(n) | ScanOutcome::LineIncremented(n) => {
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
                ScanOutcome::Receipt(code) => Ok(format!(
                    "receipt of sale {} (returns need the server)",
                    code.sale_id
                )),
                ScanOutcome::Pickup(code) => {
                    if !self.lane.online() {
                        return Err(LaneError::Offline("a pickup handover"));
                    }
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
                        Err(e) => Err(LaneError::NotUsableHere(e.to_string())),
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
            Command::VoidSale(pin) => {
                self.lane.void_sale(&pin)?;
                Ok("sale voided".into())
            }
            Command::Park => {
                self.lane.park()?;
                Ok(format!("sale parked ({} parked)", self.lane.parked().len()))
            }
            Command::Resume(n) => {
                self.lane.resume(n.saturating_sub(1))?;
                Ok(format!("sale resumed; {}", self.total_text()))
            }
            Command::MemberPhone(phone) => {
                if !self.lane.online() {
                    return Err(LaneError::Offline("looking a member up by phone"));
                }
                match self.api.member_by_phone(&phone).await {
                    Ok(m) => {
                        self.lane.set_member(member_from_remote(&m))?;
                        Ok(format!(
                            "member {} {}; {}",
                            m.phone,
                            m.tier.name,
                            self.total_text()
                        ))
                    }
                    Err(e) if e.is_offline() => {
                        Err(LaneError::Offline("looking a member up by phone"))
                    }
                    Err(e) => Err(LaneError::NotUsableHere(e.to_string())),
                }
            }
            Command::NoMember => {
                self.lane.clear_member()?;
                Ok(format!("member removed; {}", self.total_text()))
            }
            Command::Pay(method, amount) => self.pay(method, amount).await,
            Command::Reprint => {
                let last = self
                    .lane
                    .db()
                    .last_sale()
                    .await?
                    .ok_or_else(|| LaneError::NotUsableHere("no sale to reprint yet".into()))?;
                match self.printer.print(&last.receipt).await {
                    Ok(()) => {
                        self.lane.db().mark_printed(last.sale.id).await?;
                        Ok(format!("receipt {} reprinted", last.sale.sale_no))
                    }
                    Err(e) => Err(LaneError::NotUsableHere(format!(
                        "{e}; the receipt waits for reprint"
                    ))),
                }
            }
            Command::Status => {
                let counts = self.lane.db().counts().await?;
                Ok(format!(
                    "{} unsent {} rejected {} unprinted {} lines {} {}",
                    if self.lane.online() {
                        "online"
                    } else {
                        "offline"
                    },
                    counts.unsent,
                    counts.rejected,
                    counts.unprinted,
                    self.lane.basket().lines.len(),
                    self.total_text()
                ))
            }
        }
    }

    async fn pay(&mut self, method: PaymentMethod, amount: Money) -> Result<String, LaneError> {
        let outcome =
            match method {
                PaymentMethod::Cash | PaymentMethod::Card => self.lane.pay(method, amount).await?,
                PaymentMethod::StoredBalance => {
                    let member =
                        self.lane.basket().member.clone().ok_or_else(|| {
                            LaneError::BadPayment("identify the member first".into())
                        })?;
                    if !self.lane.online() {
                        return Err(LaneError::Offline("paying with the stored balance"));
                    }
                    let remote = match self.api.member(member.id).await {
                        Ok(m) => m,
                        Err(e) if e.is_offline() => {
                            return Err(LaneError::Offline("paying with the stored balance"))
                        }
                        Err(e) => return Err(LaneError::NotUsableHere(e.to_string())),
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
                PaymentMethod::Points | PaymentMethod::SandboxQr => {
                    if !self.lane.online() {
                        return Err(LaneError::Offline(if method == PaymentMethod::Points {
                            "paying with points"
                        } else {
                            "a QR payment"
                        }));
                    }
                    return Err(LaneError::NotUsableHere(
                        "this payment method is not available at this lane yet".into(),
                    ));
                }
            };
        match outcome {
            PaymentOutcome::Partial(due) => Ok(format!("paid {amount}; still due {due}")),
            PaymentOutcome::Completed(done) => {
                self.push_now.notify_one();
                println!(
                    "SALE {} {} total {} change {}",
                    done.sale.id, done.sale.sale_no, done.sale.total, done.change
                );
                let mut bytes = done.receipt.clone();
                if done.open_drawer {
                    bytes.extend_from_slice(&self.printer_layout.drawer_kick);
                }
                let printed = match self.printer.print(&bytes).await {
                    Ok(()) => {
                        self.lane.db().mark_printed(done.sale.id).await?;
                        "receipt printed".to_owned()
                    }
                    Err(e) => {
                        self.pending_receipt = Some(done.sale.id);
                        format!("{e}: the sale is saved, the receipt waits for reprint")
                    }
                };
                Ok(format!(
                    "sale {} complete, change {}; {printed}",
                    done.sale.sale_no, done.change
                ))
            }
        }
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
    }
}
