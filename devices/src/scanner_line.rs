//! The barcode scanner on its line (docs/DESIGN.md §8): a real serial port through the `serialport`
//! crate, reopened when it comes back after an unplug, or any byte stream.
//!
//! The scanner is read by a blocking thread (serial ports are blocking devices) that copies the
//! bytes into an in-memory pipe; the reader reads that pipe as an [`tokio::io::AsyncRead`]
//! through the [`ScanFrameCodec`], so the framing is the same code for a port, a pty or a test
//! buffer ([`scan_frames`]). A port that fails (unplugged) is reported and reopened every second
//! until it is back ([`run_serial_scanner`]). The pty-backed scanner of demos and tests is
//! [`crate::virtual_scanner`].

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use retail_domain::profiles::{Parity, ScannerProfile};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;

    use super::*;

    async fn next(rx: &mut mpsc::Receiver<ScannerEvent>) -> ScannerEvent {
        tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("scanner event")
            .expect("open")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serial_scanner_unplugged_and_plugged_back() {
        let profile = ScannerProfile::from_toml_str(include_str!(
            "../../firmware-config/profiles/scanners/newland-nls-hr22-rs232.toml"
        ))
        .expect("profile");
        let dir = tempfile::tempdir().expect("dir");
        let link = dir.path().join("ttyScanner");
        let plug = |link: &std::path::Path| {
            let (master, slave) = serialport::TTYPort::pair().expect("pty");
            let path = serialport::SerialPort::name(&slave).expect("name");
            let _ = std::fs::remove_file(link);
            std::os::unix::fs::symlink(&path, link).expect("symlink");
            drop(slave);
            master
        };
        let (tx, mut rx) = mpsc::channel(64);

        // Not plugged in yet: reported once, retried.
        let task = tokio::spawn(run_serial_scanner(link.display().to_string(), profile, tx));
        let event = next(&mut rx).await;
        assert!(
            matches!(&event, ScannerEvent::Disconnected(m) if m.contains("cannot be opened")),
            "{event:?}"
        );
        let mut master = plug(&link);
        let event = next(&mut rx).await;
        assert!(matches!(event, ScannerEvent::Connected(_)), "{event:?}");
        master.write_all(b"6901234567892\r").expect("write");
        assert_eq!(
            next(&mut rx).await,
            ScannerEvent::Frame(ScanFrame::Code {
                text: "6901234567892".into(),
                symbology: None
            })
        );
        // Half a frame, then unplugged.
        master.write_all(b"69012").expect("write");
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(master);
        let mut saw_disconnect = false;
        for _ in 0..3 {
            match next(&mut rx).await {
                ScannerEvent::Disconnected(m) => {
                    assert!(m.contains("lost"), "{m}");
                    saw_disconnect = true;
                    break;
                }
                ScannerEvent::Frame(ScanFrame::Garbled { reason }) => {
                    assert!(reason.contains("incomplete"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(saw_disconnect);
        // Plugged back (a new pty behind the same name): read again.
        let mut master = plug(&link);
        loop {
            match next(&mut rx).await {
                ScannerEvent::Connected(_) => break,
                ScannerEvent::Disconnected(_) => continue,
                other => panic!("{other:?}"),
            }
        }
        master
            .write_all(b"MC1.x\r\n4006381333931\n")
            .expect("write");
        let mut texts = Vec::new();
        while texts.len() < 2 {
            if let ScannerEvent::Frame(ScanFrame::Code { text, .. }) = next(&mut rx).await {
                texts.push(text);
            }
        }
        assert_eq!(texts, ["MC1.x", "4006381333931"]);
        task.abort();
    }
}
