//! A virtual ESC/POS printer for demos and tests: it speaks the real-time status protocol
//! (answers each `DLE EOT n` with the byte of the status it is set to, as a real printer does —
//! wherever the sequence appears in the data) and records every other byte it receives (the
//! receipts). [`VirtualPrinter::start`] listens on TCP like a network printer on port 9100;
//! [`VirtualPrinter::serve`] serves any byte stream (a pseudo-terminal bridged with
//! [`crate::serial::serial_stream`], a test pipe).
//!
//! Unlike a real printer it never prints: "paper out" only changes what it answers. Set it
//! [silent](VirtualPrinter::set_answering) to stand for a printer that takes data but does not
//! answer status requests (a write-only interface, a hung printer).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::printer_status::{PrinterStatus, StatusRequest, DLE, EOT};

#[derive(Debug)]
struct State {
    status: PrinterStatus,
    answering: bool,
    received: Vec<u8>,
    status_requests: usize,
}

/// A virtual printer (see the module docs). Clones share the same printer.
#[derive(Clone, Debug)]
pub struct VirtualPrinter {
    state: Arc<Mutex<State>>,
    addr: Option<SocketAddr>,
}

impl Default for VirtualPrinter {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtualPrinter {
    /// A ready printer (online, paper in, answering) without a listener; see [`Self::serve`].
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                status: PrinterStatus::READY,
                answering: true,
                received: Vec::new(),
                status_requests: 0,
            })),
            addr: None,
        }
    }

    /// A ready printer listening on `127.0.0.1` (a free port); each connection is served until
    /// the other side closes it. The listener lives as long as the runtime.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let mut printer = Self::new();
        printer.addr = Some(listener.local_addr()?);
        let served = printer.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(served.clone().serve(stream));
            }
        });
        Ok(printer)
    }

    /// The TCP address (`None` for a printer made with [`Self::new`]).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut state)
    }

    /// Sets the status it reports (e.g. [`PrinterStatus::paper_out`]; back to
    /// [`PrinterStatus::READY`] when the paper is loaded).
    pub fn set_status(&self, status: PrinterStatus) {
        self.with(|s| s.status = status);
    }

    /// Whether it answers status requests (`false`: it takes them and stays silent).
    pub fn set_answering(&self, answering: bool) {
        self.with(|s| s.answering = answering);
    }

    /// Every byte received except the status requests: the receipts, in order.
    pub fn received(&self) -> Vec<u8> {
        self.with(|s| s.received.clone())
    }

    /// How many `DLE EOT n` requests it has seen.
    pub fn status_requests(&self) -> usize {
        self.with(|s| s.status_requests)
    }

    /// Serves one connection until it closes (or fails).
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(self, mut stream: S) {
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            let (data, answers, used) = self.take(&pending);
            pending.drain(..used);
            self.with(|s| s.received.extend_from_slice(&data));
            if !answers.is_empty()
                && (stream.write_all(&answers).await.is_err() || stream.flush().await.is_err())
            {
                break;
            }
        }
        // A request cut off by the end of the stream was data after all.
        self.with(|s| s.received.extend_from_slice(&pending));
    }

    /// Splits `bytes` into data and status requests: (data, answers to send, bytes used). A
    /// `DLE` too close to the end to tell is left for the next read.
    fn take(&self, bytes: &[u8]) -> (Vec<u8>, Vec<u8>, usize) {
        let mut data = Vec::new();
        let mut answers = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == DLE {
                let (Some(&second), Some(&n)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
                    break;
                };
                if let (EOT, Some(request)) = (second, StatusRequest::from_n(n)) {
                    self.with(|s| {
                        s.status_requests += 1;
                        if s.answering {
                            answers.push(s.status.answer(request));
                        }
                    });
                    i += 3;
                    continue;
                }
            }
            data.push(bytes[i]);
            i += 1;
        }
        (data, answers, i)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_status_requests_and_records_the_rest() {
        let printer = VirtualPrinter::new();
        let (mut host, device) = tokio::io::duplex(1024);
        let task = tokio::spawn(printer.clone().serve(device));
        // Data, a request split across writes, more data.
        host.write_all(b"\x1b@hello\x10").await.unwrap();
        host.write_all(b"\x04").await.unwrap();
        host.write_all(b"\x04 world\x10\x10\x04\x01").await.unwrap();
        let mut answers = [0u8; 2];
        host.read_exact(&mut answers).await.unwrap();
        assert_eq!(answers, [0x12, 0x12], "ready: n = 4, then n = 1");
        printer.set_status(PrinterStatus::paper_out());
        host.write_all(&StatusRequest::RollPaper.bytes())
            .await
            .unwrap();
        host.read_exact(&mut answers[..1]).await.unwrap();
        assert_eq!(answers[0], 0x7E);
        // DLE EOT 9 is not a status request: data.
        host.write_all(b"\x10\x04\x09").await.unwrap();
        drop(host);
        task.await.unwrap();
        assert_eq!(printer.received(), b"\x1b@hello world\x10\x10\x04\x09");
        assert_eq!(printer.status_requests(), 3);
    }

    #[tokio::test]
    async fn a_silent_printer_takes_requests_without_answering() {
        let printer = VirtualPrinter::new();
        printer.set_answering(false);
        let (mut host, device) = tokio::io::duplex(1024);
        let task = tokio::spawn(printer.clone().serve(device));
        host.write_all(b"\x10\x04\x01receipt").await.unwrap();
        drop(host);
        task.await.unwrap();
        assert_eq!(printer.received(), b"receipt");
        assert_eq!(printer.status_requests(), 1);
    }
}
