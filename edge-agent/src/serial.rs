//! Serial ports (the `serialport` crate) as async byte streams.
//!
//! `serialport` is blocking, so an opened port is served by two threads (reader and writer)
//! bridged to a [`tokio::io::DuplexStream`] — the lane's bridge,
//! [`retail_devices::serial::serial_stream`]: the gate code stays generic over
//! `AsyncRead`/`AsyncWrite`, and a pseudo-terminal's slave path opens exactly like a real
//! `/dev/ttyUSB0`. The threads end when the stream is dropped.

use anyhow::Context;
use retail_domain::profiles::SerialSettings;
use tokio::io::DuplexStream;

/// Opens `path` with the profile's settings; returns the async end.
pub fn open(path: &str, settings: &SerialSettings) -> anyhow::Result<DuplexStream> {
    let port = retail_devices::serial::open_serial_port(path, settings)
        .with_context(|| format!("opening serial port {path}"))?;
    let (stream, _threads) = retail_devices::serial::serial_stream(Box::new(port), path)
        .with_context(|| format!("starting the threads of serial port {path}"))?;
    Ok(stream)
}
