//! The socket under [`super::Remote`]: one request sent, its answer awaited.
//! Natively a blocking tungstenite WebSocket (`transport_native.rs`); in the
//! browser a `web_sys::WebSocket` (`transport_web.rs`), behind the same calls
//! and with the same answers and errors.

use super::protocol::MAX_REQUEST_BYTES;
use crate::{Error, Result};

#[cfg(not(target_arch = "wasm32"))]
pub use super::transport_native::Transport;
#[cfg(target_arch = "wasm32")]
pub use super::transport_web::Transport;

/// What came back for a request: a JSON text or a binary frame.
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// Refuses an address that is not a WebSocket's, before opening anything
/// (a browser would read `localhost:8765` as a path on this page's host).
pub fn check_url(url: &str) -> Result<()> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("ws://") || lower.starts_with("wss://")) {
        return Err(Error::input(format!(
            "cannot open {url:?}: give the address `gpt2 serve` printed (ws://HOST:PORT)"
        )));
    }
    Ok(())
}

/// Refuses a request larger than the server reads, before it is sent.
pub fn check_request(text: &str) -> Result<()> {
    if text.len() > MAX_REQUEST_BYTES {
        return Err(Error::input(format!(
            "a request of {} bytes is more than gpt2 serve reads ({MAX_REQUEST_BYTES}): \
             send fewer tokens or rows at once",
            text.len()
        )));
    }
    Ok(())
}

/// The server closed the connection (`why`: ": its reason", or empty).
pub fn closed(url: &str, why: &str) -> Error {
    Error::Backend(format!("gpt2 serve at {url} closed the connection{why}"))
}
