//! A virtual barcode scanner for demos and tests (`--simulate`): a pseudo-terminal pair whose
//! slave side stands in for the scanner's serial port. Whatever is written to
//! [`VirtualScanner::path`] reaches the reader as scanner frames ([`crate::scanner_line`]).

use tokio::sync::mpsc;

use retail_domain::profiles::ScannerProfile;

use crate::scanner::ScanFrameCodec;
use crate::scanner_line::{read_port, ScannerEvent};

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
