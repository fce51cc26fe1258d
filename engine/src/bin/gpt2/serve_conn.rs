//! One connection to `gpt2 serve`, on a thread of its own: the handshake
//! (the `Origin` checked), the token (within [`AUTH_TIMEOUT_SECS`]), then
//! requests read, handed to the model thread and answered, until the client
//! closes or vanishes. Whatever goes wrong ends this connection only, with an
//! error to the client where it still listens and a line on stderr.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::time::{Duration, Instant};

use engine::remote::protocol::{
    encode_hidden, encode_logits, encode_tokenizer, encode_top, ErrorKind, Reply, Request,
    ServerLimits, AUTH_TIMEOUT_SECS, MAX_REQUEST_BYTES, VERSION,
};
use tungstenite::handshake::server::{ErrorResponse, Request as HttpRequest, Response};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use crate::serve_worker::{error_answer, protocol, Answer, Job};

/// Most connections open at once; more are refused at the handshake (503).
pub const MAX_SESSIONS: usize = 32;

/// What every connection needs to know.
pub struct Shared {
    pub token: String,
    /// Allowed `Origin`s: exact, or `scheme://host:*` for any port.
    pub origins: Vec<String>,
    pub models: Vec<engine::remote::protocol::ModelInfo>,
    pub limits: ServerLimits,
    /// Connections open now (authenticated or not).
    pub open: AtomicUsize,
}

/// Whether `origin` matches one of `allowed` (see [`Shared::origins`]).
pub fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    allowed.iter().any(|pattern| {
        let pattern = pattern.trim_end_matches('/').to_ascii_lowercase();
        match pattern.strip_suffix(":*") {
            Some(base) => {
                origin == base
                    || origin
                        .strip_prefix(base)
                        .and_then(|r| r.strip_prefix(':'))
                        .is_some_and(|port| {
                            !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                        })
            }
            None => origin == pattern,
        }
    })
}

/// Serves one connection from `peer` as session `session`.
pub fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    session: u64,
    shared: &Shared,
    jobs: Sender<Job>,
) {
    let auth_deadline = Instant::now() + Duration::from_secs(AUTH_TIMEOUT_SECS);
    let _ = stream.set_nodelay(true);
    // Covers the HTTP handshake too: a client that sends nothing is dropped.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(AUTH_TIMEOUT_SECS)));
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_REQUEST_BYTES))
        .max_frame_size(Some(MAX_REQUEST_BYTES));
    // The signature is tungstenite's handshake callback's.
    #[allow(clippy::result_large_err)]
    let check = |request: &HttpRequest, response: Response| -> Result<Response, ErrorResponse> {
        let origin = request
            .headers()
            .get("origin")
            .map(|o| o.to_str().unwrap_or("?"));
        if let Some(origin) = origin {
            if !origin_allowed(origin, &shared.origins) {
                eprintln!("serve: refused {peer}: origin {origin} is not allowed (--allow-origin)");
                return Err(refusal(403, &format!("origin {origin} is not allowed")));
            }
        }
        if shared.open.load(Ordering::SeqCst) > MAX_SESSIONS {
            eprintln!("serve: refused {peer}: {MAX_SESSIONS} sessions are open already");
            return Err(refusal(503, "too many sessions are open: try again later"));
        }
        Ok(response)
    };
    let mut socket = match tungstenite::accept_hdr_with_config(stream, check, Some(config)) {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("serve: handshake with {peer} failed: {e}");
            return;
        }
    };
    if let Err(why) = authenticate(&mut socket, shared, auth_deadline) {
        eprintln!("serve: closed {peer}: {why}");
        let _ = send_text(&mut socket, &error_reply(0, ErrorKind::Protocol, &why));
        close(&mut socket, CloseCode::Policy, &why);
        return;
    }
    let _ = socket.get_ref().set_read_timeout(None);
    let _ = jobs.send(Job::Open { session });
    eprintln!("serve: session {session} opened from {peer}");
    let welcome = Reply::Welcome {
        version: VERSION,
        models: shared.models.clone(),
        limits: shared.limits.clone(),
    };
    if send_text(&mut socket, &welcome).is_ok() {
        serve_requests(&mut socket, session, &jobs);
    }
    let _ = jobs.send(Job::Close { session });
}

/// Reads the hello: the right version and token, before `deadline`.
fn authenticate(
    socket: &mut WebSocket<TcpStream>,
    shared: &Shared,
    deadline: Instant,
) -> Result<(), String> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let _ = socket.get_ref().set_read_timeout(Some(left));
        match socket.read() {
            Ok(Message::Text(text)) => {
                return match serde_json::from_str::<Request>(text.as_str()) {
                    Ok(Request::Hello { version, .. }) if version != VERSION => Err(format!(
                        "protocol version {version}; this server speaks {VERSION}"
                    )),
                    Ok(Request::Hello { token, .. }) if same(&token, &shared.token) => Ok(()),
                    Ok(Request::Hello { .. }) => Err(
                        "wrong token: use the one `gpt2 serve` printed on its ready line".into(),
                    ),
                    _ => Err("the first message must be a hello with the token".into()),
                };
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(_) => return Err("the first message must be a hello with the token".into()),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => return Err(format!("gone before showing the token ({e})")),
        }
    }
    Err(format!("no token within {AUTH_TIMEOUT_SECS} s"))
}

/// Answers requests until the client closes or vanishes.
fn serve_requests(socket: &mut WebSocket<TcpStream>, session: u64, jobs: &Sender<Job>) {
    loop {
        let text = match socket.read() {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => {
                eprintln!("serve: session {session}: a binary frame from the client");
                let failure = protocol("requests are JSON text frames, not binary ones");
                if send(socket, error_answer(0, failure)).is_err() {
                    return;
                }
                continue;
            }
            Ok(Message::Close(_)) => return,
            Ok(_) => continue,
            Err(tungstenite::Error::Capacity(e)) => {
                let why = format!("{e}: a request may be at most {MAX_REQUEST_BYTES} bytes");
                eprintln!("serve: session {session}: closed, {why}");
                let _ = send_text(socket, &error_reply(0, ErrorKind::Protocol, &why));
                close(socket, CloseCode::Size, "request too large");
                return;
            }
            Err(e) => {
                eprintln!("serve: session {session}: the client went away ({e})");
                return;
            }
        };
        let request = match serde_json::from_str::<Request>(text.as_str()) {
            Ok(request) => request,
            Err(e) => {
                eprintln!("serve: session {session}: a request that cannot be read ({e})");
                let failure = protocol(format!("a request that cannot be read: {e}"));
                if send(socket, error_answer(0, failure)).is_err() {
                    return;
                }
                continue;
            }
        };
        let (reply, answer) = channel();
        let job = Job::Run {
            session,
            request,
            reply,
        };
        let Some(answer) = jobs.send(job).ok().and_then(|_| answer.recv().ok()) else {
            close(socket, CloseCode::Error, "the server is stopping");
            return;
        };
        if let Answer::Text(Reply::Error { message, .. }) = &answer {
            eprintln!("serve: session {session}: error: {message}");
        }
        if let Err(e) = send(socket, answer) {
            eprintln!("serve: session {session}: the client went away mid-request ({e})");
            return;
        }
    }
}

fn send(socket: &mut WebSocket<TcpStream>, answer: Answer) -> tungstenite::Result<()> {
    match answer {
        Answer::Logits(id, logits) => socket.send(Message::binary(encode_logits(id, &logits))),
        Answer::Top(id, top) => socket.send(Message::binary(encode_top(id, &top))),
        Answer::Hidden(id, hidden) => socket.send(Message::binary(encode_hidden(id, &hidden))),
        Answer::Tokenizer(id, json) => socket.send(Message::binary(encode_tokenizer(id, &json))),
        Answer::Text(reply) => send_text(socket, &reply),
    }
}

fn send_text(socket: &mut WebSocket<TcpStream>, reply: &Reply) -> tungstenite::Result<()> {
    let text = serde_json::to_string(reply).expect("replies serialize");
    socket.send(Message::text(text))
}

fn error_reply(id: u64, kind: ErrorKind, message: &str) -> Reply {
    Reply::Error {
        id,
        kind,
        message: message.to_string(),
    }
}

/// Sends a close frame and waits briefly for the client's, so it is read.
fn close(socket: &mut WebSocket<TcpStream>, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.to_string().into(),
    };
    let _ = socket
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(1)));
    if socket.close(Some(frame)).is_ok() {
        while socket.read().is_ok() {}
    }
}

/// An HTTP refusal of the handshake.
fn refusal(status: u16, message: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(format!("{message}\n")));
    *response.status_mut() = tungstenite::http::StatusCode::from_u16(status)
        .unwrap_or(tungstenite::http::StatusCode::FORBIDDEN);
    response
}

/// Compares two tokens in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_exactly_or_on_any_port() {
        let allowed = vec![
            "http://127.0.0.1:*".to_string(),
            "https://example.org".into(),
        ];
        for ok in [
            "http://127.0.0.1",
            "http://127.0.0.1:8080",
            "https://Example.org/",
        ] {
            assert!(origin_allowed(ok, &allowed), "{ok}");
        }
        for bad in [
            "http://127.0.0.1.evil.net",
            "http://127.0.0.1:80x",
            "http://127.0.0.1:",
            "https://example.org:444",
            "null",
        ] {
            assert!(!origin_allowed(bad, &allowed), "{bad}");
        }
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
