//! What the fake providers (WeChat Pay, Alipay, Aliyun SMS, WeChat messages, Pricer ESLs) share:
//! a free port on 127.0.0.1 bound before the fake is made (its URL names the port), and its
//! router served there on the current Tokio runtime for as long as the runtime (the test) lives.

use std::net::SocketAddr;

/// Binds a free port on 127.0.0.1: its address, and the listener to [`serve`] on.
///
/// # Panics
/// Outside a Tokio runtime, or when no port can be bound.
pub(crate) fn bind() -> (SocketAddr, tokio::net::TcpListener) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("the fake's address");
    let listener = tokio::net::TcpListener::from_std(listener).expect("a Tokio listener");
    (addr, listener)
}

/// Serves `app` on `listener` in a task of the current runtime.
pub(crate) fn serve(listener: tokio::net::TcpListener, app: axum::Router) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}
