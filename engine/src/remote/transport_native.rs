//! The socket under [`super::Remote`], natively: a blocking tungstenite
//! WebSocket. The strategies await one pass at a time, so blocking inside
//! the async call costs nothing.

use std::net::TcpStream;

use tungstenite::protocol::WebSocketConfig;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::protocol::MAX_REPLY_BYTES;
use super::transport::{check_request, check_url, closed, Frame};
use crate::{Error, Result};

/// One open WebSocket to `gpt2 serve`.
pub struct Transport {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    url: String,
}

impl Transport {
    /// Opens `url` (`ws://HOST:PORT`).
    pub async fn connect(url: &str) -> Result<Transport> {
        check_url(url)?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_REPLY_BYTES + 1024))
            .max_frame_size(Some(MAX_REPLY_BYTES + 1024));
        let (socket, _) =
            tungstenite::client::connect_with_config(url, Some(config), 0).map_err(|e| {
                Error::input(format!(
                    "cannot open {url}: {e}; is `gpt2 serve` running there?"
                ))
            })?;
        if let MaybeTlsStream::Plain(tcp) = socket.get_ref() {
            // Requests are small and answered one at a time: send them at once.
            let _ = tcp.set_nodelay(true);
        }
        Ok(Transport {
            socket,
            url: url.to_string(),
        })
    }

    /// Sends one text frame and waits for the answer.
    pub async fn exchange(&mut self, text: String) -> Result<Frame> {
        check_request(&text)?;
        self.socket
            .send(Message::text(text))
            .map_err(|e| self.lost(e))?;
        loop {
            match self.socket.read().map_err(|e| self.lost(e))? {
                Message::Text(t) => return Ok(Frame::Text(t.as_str().to_string())),
                Message::Binary(b) => return Ok(Frame::Binary(b.to_vec())),
                Message::Close(frame) => {
                    let why = frame.map_or(String::new(), |f| format!(": {}", f.reason));
                    return Err(closed(&self.url, &why));
                }
                _ => continue,
            }
        }
    }

    fn lost(&self, e: tungstenite::Error) -> Error {
        Error::Backend(format!(
            "the connection to gpt2 serve at {} was lost: {e}",
            self.url
        ))
    }
}
