//! Serial ports (the `serialport` crate) as async byte streams.
//!
//! `serialport` is blocking, so an opened port is served by two threads (reader and writer)
//! bridged to a [`tokio::io::DuplexStream`]: the gate code stays generic over
//! `AsyncRead`/`AsyncWrite`, and a pseudo-terminal's slave path opens exactly like a real
//! `/dev/ttyUSB0`.

use std::io::{Read, Write};
use std::time::Duration;

use anyhow::Context;
use retail_domain::profiles::{FlowControl, Parity, SerialSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Opens `path` with the profile's settings; returns the async end.
pub fn open(path: &str, settings: &SerialSettings) -> anyhow::Result<DuplexStream> {
    let port = serialport::new(path, settings.baud)
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
        .timeout(Duration::from_millis(100))
        .open()
        .with_context(|| format!("opening serial port {path}"))?;
    let mut reader = port
        .try_clone()
        .with_context(|| format!("cloning serial port {path}"))?;
    let mut writer = port;
    let (ours, theirs) = tokio::io::duplex(4096);
    let (mut from_app, mut to_app) = tokio::io::split(theirs);
    let runtime = tokio::runtime::Handle::current();
    let name = path.to_owned();
    std::thread::Builder::new()
        .name(format!("serial-read {path}"))
        .spawn(move || {
            let mut buf = [0u8; 512];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if runtime.block_on(to_app.write_all(&buf[..n])).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::warn!(port = %name, error = %e, "serial read failed");
                        break;
                    }
                }
            }
        })
        .context("starting the serial reader")?;
    let runtime = tokio::runtime::Handle::current();
    let name = path.to_owned();
    std::thread::Builder::new()
        .name(format!("serial-write {path}"))
        .spawn(move || {
            let mut buf = [0u8; 512];
            loop {
                match runtime.block_on(from_app.read(&mut buf)) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Err(e) = writer.write_all(&buf[..n]).and_then(|()| writer.flush()) {
                            tracing::warn!(port = %name, error = %e, "serial write failed");
                            break;
                        }
                    }
                }
            }
        })
        .context("starting the serial writer")?;
    Ok(ours)
}
