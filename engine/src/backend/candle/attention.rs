//! Causal multi-head attention over the KV cache.
//!
//! `qkv (rows, n, 3C)` holds the new positions' queries (keys and values are
//! already in the cache); `k, v (rows, H, capacity, hd)` hold positions
//! `0..past+n`. Query `i` sits at position `past + i` and sees keys `0..=past+i`.
//! Scores are scaled by `1/sqrt(head_dim)` and soft-maxed with f32
//! accumulation, as in `transformers`' eager GPT-2 attention.
//!
//! Two paths: a hand-written CPU kernel for f32, and candle's tensor ops for
//! every other device and precision (CUDA). The latter reads the cache as a
//! strided view and needs no mask for one new position, so a decode step is
//! a few kernel launches per layer.

use candle_core::{CpuStorage, CustomOp3, DType, Device, Layout, Shape, Tensor};

use super::linear::{dot, slice};
use crate::Result;

// qkv (rows, n, 3C), k/v (rows, H, cap, hd) -> (rows, n, C); `kernel`: the
// CPU kernel applies (f32 on the CPU), else candle's tensor ops with `mask`.
pub(super) fn attend(
    qkv: &Tensor,
    k: &Tensor,
    v: &Tensor,
    past: usize,
    mask: Option<&Tensor>,
    kernel: bool,
) -> Result<Tensor> {
    let (rows, n, c3) = qkv.dims3()?;
    let (_, h, _, hd) = k.dims4()?;
    if kernel {
        let op = CpuAttention { past };
        return Ok(qkv.contiguous()?.apply_op3_no_bwd(k, v, &op)?);
    }
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

/// The CPU kernel: one task per (row, head), each query's scores soft-maxed
/// in a scratch buffer.
struct CpuAttention {
    past: usize,
}

impl CustomOp3 for CpuAttention {
    fn name(&self) -> &'static str {
        "gpt2-attention"
    }

    #[allow(clippy::too_many_arguments)]
    fn cpu_fwd(
        &self,
        s_qkv: &CpuStorage,
        l_qkv: &Layout,
        s_k: &CpuStorage,
        l_k: &Layout,
        s_v: &CpuStorage,
        l_v: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        use rayon::prelude::*;
        let (qkv, k, v) = (slice(s_qkv, l_qkv)?, slice(s_k, l_k)?, slice(s_v, l_v)?);
        let (rows, n, c3) = l_qkv.shape().dims3()?;
        let (_, h, cap, hd) = l_k.shape().dims4()?;
        let past = self.past;
        let c = h * hd;
        let scale = 1.0 / (hd as f32).sqrt();
        debug_assert_eq!(c3, 3 * c);
        // One (n, hd) block per (row, head), gathered into (rows, n, C) after.
        let blocks: Vec<Vec<f32>> = (0..rows * h)
            .into_par_iter()
            .map(|task| {
                let (r, head) = (task / h, task % h);
                let mut out = vec![0f32; n * hd];
                let mut scores = vec![0f32; past + n];
                for i in 0..n {
                    let q0 = (r * n + i) * c3 + head * hd;
                    let q = &qkv[q0..q0 + hd];
                    let seen = past + i + 1;
                    let mut max = f32::NEG_INFINITY;
                    for (j, s) in scores[..seen].iter_mut().enumerate() {
                        let k0 = ((r * h + head) * cap + j) * hd;
                        *s = dot(q, &k[k0..k0 + hd]) * scale;
                        max = max.max(*s);
                    }
                    let mut sum = 0f32;
                    for s in scores[..seen].iter_mut() {
                        *s = (*s - max).exp();
                        sum += *s;
                    }
                    let o = &mut out[i * hd..(i + 1) * hd];
                    for (j, &p) in scores[..seen].iter().enumerate() {
                        let v0 = ((r * h + head) * cap + j) * hd;
                        let p = p / sum;
                        for (o, &x) in o.iter_mut().zip(&v[v0..v0 + hd]) {
                            *o += p * x;
                        }
                    }
                }
                out
            })
            .collect();
        let mut y = vec![0f32; rows * n * c];
        for (task, block) in blocks.iter().enumerate() {
            let (r, head) = (task / h, task % h);
            for i in 0..n {
                let dst = (r * n + i) * c + head * hd;
                y[dst..dst + hd].copy_from_slice(&block[i * hd..(i + 1) * hd]);
            }
        }
        Ok((CpuStorage::F32(y), Shape::from((rows, n, c))))
    }
}
