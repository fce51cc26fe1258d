//! The binary frames of the [`super::protocol`]: the numbers a pass
//! returns, and the bytes of a model's tokenizer. Every frame is a header of
//! [`HEADER_WORDS`] little-endian `u32`s — kind, [`VERSION`], the request's
//! id (low word, high word), four shape words — then the payload in whole
//! words. Each decoder checks the kind, version, id and every size against
//! the header before reading: a malformed frame is an error, never a panic.

use super::protocol::VERSION;
use crate::backend::{Hidden, Logits, TopLogits};
use crate::{Error, Result};

/// `u32` words before a binary frame's numbers.
pub const HEADER_WORDS: usize = 8;

/// What a binary frame holds (its header's first word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum FrameKind {
    /// `[rows, positions, vocab]` f32 logits.
    Logits = 1,
    /// A [`TopLogits`]: ids, logits, log-sum-exps, extra ids and their logits.
    Top = 2,
    /// A [`Hidden`]: logits, hidden states, early exits' logits.
    Hidden = 3,
    /// A model's `tokenizer.json`, byte for byte.
    Tokenizer = 4,
}

/// Bytes of a logits frame of this shape, to refuse one too large before the pass.
pub fn logits_frame_bytes(rows: usize, positions: usize, vocab: usize) -> Option<usize> {
    rows.checked_mul(positions)?
        .checked_mul(vocab)?
        .checked_mul(4)?
        .checked_add(HEADER_WORDS * 4)
}

/// Bytes of a hidden-states frame: `last` positions of logits and of each
/// of `heads` early exits, `layers` layers' states at `positions` positions,
/// for `rows` rows; to refuse one too large before the pass.
pub fn hidden_frame_bytes(
    [rows, last, vocab, n_embd]: [usize; 4],
    layers: usize,
    positions: usize,
    heads: usize,
) -> Option<usize> {
    let logits = rows.checked_mul(last)?.checked_mul(vocab)?;
    let states = layers
        .checked_mul(rows)?
        .checked_mul(positions)?
        .checked_mul(n_embd)?;
    let words = logits
        .checked_mul(heads.checked_add(1)?)?
        .checked_add(states)?
        .checked_add(3)?
        .checked_add(layers)?;
    words.checked_add(HEADER_WORDS)?.checked_mul(4)
}

/// Bytes of a tokenizer frame carrying `len` bytes.
pub fn tokenizer_frame_bytes(len: usize) -> usize {
    (HEADER_WORDS + len.div_ceil(4)) * 4
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

/// A [`FrameKind::Hidden`] frame: header `[3, VERSION, id, id >> 32, rows,
/// last, vocab, n_embd]`, then `u32`s `L, P, H` (layers, positions, early
/// exits), the layers `u32[L]`, the logits `f32[rows × last × vocab]`, the
/// states `f32[L × rows × P × n_embd]`, the early exits' logits
/// `f32[H × rows × last × vocab]`.
pub fn encode_hidden(id: u64, hidden: &Hidden) -> Vec<u8> {
    let l = &hidden.logits;
    let shape = [l.rows, l.positions, l.vocab, hidden.n_embd];
    let mut words = header(FrameKind::Hidden, id, shape);
    let counts = [hidden.layers.len(), hidden.positions, hidden.heads.len()];
    words.extend(counts.iter().chain(&hidden.layers).map(|&n| n as u32));
    words.extend(l.data.iter().map(|x| x.to_bits()));
    words.extend(hidden.states.iter().map(|x| x.to_bits()));
    for head in &hidden.heads {
        debug_assert_eq!((head.rows, head.positions), (l.rows, l.positions));
        words.extend(head.data.iter().map(|x| x.to_bits()));
    }
    bytemuck::cast_slice(&words).to_vec()
}

/// A [`FrameKind::Tokenizer`] frame: header `[4, VERSION, id, id >> 32,
/// bytes, 0, 0, 0]`, then the bytes, zero-padded to whole words.
pub fn encode_tokenizer(id: u64, json: &[u8]) -> Vec<u8> {
    let head = header(FrameKind::Tokenizer, id, [json.len(), 0, 0, 0]);
    let mut out = Vec::with_capacity(tokenizer_frame_bytes(json.len()));
    out.extend_from_slice(bytemuck::cast_slice(&head));
    out.extend_from_slice(json);
    out.resize(tokenizer_frame_bytes(json.len()), 0);
    out
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

/// Reads a [`FrameKind::Hidden`] frame answering request `id`.
pub fn decode_hidden(id: u64, bytes: &[u8]) -> Result<Hidden> {
    let f = frame(bytes)?;
    let [rows, last, vocab, n_embd] = f.shape;
    let (layers, positions, heads) = match f.body.get(..3) {
        Some(&[l, p, h]) => (l as usize, p as usize, h as usize),
        _ => (0, 0, 0),
    };
    let len = hidden_frame_bytes(f.shape, layers, positions, heads).map(|b| b / 4 - HEADER_WORDS);
    expect(&f, FrameKind::Hidden, id, len)?;
    let logits_len = rows * last * vocab;
    let mut at = 3;
    let mut take = |count: usize| {
        let part = &f.body[at..at + count];
        at += count;
        part
    };
    let layers: Vec<usize> = take(layers).iter().map(|&i| i as usize).collect();
    let logits = |data: &[u32]| Logits {
        rows,
        positions: last,
        vocab,
        data: floats(data),
    };
    Ok(Hidden {
        logits: logits(take(logits_len)),
        states: floats(take(layers.len() * rows * positions * n_embd)),
        heads: (0..heads).map(|_| logits(take(logits_len))).collect(),
        layers,
        rows,
        positions,
        n_embd,
    })
}

/// Reads a [`FrameKind::Tokenizer`] frame answering request `id`.
pub fn decode_tokenizer(id: u64, bytes: &[u8]) -> Result<Vec<u8>> {
    let f = frame(bytes)?;
    let len = f.shape[0];
    expect(&f, FrameKind::Tokenizer, id, Some(len.div_ceil(4)))?;
    let padded: &[u8] = bytemuck::cast_slice(&f.body);
    if padded[len..].iter().any(|&b| b != 0) {
        return Err(bad_frame(format!(
            "a tokenizer of {len} bytes padded with other bytes than zeros"
        )));
    }
    Ok(padded[..len].to_vec())
}

#[cfg(test)]
#[path = "frames_tests.rs"]
mod tests;
