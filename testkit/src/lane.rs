//! A POS lane in-process: `pos_terminal::run_with_console` with `--simulate` devices (a virtual
//! scanner on a pseudo-terminal, receipts appended to `receipts.bin` with their decoded text in
//! `receipts.bin.txt`), driven by its headless command lines.
//!
//! Every answer line of the lane is kept in order; [`LaneHandle::command`] and
//! [`LaneHandle::scan`] wait for the `OK …`/`ERR …` line that answers them, and the `SALE …`
//! lines are collected as the lane's receipts ([`LaneHandle::sales`]).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use pos_terminal::{Config, LaneConsole};
use tokio::sync::{mpsc, oneshot};

use crate::task::StoppableTask;

/// How long one command may take to be answered (generous: CI machines are slow).
const ANSWER_DEADLINE: Duration = Duration::from_secs(60);

/// What a lane needs to start.
#[derive(Clone, Debug)]
pub struct LaneOptions {
    /// The lane's store (its code, e.g. `SH001`).
    pub store: String,
    /// Lane number (1–99).
    pub number: u32,
    /// The cashier who signs in once the lane is ready (with [`LaneOptions::pin`]).
    pub cashier: String,
    /// The server as this lane reaches it (possibly through a proxy that can cut it off).
    pub server_url: String,
    /// The chain's CA the lane pins (`ca_file`; see [`crate::tls::TestPki`]); none: plain or
    /// the system's roots.
    pub ca_file: Option<PathBuf>,
    /// This lane's own device credential.
    pub credential: String,
    /// The store bus for catalog notices (none: the lane polls).
    pub mqtt_url: Option<String>,
    /// The lane's folder (database, receipts).
    pub data_dir: PathBuf,
    /// The cashier's lane PIN.
    pub pin: String,
    /// The store's name on receipts.
    pub store_name: String,
}

/// A sale the lane completed (its `SALE` line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneSale {
    /// Sale id (the server's order id).
    pub id: uuid::Uuid,
    /// Receipt number.
    pub sale_no: String,
    /// Total in fen.
    pub total_fen: i64,
}

/// A running lane.
pub struct LaneHandle {
    /// Lane number.
    pub number: u32,
    /// The virtual scanner: write a code and `\r` to this path.
    pub scanner: String,
    /// Raw ESC/POS bytes of every receipt, slip and Z report.
    pub receipts: PathBuf,
    /// The same, decoded to readable text.
    pub receipts_text: PathBuf,
    commands: mpsc::Sender<String>,
    replies: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
    transcript: Arc<Mutex<Vec<String>>>,
    task: StoppableTask,
}

fn money_fen(text: &str) -> Option<i64> {
    text.parse::<retail_domain::money::Money>()
        .ok()
        .map(|m| m.fen())
}

/// The money after the word `key` in a lane's answer (`… total 12.30 due 12.30;` → `due`: 12.30).
pub fn money_after(answer: &str, key: &str) -> Option<retail_domain::money::Money> {
    let mut words = answer.split_whitespace();
    while let Some(word) = words.next() {
        if word == key {
            if let Some(m) = words
                .next()
                .and_then(|v| v.trim_end_matches(';').parse().ok())
            {
                return Some(m);
            }
        }
    }
    None
}

/// Parses `SALE <id> <sale_no> total <total> change <change>`.
fn parse_sale(line: &str) -> Option<LaneSale> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["SALE", id, no, "total", total, ..] => Some(LaneSale {
            id: id.parse().ok()?,
            sale_no: (*no).to_owned(),
            total_fen: money_fen(total)?,
        }),
        _ => None,
    }
}

impl LaneHandle {
    /// Starts the lane and waits until it is ready to sell (identity checked, catalog,
    /// pricing context and roster pulled, the cashier signed in). With `echo`, every answer line is printed as `[lane N] …`.
    pub async fn start(options: LaneOptions, echo: bool) -> anyhow::Result<LaneHandle> {
        std::fs::create_dir_all(&options.data_dir)
            .with_context(|| format!("creating {}", options.data_dir.display()))?;
        let config = Config {
            server_url: options.server_url.clone(),
            ca_file: options.ca_file.clone(),
            code_verifier_key: None,
            credential: options.credential.clone(),
            mqtt_url: options.mqtt_url.clone(),
            store: Some(options.store.clone()),
            lane: options.number,
            store_name: Some(options.store_name.clone()),
            data_dir: options.data_dir.clone(),
            firmware_dir: crate::firmware_dir(),
            scanner_profile: "honeywell-voyager-1450g-cdc".into(),
            scanner_port: None,
            printer_profile: "epson-tm-t88v".into(),
            printer: None,
            display_profile: None,
            display: None,
            scale_profile: None,
            scale_port: None,
            customer_screen: None,
            adverts: Vec::new(),
            advert_secs: 5,
            push_interval_secs: 1,
            catalog_poll_secs: 5,
            printer_check_secs: 10,
            code_payment_timeout_secs: 60,
            variable_measure: Vec::new(),
            footer: vec!["谢谢惠顾 Thank you".into()],
            simulate: true,
            headless: true,
        };
        config.check()?;
        let (commands, command_rx) = mpsc::channel(64);
        let (answers, mut answer_rx) = mpsc::unbounded_channel::<String>();
        let (reply_tx, replies) = mpsc::unbounded_channel();
        let transcript = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = oneshot::channel::<String>();
        {
            let transcript = transcript.clone();
            let number = options.number;
            tokio::spawn(async move {
                let mut ready = Some(ready_tx);
                let mut scanner = String::new();
                while let Some(line) = answer_rx.recv().await {
                    if echo {
                        println!("[lane {number}] {line}");
                    }
                    if let Some(path) = line.strip_prefix("SIMULATE scanner ") {
                        scanner = path.trim().to_owned();
                    }
                    if line.starts_with("READY ") {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(scanner.clone());
                        }
                    }
                    if line.starts_with("OK ") || line.starts_with("ERR ") {
                        let _ = reply_tx.send(line.clone());
                    }
                    if let Ok(mut t) = transcript.lock() {
                        t.push(line);
                    }
                }
            });
        }
        let console = LaneConsole {
            commands: command_rx,
            answers,
        };
        let mut task = StoppableTask::spawn(|stop| {
            pos_terminal::run_with_console(config, Some(console), stop)
        });
        let ready = tokio::select! {
            scanner = ready_rx => scanner.ok(),
            ended = task.ended() => {
                let err = ended.err().unwrap_or_else(|| anyhow::anyhow!("ended"));
                bail!("lane {} did not start: {err:#}", options.number)
            }
        };
        let Some(scanner) = ready else {
            // The lane ended before it was ready (its answers closed first): say why.
            let err = task
                .ended()
                .await
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("ended"));
            bail!("lane {} did not start: {err:#}", options.number)
        };
        let receipts = options.data_dir.join("receipts.bin");
        let lane = LaneHandle {
            number: options.number,
            scanner,
            receipts_text: options.data_dir.join("receipts.bin.txt"),
            receipts,
            commands,
            replies: tokio::sync::Mutex::new(replies),
            transcript,
            task,
        };
        lane.ok(&format!("login {} {}", options.cashier, options.pin))
            .await
            .context("the cashier could not sign in")?;
        Ok(lane)
    }

    /// Sends a headless command line without waiting for its answer.
    pub async fn send(&self, line: &str) -> anyhow::Result<()> {
        self.commands
            .send(line.to_owned())
            .await
            .map_err(|_| anyhow::anyhow!("lane {} has stopped", self.number))
    }

    /// Drops answers nobody waited for (to a line sent with [`LaneHandle::send`]).
    async fn forget_replies(&self) {
        let mut replies = self.replies.lock().await;
        while replies.try_recv().is_ok() {}
    }

    async fn reply(&self, what: &str) -> anyhow::Result<String> {
        let mut replies = self.replies.lock().await;
        match tokio::time::timeout(ANSWER_DEADLINE, replies.recv()).await {
            Ok(Some(line)) => Ok(line),
            Ok(None) => bail!("lane {} has stopped", self.number),
            Err(_) => bail!("lane {}: no answer to {what:?}", self.number),
        }
    }

    /// Runs a headless command (`pay cash 10.00`, `shift open 200.00`, …) and returns its
    /// answer line (`OK …` or `ERR …`).
    pub async fn command(&self, line: &str) -> anyhow::Result<String> {
        self.forget_replies().await;
        self.send(line).await?;
        self.reply(line).await
    }

    /// Like [`LaneHandle::command`], failing unless the answer is `OK …`.
    pub async fn ok(&self, line: &str) -> anyhow::Result<String> {
        let answer = self.command(line).await?;
        if !answer.starts_with("OK ") {
            bail!("lane {}: {line:?} answered {answer}", self.number);
        }
        Ok(answer)
    }

    /// Scans `code` on the virtual scanner (the code and CR written to the pseudo-terminal) and
    /// returns the lane's answer line.
    pub async fn scan(&self, code: &str) -> anyhow::Result<String> {
        self.forget_replies().await;
        let mut port = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.scanner)
            .with_context(|| format!("opening the virtual scanner {}", self.scanner))?;
        port.write_all(format!("{code}\r").as_bytes())
            .and_then(|()| port.flush())
            .with_context(|| format!("writing to {}", self.scanner))?;
        drop(port);
        self.reply(code).await
    }

    /// Like [`LaneHandle::scan`], failing unless the answer is `OK …`.
    pub async fn scan_ok(&self, code: &str) -> anyhow::Result<String> {
        let answer = self.scan(code).await?;
        if !answer.starts_with("OK ") {
            bail!("lane {}: scanning {code:?} answered {answer}", self.number);
        }
        Ok(answer)
    }

    /// Every line the lane has answered so far.
    pub fn transcript(&self) -> Vec<String> {
        self.transcript
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default()
    }

    /// The sales completed so far (from the `SALE` lines), in order.
    pub fn sales(&self) -> Vec<LaneSale> {
        self.transcript()
            .iter()
            .filter_map(|l| parse_sale(l))
            .collect()
    }

    /// Rings up one unit of `barcode` and takes exactly what is due in cash: the sale.
    pub async fn sell_one_for_cash(&self, barcode: &str) -> anyhow::Result<LaneSale> {
        let answer = self.scan_ok(barcode).await?;
        let due = money_after(&answer, "due").with_context(|| format!("no due in {answer:?}"))?;
        let before = self.sales().len();
        self.ok(&format!("pay cash {due}")).await?;
        self.sales()
            .get(before)
            .cloned()
            .context("the payment completed no sale")
    }

    /// The decoded text of everything printed so far.
    pub fn printed_text(&self) -> String {
        std::fs::read_to_string(&self.receipts_text).unwrap_or_default()
    }

    /// The data of every QR code printed so far, in order (a sale's receipt code `RC2…` is on
    /// its receipt).
    pub fn printed_codes(&self) -> Vec<String> {
        std::fs::read(&self.receipts)
            .map(|bytes| retail_devices::receipt::qr_texts(&bytes))
            .unwrap_or_default()
    }

    /// Stops the lane (its tasks end, its database closes) and waits for it.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.task
            .stop()
            .await
            .with_context(|| format!("lane {}", self.number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sale_lines_parse() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(
            parse_sale(&format!("SALE {id} 0101-000003 total 12.30 change 0.00")),
            Some(LaneSale {
                id,
                sale_no: "0101-000003".into(),
                total_fen: 1230
            })
        );
        assert_eq!(parse_sale("SALE nonsense"), None);
        assert_eq!(parse_sale("OK sale complete"), None);
    }
}
