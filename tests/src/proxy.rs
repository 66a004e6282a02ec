//! A TCP forwarder between a device and the server that can cut the device off the network
//! (the listener closes and every open connection is dropped: connections are refused, as with
//! a pulled cable or a dead switch) and let it back on the same address.

use std::net::SocketAddr;
use std::sync::Mutex;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A switchable forwarder to one target address.
pub struct Proxy {
    /// Where devices connect.
    pub addr: SocketAddr,
    target: SocketAddr,
    running: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    /// Starts forwarding from a free port on 127.0.0.1 to `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the proxy")?;
        let proxy = Proxy {
            addr: listener.local_addr()?,
            target,
            running: Mutex::new(None),
        };
        proxy.serve(listener);
        Ok(proxy)
    }

    /// `http://addr` (for a device's `server_url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target;
        let task = tokio::spawn(async move {
            // Dropped with this task: every forwarded connection ends with it.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        connections.spawn(async move {
                            if let Ok(mut outbound) = TcpStream::connect(target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        if let Ok(mut running) = self.running.lock() {
            *running = Some(task);
        }
    }

    /// Cuts the network: closes the listener and drops every open connection.
    pub async fn go_offline(&self) {
        let task = self.running.lock().ok().and_then(|mut r| r.take());
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Restores the network on the same address.
    pub async fn go_online(&self) -> anyhow::Result<()> {
        if self.running.lock().map(|r| r.is_some()).unwrap_or(false) {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr)
            .await
            .with_context(|| format!("binding the proxy again on {}", self.addr))?;
        self.serve(listener);
        Ok(())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.running.lock().ok().and_then(|mut r| r.take()) {
            task.abort();
        }
    }
}
