//! Serial ports (the `serialport` crate) as async byte streams (docs/DESIGN.md §8).
//!
//! `serialport` is blocking, so an opened port is served by two threads (reader and writer)
//! bridged to a [`tokio::io::DuplexStream`] ([`serial_stream`]): the code over the stream (the
//! lane's printer, the exit gate's scanner and relay) stays generic over
//! `AsyncRead`/`AsyncWrite`, and a pseudo-terminal's slave path opens exactly like a real
//! `/dev/ttyUSB0`. [`open_serial_port`] opens a port with a profile's line settings;
//! [`open_stream`] does both. The threads end when the stream is dropped.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use retail_domain::profiles::{FlowControl, Parity, SerialSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Why a serial line could not be opened as a stream.
#[derive(Debug, thiserror::Error)]
pub enum SerialError {
    /// The port could not be opened (missing, busy, refused settings).
    #[error("opening serial port {path}")]
    Open {
        /// The port path.
        path: String,
        /// What `serialport` said.
        #[source]
        source: serialport::Error,
    },
    /// The reader or writer thread of the port could not be started.
    #[error("starting the threads of serial port {path}")]
    Threads {
        /// The port path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Opens `path` with the profile's line settings ([`open_serial_port`]) and returns the async end
/// of its [`serial_stream`]; the port's threads end when the stream is dropped. Call from within
/// a Tokio runtime.
pub fn open_stream(path: &str, settings: &SerialSettings) -> Result<DuplexStream, SerialError> {
    let port = open_serial_port(path, settings).map_err(|source| SerialError::Open {
        path: path.to_owned(),
        source,
    })?;
    let (stream, _threads) =
        serial_stream(Box::new(port), path).map_err(|source| SerialError::Threads {
            path: path.to_owned(),
            source,
        })?;
    Ok(stream)
}

/// Opens a serial port (exclusively) with validated line settings (8N1 and the like, flow
/// control) and a short read timeout, as [`serial_stream`] wants it.
pub fn open_serial_port(
    path: &str,
    settings: &SerialSettings,
) -> serialport::Result<serialport::TTYPort> {
    serialport::new(path, settings.baud)
        .data_bits(match settings.data_bits {
            5 => serialport::DataBits::Five,
            6 => serialport::DataBits::Six,
            7 => serialport::DataBits::Seven,
            _ => serialport::DataBits::Eight,
        })
        .parity(match settings.parity {
            Parity::Odd => serialport::Parity::Odd,
            Parity::Even => serialport::Parity::Even,
            Parity::None => serialport::Parity::None,
        })
        .stop_bits(if settings.stop_bits == 2 {
            serialport::StopBits::Two
        } else {
            serialport::StopBits::One
        })
        .flow_control(match settings.flow_control {
            FlowControl::RtsCts => serialport::FlowControl::Hardware,
            FlowControl::XonXoff => serialport::FlowControl::Software,
            FlowControl::None => serialport::FlowControl::None,
        })
        .timeout(SERIAL_POLL)
        .open_native()
}

/// How often the serial reader thread looks up from a quiet line.
const SERIAL_POLL: Duration = Duration::from_millis(100);

/// The two threads serving a serial port opened by [`serial_stream`]. They end when the async
/// end is dropped (or the port fails); [`SerialLine::close`] waits for that, so the port is
/// closed (and may be opened again) when it returns.
pub struct SerialLine {
    reader: std::thread::JoinHandle<()>,
    writer: std::thread::JoinHandle<std::io::Result<()>>,
}

impl SerialLine {
    /// Waits until both threads have ended (drop the stream first); answers the writer's error,
    /// if writing to the port failed.
    pub async fn close(self) -> std::io::Result<()> {
        tokio::task::spawn_blocking(move || {
            let _ = self.reader.join();
            self.writer
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the serial writer panicked")))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
    }
}

/// A serial port as an async byte stream: `serialport` is blocking, so a reader and a writer
/// thread bridge the port to a [`tokio::io::DuplexStream`]. Code over the stream stays generic
/// over `AsyncRead`/`AsyncWrite` (the same for a port, a pseudo-terminal and a test pipe). Call
/// from within a Tokio runtime.
pub fn serial_stream(
    port: Box<dyn serialport::SerialPort>,
    name: &str,
) -> std::io::Result<(tokio::io::DuplexStream, SerialLine)> {
    let mut port = port;
    port.set_timeout(SERIAL_POLL)?;
    let mut reader = port.try_clone()?;
    let mut writer = port;
    let (ours, theirs) = tokio::io::duplex(4096);
    let (mut from_app, mut to_app) = tokio::io::split(theirs);
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Handle::current();
    let reader_stop = stop.clone();
    let reader_name = name.to_owned();
    let reader = std::thread::Builder::new()
        .name(format!("serial-read {name}"))
        .spawn(move || {
            let mut buf = [0u8; 512];
            while !reader_stop.load(Ordering::Relaxed) {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if runtime.block_on(to_app.write_all(&buf[..n])).is_err() {
                            break;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => {
                        tracing::warn!(port = %reader_name, error = %e, "serial read failed");
                        break;
                    }
                }
            }
        })?;
    let runtime = tokio::runtime::Handle::current();
    let writer_name = name.to_owned();
    let writer = std::thread::Builder::new()
        .name(format!("serial-write {name}"))
        .spawn(move || {
            let mut buf = [0u8; 512];
            let result = loop {
                match runtime.block_on(from_app.read(&mut buf)) {
                    Ok(0) | Err(_) => break Ok(()),
                    Ok(n) => {
                        if let Err(e) = writer.write_all(&buf[..n]).and_then(|()| writer.flush()) {
                            tracing::warn!(port = %writer_name, error = %e, "serial write failed");
                            break Err(e);
                        }
                    }
                }
            };
            // The app's end is gone (or the port failed): the reader stops too.
            stop.store(true, Ordering::Relaxed);
            result
        })?;
    Ok((ours, SerialLine { reader, writer }))
}
