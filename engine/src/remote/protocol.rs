//! The wire format between `gpt2 serve` and [`super::RemoteModel`], one
//! definition for the server and every client.
//!
//! A WebSocket (RFC 6455) carries it. Requests are JSON text frames, one
//! [`Request`] each, answered in order, one at a time per connection. Text
//! replies are JSON [`Reply`]s; numbers and bytes come back as binary frames
//! ([`FrameKind`]: logits, their summaries, hidden states, a tokenizer): a
//! header of [`HEADER_WORDS`] `u32`s, then the payload, all little-endian
//! (every host the engine runs on: x86, ARM, wasm32).
//!
//! Version 2 added [`Request::ForwardHidden`] and [`Request::Tokenizer`]; a
//! hello of another version is refused with an error saying both versions.
//!
//! A connection starts with [`Request::Hello`], carrying the token `serve`
//! printed; anything else first, or nothing within [`AUTH_TIMEOUT_SECS`], and
//! the server closes it. A model method added to the contract is one more
//! request type and, if it returns numbers, one more [`FrameKind`].

use serde::{Deserialize, Serialize};

use crate::config::Gpt2Config;

/// The protocol's version; [`Request::Hello`] and every binary frame carry it.
pub const VERSION: u32 = 2;

/// Seconds a connection has to show the token before the server closes it.
pub const AUTH_TIMEOUT_SECS: u64 = 10;

/// Largest request frame the server reads: 1024 rows of 1024 token ids as
/// JSON, with room to spare.
pub const MAX_REQUEST_BYTES: usize = 16 << 20;

/// Largest reply frame the server sends (and a client accepts): a thousand
/// positions of GPT-2's vocabulary, e.g. scoring a long text.
pub const MAX_REPLY_BYTES: usize = 256 << 20;

/// A client's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// The first message: the protocol version spoken and the server's token.
    Hello { version: u32, token: String },
    /// `LanguageModel::forward`: answered by a [`FrameKind::Logits`] frame.
    Forward { id: u64, pass: Pass },
    /// `LanguageModel::forward_top`: answered by a [`FrameKind::Top`] frame.
    ForwardTop {
        id: u64,
        pass: Pass,
        k: usize,
        extra: Vec<u32>,
    },
    /// `LanguageModel::forward_hidden` (a `HiddenRequest`'s fields): answered
    /// by a [`FrameKind::Hidden`] frame.
    ForwardHidden {
        id: u64,
        pass: Pass,
        layers: Vec<usize>,
        positions: usize,
        heads: Vec<usize>,
        /// The heads go through `ln_f` first (the logit lens); absent: no.
        #[serde(default)]
        lens: bool,
    },
    /// The bytes of the `tokenizer.json` the server loaded for model `model`:
    /// answered by a [`FrameKind::Tokenizer`] frame.
    Tokenizer { id: u64, model: usize },
    /// The server's counts: answered by [`Reply::Stats`].
    Stats { id: u64 },
}

impl Request {
    /// The request's id (0 for the hello).
    pub fn id(&self) -> u64 {
        match self {
            Request::Hello { .. } => 0,
            Request::Forward { id, .. }
            | Request::ForwardTop { id, .. }
            | Request::ForwardHidden { id, .. }
            | Request::Tokenizer { id, .. }
            | Request::Stats { id } => *id,
        }
    }
}

/// One forward pass: the cache operations queued since the last pass, in
/// order, then `tokens` appended to cache `cache` of model `model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pass {
    /// Index into [`Reply::Welcome`]'s models.
    pub model: usize,
    pub cache: u64,
    pub ops: Vec<CacheOp>,
    /// `[rows][new positions]`.
    pub tokens: Vec<Vec<u32>>,
    pub last: usize,
}

/// A `KvCache` call made between passes, replayed on the server's cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CacheOp {
    /// `LanguageModel::new_cache` (ids are the client's, per connection).
    New {
        cache: u64,
        model: usize,
        rows: usize,
    },
    Truncate {
        cache: u64,
        len: usize,
    },
    Reorder {
        cache: u64,
        rows: Vec<usize>,
    },
    Reserve {
        cache: u64,
        positions: usize,
    },
    /// The client dropped the cache.
    Free {
        cache: u64,
    },
}

/// A server's text message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// The answer to a good hello: what the server loaded and its bounds.
    Welcome {
        version: u32,
        models: Vec<ModelInfo>,
        limits: ServerLimits,
    },
    /// Open sessions (authenticated connections, the asker included) and the
    /// caches they hold.
    Stats {
        id: u64,
        sessions: usize,
        caches: usize,
    },
    /// A request that failed; `id` is 0 when it could not be read.
    Error {
        id: u64,
        kind: ErrorKind,
        message: String,
    },
}

/// What kind of failure a [`Reply::Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request's values (tokens, rows, sizes): the engine's own input errors.
    Input,
    /// A frame that is not a request of this protocol, a wrong token or version.
    Protocol,
    /// The model failed on the server.
    Backend,
}

/// One model the server loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// What `--model` (or `--second`) named.
    pub name: String,
    /// Where it runs, for people (`cpu`, `cuda:0 (f16)`, ...).
    pub device: String,
    pub config: Gpt2Config,
}

/// The bounds a server enforces, so that a client can say so up front.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerLimits {
    pub max_request_bytes: usize,
    pub max_reply_bytes: usize,
    pub max_sessions: usize,
    pub max_caches_per_session: usize,
    pub max_rows: usize,
}

pub use super::frames::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json() {
        let r = Request::Stats { id: 4 };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"type":"stats","id":4}"#);
        let op: CacheOp = serde_json::from_str(r#"{"op":"truncate","cache":1,"len":5}"#).unwrap();
        assert_eq!(op, CacheOp::Truncate { cache: 1, len: 5 });
    }
}
