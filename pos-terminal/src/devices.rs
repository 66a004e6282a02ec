//! The lane's devices (DESIGN §8): the barcode scanner on a serial line (a real port through the
//! `serialport` crate, or a pseudo-terminal with `--simulate`) and the receipt printer (serial
//! port, file / USB line printer device, or TCP port 9100).
//!
//! The scanner is read by a blocking thread (serial ports are blocking devices) that copies the
//! bytes into an in-memory pipe; the lane reads that pipe as an [`tokio::io::AsyncRead`] through
//! the [`ScanFrameCodec`], so the framing is the same code for a port, a pty or a test buffer
//! ([`scan_frames`]). A port that fails (unplugged) is reported and reopened every second until
//! it is back.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use retail_domain::profiles::{Parity, ScannerProfile};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

use crate::receipt::decode_text;
use crate::scanner::{ScanFrame, ScanFrameCodec};

/// Something the scanner reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScannerEvent {
    /// A frame (a code, or garbage with the reason).
    Frame(ScanFrame),
    /// The scanner is connected (at start and after a replug).
    Connected(String),
    /// The scanner went away (unplugged, port error); the lane keeps retrying.
    Disconnected(String),
}

/// Reads frames from any byte stream and sends them on; ends at end of stream or on an I/O
/// error (which it reports as [`ScannerEvent::Disconnected`]).
pub async fn scan_frames<R: AsyncRead + Unpin>(
    reader: R,
    codec: ScanFrameCodec,
    events: &mpsc::Sender<ScannerEvent>,
) {
    let mut frames = FramedRead::new(reader, codec);
    while let Some(frame) = frames.next().await {
        let event = match frame {
            Ok(frame) => ScannerEvent::Frame(frame),
            Err(e) => ScannerEvent::Disconnected(e.to_string()),
        };
        let stop = matches!(event, ScannerEvent::Disconnected(_));
        if events.send(event).await.is_err() || stop {
            return;
        }
    }
}

/// Opens a serial port with the scanner profile's line settings.
pub fn open_serial(
    path: &str,
    profile: &ScannerProfile,
) -> serialport::Result<serialport::TTYPort> {
    let serial = &profile.serial;
    let data_bits = match serial.data_bits {
        7 => serialport::DataBits::Seven,
        _ => serialport::DataBits::Eight,
    };
    let parity = match serial.parity {
        Parity::None => serialport::Parity::None,
        Parity::Even => serialport::Parity::Even,
        Parity::Odd => serialport::Parity::Odd,
    };
    let stop_bits = match serial.stop_bits {
        2 => serialport::StopBits::Two,
        _ => serialport::StopBits::One,
    };
    serialport::new(path, serial.baud)
        .data_bits(data_bits)
        .parity(parity)
        .stop_bits(stop_bits)
        .flow_control(serialport::FlowControl::None)
        .timeout(Duration::from_millis(200))
        .open_native()
}

/// Runs the scanner on a serial port path for ever: opens it, reads frames, reports a
/// disconnect, reopens it every second until it is back.
pub async fn run_serial_scanner(
    path: String,
    profile: ScannerProfile,
    events: mpsc::Sender<ScannerEvent>,
) {
    let mut reported_missing = false;
    loop {
        let opened = {
            let path = path.clone();
            let profile = profile.clone();
            tokio::task::spawn_blocking(move || open_serial(&path, &profile)).await
        };
        match opened {
            Ok(Ok(port)) => {
                reported_missing = false;
                if events
                    .send(ScannerEvent::Connected(format!("scanner on {path}")))
                    .await
                    .is_err()
                {
                    return;
                }
                let reason = read_port(port, ScanFrameCodec::from_profile(&profile), &events).await;
                if events
                    .send(ScannerEvent::Disconnected(format!(
                        "scanner on {path} lost ({reason}); waiting for it to come back"
                    )))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(Err(e)) => {
                if !reported_missing {
                    reported_missing = true;
                    if events
                        .send(ScannerEvent::Disconnected(format!(
                            "scanner on {path} cannot be opened ({e}); retrying"
                        )))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            Err(_) => return,
        }
        if events.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Reads one opened port until it fails; returns why it stopped.
pub async fn read_port<P: Read + Send + 'static>(
    port: P,
    codec: ScanFrameCodec,
    events: &mpsc::Sender<ScannerEvent>,
) -> String {
    let (reader, writer) = tokio::io::duplex(4096);
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    let pump_task = tokio::task::spawn_blocking(move || blocking_pump(port, writer, &thread_stop));
    scan_frames(reader, codec, events).await;
    stop.store(true, Ordering::Relaxed);
    pump_task
        .await
        .unwrap_or_else(|e| format!("reader thread failed: {e}"))
}

fn blocking_pump(
    mut port: impl Read,
    mut writer: tokio::io::DuplexStream,
    stop: &AtomicBool,
) -> String {
    let handle = tokio::runtime::Handle::current();
    let mut buf = [0u8; 512];
    loop {
        if stop.load(Ordering::Relaxed) {
            return "stopped".into();
        }
        match port.read(&mut buf) {
            Ok(0) => return "end of stream".into(),
            Ok(n) => {
                if let Err(e) = handle.block_on(writer.write_all(&buf[..n])) {
                    return e.to_string();
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::TimedOut
                    || e.kind() == std::io::ErrorKind::Interrupted
                    || e.kind() == std::io::ErrorKind::WouldBlock =>
            {
                continue
            }
            Err(e) => return e.to_string(),
        }
    }
}

/// A virtual scanner for `--simulate`: a pseudo-terminal pair. Whatever is written to
/// [`VirtualScanner::path`] (the pty's slave side, e.g. `/dev/pts/7`) is read by the lane from
/// the master side.
pub struct VirtualScanner {
    /// The path to write scans to.
    pub path: String,
    master: Option<serialport::TTYPort>,
    // Held open so the pty stays up between writers.
    _slave: serialport::TTYPort,
}

impl VirtualScanner {
    /// Creates the pseudo-terminal pair.
    pub fn create() -> serialport::Result<Self> {
        let (master, mut slave) = serialport::TTYPort::pair()?;
        let _ = slave.set_exclusive(false);
        let path = serialport::SerialPort::name(&slave).unwrap_or_default();
        Ok(Self {
            path,
            master: Some(master),
            _slave: slave,
        })
    }

    /// Reads the virtual scanner until the lane stops (never disconnects).
    pub async fn run(mut self, profile: ScannerProfile, events: mpsc::Sender<ScannerEvent>) {
        let Some(master) = self.master.take() else {
            return;
        };
        let _ = events
            .send(ScannerEvent::Connected(format!(
                "virtual scanner: write scans to {}",
                self.path
            )))
            .await;
        let reason = read_port(master, ScanFrameCodec::from_profile(&profile), &events).await;
        let _ = events
            .send(ScannerEvent::Disconnected(format!(
                "virtual scanner stopped: {reason}"
            )))
            .await;
        // Keep the slave open until here.
        drop(self);
    }
}

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
#[error("printer offline: {0}")]
pub struct PrintError(pub String);

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

    /// Sends bytes to the printer.
    pub async fn print(&self, bytes: &[u8]) -> Result<(), PrintError> {
        let err = |e: std::io::Error| PrintError(e.to_string());
        match self {
            Self::File { path, decoded_copy } => {
                append(path, bytes).await.map_err(err)?;
                if *decoded_copy {
                    let mut txt = path.clone().into_os_string();
                    txt.push(".txt");
                    let mut text = decode_text(bytes);
                    text.push_str("\n==================== ✂ ====================\n");
                    append(Path::new(&txt), text.as_bytes())
                        .await
                        .map_err(err)?;
                }
                Ok(())
            }
            Self::Tcp(addr) => {
                let mut stream = tokio::time::timeout(
                    Duration::from_secs(3),
                    tokio::net::TcpStream::connect(addr),
                )
                .await
                .map_err(|_| PrintError(format!("{addr} did not answer")))?
                .map_err(err)?;
                tokio::time::timeout(Duration::from_secs(10), async {
                    stream.write_all(bytes).await?;
                    stream.flush().await?;
                    stream.shutdown().await
                })
                .await
                .map_err(|_| PrintError(format!("{addr} stopped accepting data")))?
                .map_err(err)
            }
            Self::Serial { path, baud } => {
                let path = path.clone();
                let baud = *baud;
                let bytes = bytes.to_vec();
                tokio::task::spawn_blocking(move || -> Result<(), PrintError> {
                    let mut port = serialport::new(&path, baud)
                        .timeout(Duration::from_secs(5))
                        .open_native()
                        .map_err(|e| PrintError(e.to_string()))?;
                    port.write_all(&bytes)
                        .map_err(|e| PrintError(e.to_string()))?;
                    port.flush().map_err(|e| PrintError(e.to_string()))
                })
                .await
                .map_err(|e| PrintError(e.to_string()))?
            }
        }
    }
}

async fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    file.write_all(bytes).await?;
    file.flush().await
}
