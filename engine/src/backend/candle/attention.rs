//! Causal multi-head attention over the KV cache.
//!
//! `qkv (rows, n, 3C)` holds the new positions' queries (keys and values are
//! already in the cache); `k, v (rows, capacity, C)` hold positions
//! `0..past+n`. Query `i` sits at position `past + i` and sees keys `0..=past+i`.
//! Scores are scaled by `1/sqrt(head_dim)` and soft-maxed in f32, as in
//! `transformers`' eager GPT-2 attention.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use super::linear::{dot, slice};
use crate::Result;

// qkv (rows, n, 3C), k/v (rows, cap, C) -> (rows, n, C)
pub(super) fn attend(
    qkv: &Tensor,
    k: &Tensor,
    v: &Tensor,
    past: usize,
    n_head: usize,
) -> Result<Tensor> {
    if qkv.device().is_cpu() {
        let op = CpuAttention { past, n_head };
        return Ok(qkv.contiguous()?.apply_op3_no_bwd(k, v, &op)?);
    }
    let (rows, n, c3) = qkv.dims3()?;
    let (c, hd) = (c3 / 3, c3 / 3 / n_head);
    let total = past + n;
    let heads = |t: Tensor, len: usize| -> Result<Tensor> {
        Ok(t.reshape((rows, len, n_head, hd))?
            .transpose(1, 2)?
            .contiguous()?)
    };
    let q = heads(qkv.narrow(2, 0, c)?, n)?; // (rows, H, n, hd)
    let k = heads(k.narrow(1, 0, total)?, total)?; // (rows, H, total, hd)
    let v = heads(v.narrow(1, 0, total)?, total)?;
    let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?; // (rows, H, n, total)
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
    let mask = Tensor::from_vec(mask, (n, total), qkv.device())?;
    let probs = candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&mask)?)?;
    let out = probs.matmul(&v)?; // (rows, H, n, hd)
    Ok(out.transpose(1, 2)?.reshape((rows, n, c))?)
}

/// The CPU kernel: one task per (row, head), each query's scores soft-maxed
/// in a scratch buffer.
struct CpuAttention {
    past: usize,
    n_head: usize,
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
        let (_, cap, c) = l_k.shape().dims3()?;
        let (h, past) = (self.n_head, self.past);
        let hd = c / h;
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
                        let k0 = (r * cap + j) * c + head * hd;
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
                        let v0 = (r * cap + j) * c + head * hd;
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
