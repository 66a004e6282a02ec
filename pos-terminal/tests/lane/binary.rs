//! Driving the real `pos-terminal` binary: `--simulate` (a pseudo-terminal scanner, receipts to a
//! file) and `--headless` (commands on stdin, one answer line each on stdout).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::support::{firmware_dir, TestApp};

/// Writes a lane configuration file for `app` into `dir`.
pub fn write_config(app: &TestApp, credential: &str, dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("lane.toml");
    let text = format!(
        r#"server_url = "{url}"
credential = "{credential}"
store = "SH001"
lane = 1
store_name = "鲜邻超市 上海一店"
data_dir = "{data}"
firmware_dir = "{fw}"
scanner_profile = "honeywell-voyager-1450g-cdc"
printer_profile = "epson-tm-t88v"
push_interval_secs = 1
footer = ["谢谢惠顾"]
{extra}
"#,
        url = app.url,
        data = dir.join("data").display(),
        fw = firmware_dir().display(),
    );
    std::fs::write(&path, text).expect("config");
    path
}

/// A running lane process.
pub struct LaneProcess {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    /// The virtual scanner's pty path.
    pub scanner: String,
    seen: Vec<String>,
}

impl LaneProcess {
    /// Starts `pos-terminal --config … --simulate --headless` and waits until it is ready.
    pub async fn start(config: &Path) -> LaneProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pos-terminal"))
            .arg("--config")
            .arg(config)
            .arg("--simulate")
            .arg("--headless")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(config.with_extension("stderr.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .kill_on_drop(true)
            .spawn()
            .expect("spawn pos-terminal");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut lane = LaneProcess {
            child,
            stdin,
            lines,
            scanner: String::new(),
            seen: Vec::new(),
        };
        let line = lane
            .expect_line(|l| l.starts_with("SIMULATE scanner "))
            .await;
        lane.scanner = line["SIMULATE scanner ".len()..].trim().to_owned();
        lane.expect_line(|l| l.starts_with("READY")).await;
        let answer = lane
            .command(&format!(
                "login {} {}",
                crate::support::CASHIER,
                crate::support::PIN
            ))
            .await;
        assert!(answer.starts_with("OK signed in"), "{answer}");
        lane
    }

    /// The next stdout line matching `pred` (others are skipped); panics after 60 s.
    pub async fn expect_line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let Ok(line) = tokio::time::timeout_at(deadline, self.lines.recv()).await else {
                panic!("timed out waiting for the lane; seen: {:?}", self.seen);
            };
            let line =
                line.unwrap_or_else(|| panic!("the lane's stdout closed; seen: {:?}", self.seen));
            self.seen.push(line.clone());
            if self.seen.len() > 20 {
                self.seen.remove(0);
            }
            if pred(&line) {
                return line;
            }
        }
    }

    /// A line matching `pred` seen already (since the last 20 lines), else the next one.
    pub async fn seen_or_expect(&mut self, pred: impl Fn(&str) -> bool) -> String {
        match self.seen.iter().find(|l| pred(l)) {
            Some(line) => line.clone(),
            None => self.expect_line(pred).await,
        }
    }

    /// The next answer to a command or scan (`OK …` / `ERR …`).
    pub async fn answer(&mut self) -> String {
        self.expect_line(|l| l.starts_with("OK ") || l.starts_with("ERR "))
            .await
    }

    /// Sends a command line.
    pub async fn send(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("stdin");
        self.stdin.flush().await.expect("flush");
    }

    /// Sends a command and returns its answer.
    pub async fn command(&mut self, line: &str) -> String {
        self.send(line).await;
        self.answer().await
    }

    /// Writes raw bytes to the virtual scanner.
    pub fn scan_bytes(&self, bytes: &[u8]) {
        use std::io::Write;
        let mut port = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.scanner)
            .expect("open scanner pty");
        port.write_all(bytes).expect("write scanner pty");
    }

    /// Scans a code (CR-terminated, as the profile says) and returns the lane's answer.
    pub async fn scan(&mut self, code: &str) -> String {
        self.scan_bytes(format!("{code}\r").as_bytes());
        self.answer().await
    }

    /// SIGKILL.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("kill");
        let _ = self.child.wait().await;
    }

    /// Unsent sales per the lane's status line.
    pub async fn unsent(&mut self) -> i64 {
        let status = self.command("status").await;
        status
            .split_whitespace()
            .skip_while(|w| *w != "unsent")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no unsent count in {status:?}"))
    }
}
