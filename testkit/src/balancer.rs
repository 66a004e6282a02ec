//! A round-robin TCP load balancer in front of several server instances (the scenario of
//! several instances on one database): each accepted connection goes to the next instance in
//! turn; an instance that refuses the connection (stopped or killed) is skipped for the next.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running balancer; dropping it stops accepting (open connections end with their peers).
pub struct RoundRobin {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Connections forwarded to each target, in the order given.
    pub forwarded: Arc<Vec<AtomicUsize>>,
    task: JoinHandle<()>,
}

impl RoundRobin {
    /// Starts balancing from a free port on 127.0.0.1 over `targets`.
    pub async fn start(targets: Vec<SocketAddr>) -> anyhow::Result<RoundRobin> {
        anyhow::ensure!(!targets.is_empty(), "a balancer needs a target");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the balancer")?;
        let addr = listener.local_addr()?;
        let forwarded: Arc<Vec<AtomicUsize>> =
            Arc::new(targets.iter().map(|_| AtomicUsize::new(0)).collect());
        let counts = forwarded.clone();
        let next = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let (targets, counts, next) = (targets.clone(), counts.clone(), next.clone());
                tokio::spawn(async move {
                    let first = next.fetch_add(1, Ordering::Relaxed);
                    for i in 0..targets.len() {
                        let at = (first + i) % targets.len();
                        if let Ok(mut outbound) = TcpStream::connect(targets[at]).await {
                            counts[at].fetch_add(1, Ordering::Relaxed);
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                });
            }
        });
        Ok(RoundRobin {
            addr,
            forwarded,
            task,
        })
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        self.task.abort();
    }
}
