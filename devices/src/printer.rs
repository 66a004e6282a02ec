//! The receipt printer (docs/DESIGN.md §8): where the ESC/POS bytes go — a file or USB line printer
//! device, a network printer on TCP port 9100, or a serial port ([`PrinterSink`]) — and how a
//! print is confirmed ([`ReceiptPrinter`]).
//!
//! **Printer status.** A printer whose profile has real-time status is asked `DLE EOT 1…4`
//! ([`crate::printer_status`]) over the same connection before a receipt is sent and again after
//! it ([`print_with_status`]): out of paper, cover open, an error state or no answer within the
//! profile's timeout fails the print ([`PrintError`]) and nothing is sent; paper near end prints
//! and warns ([`PrintOutcome::paper_low`]). Serial and TCP are two-way; a file or `/dev/usb/lp*`
//! device is written only (no status). The I/O is generic over `AsyncRead + AsyncWrite`: a TCP
//! stream, a serial port ([`crate::serial::serial_stream`]) or a test pipe.

use std::path::{Path, PathBuf};
use std::time::Duration;

use retail_domain::profiles::{FlowControl, Parity, PrinterProfile, SerialSettings};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::printer_status::{
    PrinterFault, PrinterStatus, StatusError, StatusRequest, PAPER_LOW_STATUS,
};
use crate::receipt::decode_text;
use crate::serial::{open_serial_port, serial_stream};

/// Where receipts go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrinterSink {
    /// A file or device (`/dev/usb/lp0`): bytes appended. With `--simulate` a readable `.txt`
    /// copy is written beside it.
    File {
        /// The file.
        path: PathBuf,
        /// Also write the decoded text to `<path>.txt`.
        decoded_copy: bool,
    },
    /// A network printer (raw TCP, port 9100).
    Tcp(String),
    /// A serial printer.
    Serial {
        /// Port path.
        path: String,
        /// Baud rate.
        baud: u32,
    },
}

/// Why printing failed.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    /// The printer cannot be reached, stopped taking data, or did not answer a status request.
    #[error("printer offline: {0}")]
    Offline(String),
    /// The printer answered its status: it cannot print now (paper out, cover open, error).
    #[error("{fault}")]
    Fault {
        /// What the status says.
        fault: PrinterFault,
        /// Whether the receipt had been sent already (the fault was found after printing: part
        /// of it may have printed, and the printer may finish it once the fault is cleared).
        after_sending: bool,
    },
    /// The receipt was sent, but the printer did not answer the status request behind it, or
    /// not readably (it went off-line or hung while printing; part of it may have printed).
    #[error("printer offline: the receipt was sent but not confirmed ({0})")]
    Unconfirmed(String),
    /// The printer's status answer is not a status byte.
    #[error("printer status unreadable: {0}")]
    BadStatus(#[from] StatusError),
}

impl PrintError {
    /// The short text of the cashier's status bar (`OFFLINE`, `缺纸 PAPER OUT`, …).
    pub fn status_text(&self) -> &'static str {
        match self {
            PrintError::Offline(_) | PrintError::Unconfirmed(_) => "OFFLINE",
            PrintError::Fault { fault, .. } => fault.status_text(),
            PrintError::BadStatus(_) => "故障 ERROR",
        }
    }

    /// Whether the receipt's bytes had been sent when the failure was found.
    pub fn after_sending(&self) -> bool {
        matches!(
            self,
            PrintError::Fault {
                after_sending: true,
                ..
            } | PrintError::Unconfirmed(_)
        )
    }
}

/// A print that went out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrintOutcome {
    /// The printer says its roll is running low
    /// ([`PAPER_LOW`](crate::printer_status::PAPER_LOW)): warn the cashier.
    pub paper_low: bool,
}

impl PrintOutcome {
    /// The short text of the cashier's status bar (`ok`, `纸将尽 PAPER LOW`).
    pub fn status_text(&self) -> &'static str {
        if self.paper_low {
            PAPER_LOW_STATUS
        } else {
            "ok"
        }
    }
}

/// How long the printer may take to take in a receipt (and to answer the status request sent
/// behind it: it reads that request only once the receipt's bytes are in its buffer).
pub const PRINT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to a network printer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Asks the printer for its real-time status over `stream` (`DLE EOT 1` … `DLE EOT 4`, one at a
/// time, each answered by one byte within `wait`). No answer in time, or the connection closing,
/// is [`PrintError::Offline`]; an answer that breaks the fixed bits is
/// [`PrintError::BadStatus`].
pub async fn query_status<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    wait: Duration,
) -> Result<PrinterStatus, PrintError> {
    let mut answers = [0u8; 4];
    for (answer, request) in answers.iter_mut().zip(StatusRequest::ALL) {
        let asked = tokio::time::timeout(wait, async {
            stream.write_all(&request.bytes()).await?;
            stream.flush().await?;
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await?;
            Ok::<u8, std::io::Error>(byte[0])
        })
        .await;
        *answer = match asked {
            Ok(Ok(byte)) => request.check(byte)?,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(PrintError::Offline(format!(
                    "the printer closed the connection instead of answering {request}"
                )))
            }
            Ok(Err(e)) => return Err(PrintError::Offline(format!("asking {request}: {e}"))),
            Err(_) => {
                return Err(PrintError::Offline(format!(
                    "no answer to {request} within {} ms",
                    wait.as_millis()
                )))
            }
        };
    }
    Ok(PrinterStatus::decode(answers)?)
}

/// Sends a receipt over a two-way connection, checking the printer's real-time status before
/// (nothing is sent to a printer that is out of paper, open, in error or silent) and after (a
/// fault found then fails the print too). Paper near end, before or after, is reported in the
/// outcome and the receipt counts as printed.
///
/// Empty `bytes` only checks: the status is asked once and nothing is sent (the lane's idle
/// printer watch, [`ReceiptPrinter::check`]).
pub async fn print_with_status<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
    wait: Duration,
) -> Result<PrintOutcome, PrintError> {
    let before = query_status(stream, wait).await?;
    if let Some(fault) = before.fault() {
        return Err(PrintError::Fault {
            fault,
            after_sending: false,
        });
    }
    if bytes.is_empty() {
        return Ok(PrintOutcome {
            paper_low: before.paper_low(),
        });
    }
    write_all(stream, bytes).await?;
    let after = match query_status(stream, PRINT_TIMEOUT.max(wait)).await {
        Ok(after) => after,
        Err(PrintError::Offline(why)) => return Err(PrintError::Unconfirmed(why)),
        Err(e) => return Err(PrintError::Unconfirmed(e.to_string())),
    };
    if let Some(fault) = after.fault() {
        return Err(PrintError::Fault {
            fault,
            after_sending: true,
        });
    }
    Ok(PrintOutcome {
        paper_low: before.paper_low() || after.paper_low(),
    })
}

/// Writes and flushes `bytes` within [`PRINT_TIMEOUT`].
async fn write_all<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> Result<(), PrintError> {
    tokio::time::timeout(PRINT_TIMEOUT, async {
        stream.write_all(bytes).await?;
        stream.flush().await
    })
    .await
    .map_err(|_| PrintError::Offline("the printer stopped accepting data".into()))?
    .map_err(|e| PrintError::Offline(e.to_string()))
}

/// Sends a receipt over an open connection: with real-time status when `status` gives the wait
/// for an answer, else write-only.
pub async fn send_receipt<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
    status: Option<Duration>,
) -> Result<PrintOutcome, PrintError> {
    match status {
        Some(wait) => print_with_status(stream, bytes, wait).await,
        None => write_all(stream, bytes)
            .await
            .map(|()| PrintOutcome::default()),
    }
}

/// A receipt printer as the lane and the edge agent drive it: where the bytes go, and whether
/// (and how long) to ask its real-time status first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptPrinter {
    /// Where receipts go.
    pub sink: PrinterSink,
    /// The wait for each status answer when the printer's profile has real-time status
    /// (`DLE EOT`); `None`: receipts are sent without asking. A file sink never asks (it is
    /// write-only).
    pub status: Option<Duration>,
    /// Line settings of a serial sink (the profile's; the baud rate is the sink's).
    pub serial: Option<SerialSettings>,
}

impl ReceiptPrinter {
    /// The printer of `profile` at `sink`.
    pub fn new(sink: PrinterSink, profile: &PrinterProfile) -> Self {
        Self {
            sink,
            status: profile
                .real_time_status
                .map(|s| Duration::from_millis(u64::from(s.timeout_ms))),
            serial: profile.serial,
        }
    }

    /// Whether prints ask the printer's status (a status profile on a two-way connection).
    pub fn asks_status(&self) -> bool {
        self.status.is_some() && !matches!(self.sink, PrinterSink::File { .. })
    }

    /// Asks the printer how it is without printing anything (`None` when it cannot be asked:
    /// no real-time status in its profile, or a write-only file sink).
    pub async fn check(&self) -> Option<Result<PrintOutcome, PrintError>> {
        if self.asks_status() {
            Some(self.print(&[]).await)
        } else {
            None
        }
    }

    /// Prints `bytes`: over TCP and serial with the real-time status check when the profile has
    /// it ([`print_with_status`]); to a file as it is.
    pub async fn print(&self, bytes: &[u8]) -> Result<PrintOutcome, PrintError> {
        match &self.sink {
            PrinterSink::File { path, decoded_copy } => {
                write_file(path, *decoded_copy, bytes).await?;
                Ok(PrintOutcome::default())
            }
            PrinterSink::Tcp(addr) => {
                let mut stream =
                    tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
                        .await
                        .map_err(|_| PrintError::Offline(format!("{addr} did not answer")))?
                        .map_err(|e| PrintError::Offline(format!("{addr}: {e}")))?;
                let outcome = send_receipt(&mut stream, bytes, self.status).await?;
                let _ = stream.shutdown().await;
                Ok(outcome)
            }
            PrinterSink::Serial { path, baud } => {
                let settings = SerialSettings {
                    baud: *baud,
                    ..self.serial.unwrap_or(SerialSettings {
                        baud: *baud,
                        data_bits: 8,
                        parity: Parity::None,
                        stop_bits: 1,
                        flow_control: FlowControl::None,
                    })
                };
                let offline =
                    |e: &dyn std::fmt::Display| PrintError::Offline(format!("{path}: {e}"));
                let (port, mut keeper) = {
                    let path = path.clone();
                    tokio::task::spawn_blocking(move || {
                        let port = open_serial_port(&path, &settings)?;
                        // Stale bytes (a late answer to an earlier request) must not be read
                        // as this print's status.
                        serialport::SerialPort::clear(&port, serialport::ClearBuffer::Input)?;
                        let keeper = port.try_clone_native()?;
                        Ok::<_, serialport::Error>((port, keeper))
                    })
                    .await
                    .map_err(|e| offline(&e))?
                    .map_err(|e| offline(&e))?
                };
                let (mut stream, line) =
                    serial_stream(Box::new(port), path).map_err(|e| offline(&e))?;
                let outcome = send_receipt(&mut stream, bytes, self.status).await;
                drop(stream);
                let closed = line.close().await;
                // Give up the exclusive hold before closing, so the next print can open the
                // port at once even while something else (a pseudo-terminal's other side)
                // keeps the line open.
                let _ = keeper.set_exclusive(false);
                drop(keeper);
                let outcome = outcome?;
                closed.map_err(|e| offline(&e))?;
                Ok(outcome)
            }
        }
    }
}

impl PrinterSink {
    /// Parses `file:PATH`, `tcp:HOST:PORT`, `serial:PATH[@BAUD]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("file:") {
            Ok(Self::File {
                path: PathBuf::from(path),
                decoded_copy: false,
            })
        } else if let Some(addr) = text.strip_prefix("tcp:") {
            Ok(Self::Tcp(addr.to_owned()))
        } else if let Some(rest) = text.strip_prefix("serial:") {
            let (path, baud) = match rest.rsplit_once('@') {
                Some((p, b)) => (
                    p,
                    b.parse()
                        .map_err(|_| format!("printer serial baud rate {b:?} is not a number"))?,
                ),
                None => (rest, 9600),
            };
            Ok(Self::Serial {
                path: path.to_owned(),
                baud,
            })
        } else {
            Err(format!(
                "printer {text:?}: use file:PATH, tcp:HOST:PORT or serial:PATH[@BAUD]"
            ))
        }
    }

    /// Sends bytes as they are (write-only: no status is asked; see [`ReceiptPrinter`] for
    /// receipts). A serial line is opened with 8N1 and no flow control.
    pub async fn print(&self, bytes: &[u8]) -> Result<(), PrintError> {
        ReceiptPrinter {
            sink: self.clone(),
            status: None,
            serial: None,
        }
        .print(bytes)
        .await
        .map(|_| ())
    }
}

/// Appends `bytes` to a file sink (and their decoded text to `<path>.txt`).
async fn write_file(path: &Path, decoded_copy: bool, bytes: &[u8]) -> Result<(), PrintError> {
    let err = |e: std::io::Error| PrintError::Offline(format!("{}: {e}", path.display()));
    append(path, bytes).await.map_err(err)?;
    if decoded_copy {
        let mut txt = path.to_path_buf().into_os_string();
        txt.push(".txt");
        let mut text = decode_text(bytes);
        text.push_str("\n==================== ✂ ====================\n");
        append(Path::new(&txt), text.as_bytes())
            .await
            .map_err(err)?;
    }
    Ok(())
}

/// Appends to a file, creating it — except under `/dev/`: a device file (`/dev/usb/lp0`) that
/// is not there is an unplugged printer, not a file to create.
async fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = tokio::fs::OpenOptions::new()
        .create(!path.starts_with("/dev"))
        .append(true)
        .open(path)
        .await?;
    file.write_all(bytes).await?;
    file.flush().await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::virtual_printer::VirtualPrinter;

    const WAIT: Duration = Duration::from_millis(300);

    /// A test pipe with a virtual printer on the other end.
    fn pipe(printer: &VirtualPrinter) -> tokio::io::DuplexStream {
        let (host, device) = tokio::io::duplex(64 * 1024);
        tokio::spawn(printer.clone().serve(device));
        host
    }

    #[tokio::test]
    async fn a_ready_printer_gets_the_receipt_between_two_status_checks() {
        let printer = VirtualPrinter::new();
        let mut stream = pipe(&printer);
        let outcome = print_with_status(&mut stream, b"receipt bytes", WAIT)
            .await
            .unwrap();
        assert_eq!(outcome, PrintOutcome { paper_low: false });
        assert_eq!(outcome.status_text(), "ok");
        drop(stream);
        assert_eq!(printer.status_requests(), 8, "DLE EOT 1–4 before and after");
        tokio::task::yield_now().await;
        assert_eq!(printer.received(), b"receipt bytes");
    }

    #[tokio::test]
    async fn a_check_asks_once_and_sends_nothing() {
        let printer = VirtualPrinter::new();
        printer.set_status(PrinterStatus::paper_near_end());
        let mut stream = pipe(&printer);
        let outcome = print_with_status(&mut stream, b"", WAIT).await.unwrap();
        assert!(outcome.paper_low);
        printer.set_status(PrinterStatus::paper_out());
        let e = print_with_status(&mut stream, b"", WAIT).await.unwrap_err();
        assert_eq!(e.status_text(), "缺纸 PAPER OUT");
        drop(stream);
        tokio::task::yield_now().await;
        assert_eq!(printer.status_requests(), 8, "DLE EOT 1–4, once a check");
        assert_eq!(printer.received(), b"");
    }

    #[tokio::test]
    async fn paper_out_or_cover_open_sends_nothing() {
        for (status, fault, text) in [
            (
                PrinterStatus::paper_out(),
                PrinterFault::PaperOut,
                "缺纸 PAPER OUT",
            ),
            (
                PrinterStatus::cover_open(),
                PrinterFault::CoverOpen,
                "盖开 COVER OPEN",
            ),
        ] {
            let printer = VirtualPrinter::new();
            printer.set_status(status);
            let mut stream = pipe(&printer);
            let e = print_with_status(&mut stream, b"receipt", WAIT)
                .await
                .unwrap_err();
            assert!(
                matches!(&e, PrintError::Fault { fault: f, after_sending: false } if *f == fault),
                "{e:?}"
            );
            assert_eq!(e.status_text(), text);
            assert!(!e.after_sending());
            drop(stream);
            tokio::task::yield_now().await;
            assert_eq!(printer.received(), b"", "nothing was sent");
        }
    }

    #[tokio::test]
    async fn paper_near_end_prints_and_warns() {
        let printer = VirtualPrinter::new();
        printer.set_status(PrinterStatus::paper_near_end());
        let mut stream = pipe(&printer);
        let outcome = print_with_status(&mut stream, b"receipt", WAIT)
            .await
            .unwrap();
        assert!(outcome.paper_low);
        assert_eq!(outcome.status_text(), "纸将尽 PAPER LOW");
    }

    #[tokio::test]
    async fn a_silent_printer_counts_as_offline() {
        let printer = VirtualPrinter::new();
        printer.set_answering(false);
        let mut stream = pipe(&printer);
        let e = print_with_status(&mut stream, b"receipt", WAIT)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, PrintError::Offline(why) if why.contains("no answer to DLE EOT 1")),
            "{e}"
        );
        assert_eq!(e.status_text(), "OFFLINE");
        assert!(e.to_string().starts_with("printer offline"), "{e}");
        drop(stream);
        tokio::task::yield_now().await;
        assert_eq!(printer.received(), b"");
    }

    #[tokio::test]
    async fn a_closed_connection_or_a_bad_status_byte_fails_clearly() {
        // The other end goes away without answering.
        let (mut host, device) = tokio::io::duplex(1024);
        drop(device);
        let e = query_status(&mut host, WAIT).await.unwrap_err();
        assert!(matches!(e, PrintError::Offline(_)), "{e}");

        // Something that is not a status byte (0x00) answers the first request.
        let (mut host, mut device) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut request = [0u8; 3];
            if device.read_exact(&mut request).await.is_ok() {
                let _ = device.write_all(&[0x00]).await;
            }
            // Keep the pipe open until the host is done.
            let _ = device.read(&mut request).await;
        });
        let e = print_with_status(&mut host, b"receipt", WAIT)
            .await
            .unwrap_err();
        assert!(matches!(e, PrintError::BadStatus(_)), "{e:?}");
        assert!(e.to_string().contains("not a status byte"), "{e}");
        assert_eq!(e.status_text(), "故障 ERROR");
    }

    /// A pipe whose printer answers ready to the first four requests, then `later` (the answer
    /// byte to each request).
    fn ready_then(later: impl Fn(StatusRequest) -> u8 + Send + 'static) -> tokio::io::DuplexStream {
        let (host, mut device) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            let mut answered = 0;
            while let Ok(n) = device.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                let requests = seen.windows(2).filter(|w| *w == DLE_EOT).count();
                while answered < requests {
                    let request = StatusRequest::ALL[answered % 4];
                    let byte = if answered < 4 {
                        PrinterStatus::READY.answer(request)
                    } else {
                        later(request)
                    };
                    if device.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    answered += 1;
                }
            }
        });
        host
    }

    #[tokio::test]
    async fn a_fault_found_after_printing_fails_the_print() {
        let mut host = ready_then(|r| PrinterStatus::paper_out().answer(r));
        let e = print_with_status(&mut host, b"receipt", WAIT)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                PrintError::Fault {
                    fault: PrinterFault::PaperOut,
                    after_sending: true
                }
            ),
            "{e:?}"
        );
        assert!(e.after_sending());

        // Garbage after the receipt: sent, but not confirmed.
        let mut host = ready_then(|_| 0xFF);
        let e = print_with_status(&mut host, b"receipt", WAIT)
            .await
            .unwrap_err();
        assert!(matches!(e, PrintError::Unconfirmed(_)), "{e:?}");
        assert!(e.after_sending());
        assert_eq!(e.status_text(), "OFFLINE");
        assert!(e.to_string().contains("not confirmed"), "{e}");
    }

    /// `DLE EOT`.
    const DLE_EOT: [u8; 2] = [0x10, 0x04];

    #[tokio::test]
    async fn file_sinks_never_ask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("receipts.bin");
        let profile = retail_domain::profiles::PrinterProfile::from_toml_str(include_str!(
            "../../firmware-config/profiles/printers/epson-tm-t88v.toml"
        ))
        .unwrap();
        let printer = ReceiptPrinter::new(
            PrinterSink::File {
                path: path.clone(),
                decoded_copy: false,
            },
            &profile,
        );
        assert_eq!(printer.status, Some(Duration::from_millis(1000)));
        assert!(!printer.asks_status(), "a file is write-only");
        printer.print(b"abc").await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        // A device file that is not there is an unplugged printer, not a file to create.
        let missing = ReceiptPrinter {
            sink: PrinterSink::File {
                path: "/dev/usb/lp-not-there".into(),
                decoded_copy: false,
            },
            status: None,
            serial: None,
        };
        assert!(matches!(
            missing.print(b"abc").await,
            Err(PrintError::Offline(_))
        ));
        assert!(!Path::new("/dev/usb/lp-not-there").exists());
    }

    proptest::proptest! {
        /// Whatever bytes come back on the printer's connection (a different device on the
        /// port, noise, a connection that closes early), the status query answers a status or
        /// a clear error and never panics: a status exactly when the first four bytes are
        /// valid answers, `BadStatus` when one of those read breaks the fixed bits, `Offline`
        /// when the connection closes before four answers.
        #[test]
        fn any_reply_bytes_give_a_status_or_a_clear_error(reply in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12)) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            let result = runtime.block_on(async {
                let (mut host, mut device) = tokio::io::duplex(1024);
                let answers = reply.clone();
                // The other end answers each request with the next reply byte, then hangs up.
                tokio::spawn(async move {
                    let mut request = [0u8; 3];
                    for byte in answers {
                        if device.read_exact(&mut request).await.is_err() {
                            break;
                        }
                        if device.write_all(&[byte]).await.is_err() {
                            break;
                        }
                    }
                });
                query_status(&mut host, WAIT).await
            });
            let valid = |b: &u8| b & crate::printer_status::FIXED_MASK == crate::printer_status::FIXED_VALUE;
            let first_bad = reply.iter().take(4).position(|b| !valid(b));
            match (first_bad, reply.len() >= 4) {
                (Some(_), _) => proptest::prop_assert!(matches!(result, Err(PrintError::BadStatus(_))), "{result:?}"),
                (None, true) => {
                    let answers = [reply[0], reply[1], reply[2], reply[3]];
                    proptest::prop_assert_eq!(result.ok(), Some(PrinterStatus::decode(answers).unwrap()));
                }
                (None, false) => proptest::prop_assert!(matches!(result, Err(PrintError::Offline(_))), "{result:?}"),
            }
        }
    }
}
