//! Causal multi-head attention over the KV cache.
//!
//! `qkv (rows, n, 3C)` holds the new positions' queries (keys and values are
//! already in the cache); `k, v (rows, H, capacity, hd)` hold positions
//! `0..past+n`. Query `i` sits at position `past + i` and sees keys `0..=past+i`.
//! Scores are scaled by `1/sqrt(head_dim)` and soft-maxed with f32
//! accumulation, as in `transformers`' eager GPT-2 attention.
//!
//! The cache is read as a strided view, and one new position needs no mask,
//! so a decode step is a few kernel launches per layer.

use candle_core::{DType, Device, Tensor};

use crate::Result;

// qkv (rows, n, 3C), k/v (rows, H, cap, hd) -> (rows, n, C), with `mask`.
pub(super) fn attend(
    qkv: &Tensor,
    k: &Tensor,
    v: &Tensor,
    past: usize,
    mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (rows, n, c3) = qkv.dims3()?;
    let (_, h, _, hd) = k.dims4()?;
    let total = past + n;
    // Queries (rows, H, n, hd), scaled on the way (one copy, one launch).
    // GPT-2's head_dim is 64: the scale 1/8 is a power of two, exact in any
    // float format, so scaling q first gives the same scores as scaling q·k.
    let q = qkv
        .reshape((rows, n, 3, h, hd))?
        .narrow(2, 0, 1)?
        .squeeze(2)?
        .transpose(1, 2)?
        .affine(1.0 / (hd as f64).sqrt(), 0.0)?;
    let (k, v) = (k.narrow(2, 0, total)?, v.narrow(2, 0, total)?);
    let mut scores = q.matmul(&k.t()?)?; // (rows, H, n, total)
    if let Some(mask) = mask {
        scores = scores.broadcast_add(mask)?;
    }
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    let out = probs.matmul(&v)?; // (rows, H, n, hd)
    Ok(out.transpose(1, 2)?.reshape((rows, n, c3 / 3))?)
}

/// The additive causal mask of `n` new positions after `past` cached ones,
/// `(n, past + n)`, for the tensor-op path; `None` when no query would mask
/// anything (one new position).
pub(super) fn causal_mask(
    n: usize,
    past: usize,
    dtype: DType,
    device: &Device,
) -> Result<Option<Tensor>> {
    if n == 1 {
        return Ok(None);
    }
    let total = past + n;
    let mask: Vec<f32> = (0..n)
        .flat_map(|i| {
            (0..total).map(move |j| {
                if j <= past + i {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Ok(Some(
        Tensor::from_vec(mask, (n, total), device)?.to_dtype(dtype)?,
    ))
}
