//! The socket under [`super::Remote`] in the browser: a `web_sys::WebSocket`
//! (binary type `arraybuffer`) whose open, message, error and close events
//! feed a channel that [`Transport::exchange`] awaits.
//!
//! A browser tells a page nothing about why a WebSocket failed to open (a
//! refused connection, a refused `Origin` and a wrong port all read as one
//! `error` event, then `close` with code 1006), so the error names the
//! address and the two usual causes.

use std::future::poll_fn;
use std::pin::Pin;

use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures_core::Stream;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, ErrorEvent, MessageEvent, WebSocket};

use super::protocol::MAX_REPLY_BYTES;
use super::transport::{check_request, check_url, closed, Frame};
use crate::{Error, Result};

/// What the socket's callbacks report.
enum Event {
    Open,
    Message(Frame),
    Error,
    Close { code: u16, reason: String },
}

/// One open WebSocket to `gpt2 serve`.
pub struct Transport {
    socket: WebSocket,
    events: UnboundedReceiver<Event>,
    url: String,
    /// Why the connection ended, once it has: every later exchange says so.
    ended: Option<String>,
    /// Requests sent whose answer has not been read: more than the current
    /// one when a caller stopped awaiting (a dropped future); their answers
    /// are read and dropped first, so each request gets its own.
    unanswered: usize,
    // The callbacks live as long as the socket that calls them.
    _on_open: Closure<dyn FnMut(JsValue)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Transport {
    /// Opens `url` (`ws://HOST:PORT`) and waits until it is open.
    pub async fn connect(url: &str) -> Result<Transport> {
        check_url(url)?;
        let socket = WebSocket::new(url).map_err(|e| {
            Error::input(format!(
                "cannot open {url}: {}; give the address `gpt2 serve` printed (ws://HOST:PORT)",
                js_text(&e)
            ))
        })?;
        socket.set_binary_type(BinaryType::Arraybuffer);
        let (tx, events) = unbounded();
        let on_open = callback(&tx, |_: JsValue| Some(Event::Open));
        let on_message = callback(&tx, |e: MessageEvent| message(e.data()).map(Event::Message));
        let on_error = callback(&tx, |_: ErrorEvent| Some(Event::Error));
        let on_close = callback(&tx, |e: CloseEvent| {
            Some(Event::Close {
                code: e.code(),
                reason: e.reason(),
            })
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut transport = Transport {
            socket,
            events,
            url: url.to_string(),
            ended: None,
            unanswered: 0,
            _on_open: on_open,
            _on_message: on_message,
            _on_error: on_error,
            _on_close: on_close,
        };
        match transport.next().await {
            Some(Event::Open) => Ok(transport),
            _ => Err(Error::input(format!(
                "cannot open {url} (the browser gives no reason): is `gpt2 serve` running \
                 there, and does its --allow-origin allow this page's origin ({})?",
                page_origin()
            ))),
        }
    }

    /// Sends one text frame and waits for the answer.
    pub async fn exchange(&mut self, text: String) -> Result<Frame> {
        if let Some(why) = &self.ended {
            return Err(closed(&self.url, why));
        }
        check_request(&text)?;
        if self.socket.ready_state() != WebSocket::OPEN {
            return Err(self.end(" (it is no longer open)".into()));
        }
        self.socket.send_with_str(&text).map_err(|e| {
            Error::Backend(format!(
                "the connection to gpt2 serve at {} was lost: {}",
                self.url,
                js_text(&e)
            ))
        })?;
        self.unanswered += 1;
        loop {
            match self.next().await {
                Some(Event::Message(Frame::Binary(b))) if b.len() > MAX_REPLY_BYTES + 1024 => {
                    return Err(self.end(format!(
                        ": a reply of {} bytes is more than this client reads ({MAX_REPLY_BYTES})",
                        b.len()
                    )));
                }
                Some(Event::Message(frame)) => {
                    self.unanswered -= 1;
                    if self.unanswered == 0 {
                        return Ok(frame);
                    }
                }
                // The close event that follows an error says what happened.
                Some(Event::Open | Event::Error) => continue,
                Some(Event::Close { code, reason }) => {
                    return Err(self.end(close_reason(code, &reason)))
                }
                None => return Err(self.end(" (the socket is gone)".into())),
            }
        }
    }

    /// Records why the connection ended and says so.
    fn end(&mut self, why: String) -> Error {
        let _ = self.socket.close();
        let error = closed(&self.url, &why);
        self.ended = Some(why);
        error
    }

    async fn next(&mut self) -> Option<Event> {
        poll_fn(|cx| Pin::new(&mut self.events).poll_next(cx)).await
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onerror(None);
        self.socket.set_onclose(None);
        let _ = self.socket.close();
    }
}

/// A callback that sends what `event` makes of its argument into the channel.
fn callback<A: wasm_bindgen::convert::FromWasmAbi + 'static>(
    tx: &UnboundedSender<Event>,
    event: impl Fn(A) -> Option<Event> + 'static,
) -> Closure<dyn FnMut(A)> {
    let tx = tx.clone();
    Closure::<dyn FnMut(A)>::new(move |a: A| {
        if let Some(e) = event(a) {
            // Nobody listens once the transport is dropped: nothing to do.
            let _ = tx.unbounded_send(e);
        }
    })
}

/// A message's data: a string, or an `ArrayBuffer` (the binary type set).
fn message(data: JsValue) -> Option<Frame> {
    if let Some(text) = data.as_string() {
        return Some(Frame::Text(text));
    }
    let buffer = data.dyn_into::<js_sys::ArrayBuffer>().ok()?;
    Some(Frame::Binary(js_sys::Uint8Array::new(&buffer).to_vec()))
}

/// What a close event says, as [`closed`]'s `why`.
fn close_reason(code: u16, reason: &str) -> String {
    match (code, reason) {
        (_, r) if !r.is_empty() => format!(": {r}"),
        (1006, _) => {
            " without a word (code 1006: the server stopped, or the network dropped)".to_string()
        }
        (code, _) => format!(" (code {code})"),
    }
}

/// This page's origin, for the error that says `--allow-origin` must allow it.
fn page_origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_else(|| "this page's origin".into())
}

fn js_text(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}
