//! The wire format between `gpt2 serve` and [`super::RemoteModel`], one
//! definition for the server and every client.
//!
//! A WebSocket (RFC 6455) carries it. Requests are JSON text frames, one
//! [`Request`] each, answered in order, one at a time per connection. Text
//! replies are JSON [`Reply`]s; logits come back as binary frames
//! ([`encode_logits`], [`encode_top`]): a header of [`HEADER_WORDS`] `u32`s, then
//! the numbers, all little-endian (every host the engine runs on: x86, ARM, wasm32).
//!
//! A connection starts with [`Request::Hello`], carrying the token `serve`
//! printed; anything else first, or nothing within [`AUTH_TIMEOUT_SECS`], and
//! the server closes it. A model method added to the contract is one more
//! request type and, if it returns numbers, one more [`FrameKind`].

use serde::{Deserialize, Serialize};

use crate::backend::{Logits, TopLogits};
use crate::config::Gpt2Config;
use crate::{Error, Result};

/// The protocol's version; [`Request::Hello`] and every binary frame carry it.
pub const VERSION: u32 = 1;

/// Seconds a connection has to show the token before the server closes it.
pub const AUTH_TIMEOUT_SECS: u64 = 10;

/// Largest request frame the server reads: 1024 rows of 1024 token ids as
/// JSON, with room to spare.
pub const MAX_REQUEST_BYTES: usize = 16 << 20;

/// Largest reply frame the server sends (and a client accepts): a thousand
/// positions of GPT-2's vocabulary, e.g. scoring a long text.
pub const MAX_REPLY_BYTES: usize = 256 << 20;

/// `u32` words before a binary frame's numbers.
pub const HEADER_WORDS: usize = 8;

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

/// What a binary frame holds (its header's first word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum FrameKind {
    /// `[rows, positions, vocab]` f32 logits.
    Logits = 1,
    /// A [`TopLogits`]: ids, logits, log-sum-exps, extra ids and their logits.
    Top = 2,
}

/// Bytes of a logits frame of this shape, to refuse one too large before the pass.
pub fn logits_frame_bytes(rows: usize, positions: usize, vocab: usize) -> Option<usize> {
    rows.checked_mul(positions)?
        .checked_mul(vocab)?
        .checked_mul(4)?
        .checked_add(HEADER_WORDS * 4)
}

/// The header: kind, version, id (low, high), then four shape words.
fn header(kind: FrameKind, id: u64, shape: [usize; 4]) -> Vec<u32> {
    let mut words = vec![kind as u32, VERSION, id as u32, (id >> 32) as u32];
    words.extend(shape.iter().map(|&s| s as u32));
    words
}

/// A [`FrameKind::Logits`] frame: header `[1, VERSION, id, id >> 32, rows,
/// positions, vocab, 0]`, then `rows × positions × vocab` f32s.
pub fn encode_logits(id: u64, logits: &Logits) -> Vec<u8> {
    let head = header(
        FrameKind::Logits,
        id,
        [logits.rows, logits.positions, logits.vocab, 0],
    );
    let mut out = Vec::with_capacity((head.len() + logits.data.len()) * 4);
    out.extend_from_slice(bytemuck::cast_slice(&head));
    out.extend_from_slice(bytemuck::cast_slice(&logits.data));
    out
}

/// A [`FrameKind::Top`] frame: header `[2, VERSION, id, id >> 32, rows,
/// positions, k, e]`, then with `n = rows × positions`: ids `u32[n × k]`,
/// logits `f32[n × k]`, log-sum-exps `f32[n]`, extra ids `u32[e]`, their
/// logits `f32[n × e]`.
pub fn encode_top(id: u64, top: &TopLogits) -> Vec<u8> {
    let e = top.extra_ids.len();
    let mut words = header(FrameKind::Top, id, [top.rows, top.positions, top.k, e]);
    words.extend_from_slice(&top.ids);
    words.extend(top.logits.iter().map(|x| x.to_bits()));
    words.extend(top.log_sum_exp.iter().map(|x| x.to_bits()));
    words.extend_from_slice(&top.extra_ids);
    words.extend(top.extra.iter().map(|x| x.to_bits()));
    bytemuck::cast_slice(&words).to_vec()
}

/// A binary frame's kind, id and shape, checked; the words after the header.
struct Frame {
    kind: u32,
    id: u64,
    shape: [usize; 4],
    body: Vec<u32>,
}

fn frame(bytes: &[u8]) -> Result<Frame> {
    if !bytes.len().is_multiple_of(4) || bytes.len() < HEADER_WORDS * 4 {
        return Err(bad_frame(format!(
            "{} bytes is not a header and whole words",
            bytes.len()
        )));
    }
    let mut words: Vec<u32> = bytemuck::pod_collect_to_vec(bytes);
    if words[1] != VERSION {
        return Err(bad_frame(format!(
            "protocol version {}, this client speaks {VERSION}",
            words[1]
        )));
    }
    let body = words.split_off(HEADER_WORDS);
    let s = |i: usize| words[4 + i] as usize;
    Ok(Frame {
        kind: words[0],
        id: words[2] as u64 | (words[3] as u64) << 32,
        shape: [s(0), s(1), s(2), s(3)],
        body,
    })
}

fn bad_frame(why: String) -> Error {
    Error::Backend(format!(
        "gpt2 serve sent a frame this client cannot read: {why}"
    ))
}

/// Checks a frame's kind, id and length (`len` words after the header).
fn expect(frame: &Frame, kind: FrameKind, id: u64, len: Option<usize>) -> Result<()> {
    if frame.kind != kind as u32 || frame.id != id {
        return Err(bad_frame(format!(
            "frame kind {} for request {}, expected kind {} for request {id}",
            frame.kind, frame.id, kind as u32
        )));
    }
    if len != Some(frame.body.len()) {
        return Err(bad_frame(format!(
            "{} words for the shape {:?}",
            frame.body.len(),
            frame.shape
        )));
    }
    Ok(())
}

fn floats(words: &[u32]) -> Vec<f32> {
    words.iter().map(|&w| f32::from_bits(w)).collect()
}

/// Reads a [`FrameKind::Logits`] frame answering request `id`.
pub fn decode_logits(id: u64, bytes: &[u8]) -> Result<Logits> {
    let f = frame(bytes)?;
    let [rows, positions, vocab, _] = f.shape;
    let len = rows
        .checked_mul(positions)
        .and_then(|n| n.checked_mul(vocab));
    expect(&f, FrameKind::Logits, id, len)?;
    Ok(Logits {
        rows,
        positions,
        vocab,
        data: floats(&f.body),
    })
}

/// Reads a [`FrameKind::Top`] frame answering request `id`.
pub fn decode_top(id: u64, bytes: &[u8]) -> Result<TopLogits> {
    let f = frame(bytes)?;
    let [rows, positions, k, e] = f.shape;
    let n = rows.checked_mul(positions);
    let len = n.and_then(|n| Some(n.checked_mul(2 * k + 1 + e)? + e));
    expect(&f, FrameKind::Top, id, len)?;
    let n = rows * positions;
    let mut at = 0;
    let mut take = |count: usize| {
        let part = &f.body[at..at + count];
        at += count;
        part
    };
    Ok(TopLogits {
        rows,
        positions,
        k,
        ids: take(n * k).to_vec(),
        logits: floats(take(n * k)),
        log_sum_exp: floats(take(n)),
        extra_ids: take(e).to_vec(),
        extra: floats(take(n * e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_bit_for_bit() {
        let logits = Logits {
            rows: 2,
            positions: 1,
            vocab: 3,
            data: vec![1.5, f32::NEG_INFINITY, -0.0, 3.0, f32::MIN_POSITIVE, 7.0],
        };
        let id = (7u64 << 32) | 9;
        let back = decode_logits(id, &encode_logits(id, &logits)).unwrap();
        assert_eq!(back.data.len(), 6);
        for (a, b) in back.data.iter().zip(&logits.data) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        let top = TopLogits::from_logits(&logits, 2, &[1]);
        assert_eq!(decode_top(id, &encode_top(id, &top)).unwrap(), top);
    }

    #[test]
    fn short_or_foreign_frames_are_errors() {
        let logits = Logits {
            rows: 1,
            positions: 1,
            vocab: 2,
            data: vec![1.0, 2.0],
        };
        let bytes = encode_logits(3, &logits);
        let short = decode_logits(3, &bytes[..bytes.len() - 4]).unwrap_err();
        assert!(short.to_string().contains("1 words"), "{short}");
        assert!(decode_logits(4, &bytes).is_err(), "another request's frame");
        assert!(decode_top(3, &bytes).is_err(), "another kind of frame");
        assert!(decode_logits(3, &bytes[..5]).is_err());
    }

    #[test]
    fn requests_are_tagged_json() {
        let r = Request::Stats { id: 4 };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"type":"stats","id":4}"#);
        let op: CacheOp = serde_json::from_str(r#"{"op":"truncate","cache":1,"len":5}"#).unwrap();
        assert_eq!(op, CacheOp::Truncate { cache: 1, len: 5 });
    }
}
