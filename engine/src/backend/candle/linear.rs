//! Linear layers. GPT-2's Conv1D stores weights `[in, out]`; they are kept
//! transposed, `[out, in]`, so that one output is one contiguous row: the
//! decode path (a few input rows) then streams each weight row once through a
//! hand-written, threaded matrix-vector kernel at close to memory bandwidth,
//! where candle's general matmul reaches about half of it.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};

use super::Place;

use crate::weights::{transpose, Gpt2Checkpoint};
use crate::Result;

/// Inputs of at most this many rows take the matrix-vector kernel on CPU (f32).
const MATVEC_MAX_ROWS: usize = 8;

/// `y = x Wᵀ + b` with `W (out, in)`.
pub(crate) struct Linear {
    weight: Tensor, // (out, in)
    bias: Tensor,   // (out)
}

impl Linear {
    /// Loads the Conv1D layer `h.{i}.{name}` (`weight (in, out)`, `bias (out)`)
    /// of every block. The weights of all blocks share one buffer, so that
    /// nearly all of it lies on huge pages (see [`weight_buffer`]); each block's
    /// weight is a view into it.
    pub(super) fn load_conv1d_stack(
        ckpt: &Gpt2Checkpoint,
        name: &str,
        layers: usize,
        d_in: usize,
        d_out: usize,
        to: &Place,
    ) -> Result<Vec<Self>> {
        let size = d_in * d_out;
        let mut all = weight_buffer(layers * size);
        let mut biases = Vec::with_capacity(layers);
        for (i, t) in all.chunks_exact_mut(size).enumerate() {
            let w = ckpt.f32(&format!("h.{i}.{name}.weight"))?;
            transpose(&w, d_in, d_out, t);
            biases.push(ckpt.f32(&format!("h.{i}.{name}.bias"))?);
        }
        let all = to.tensor(all, (layers, d_out, d_in))?;
        biases
            .into_iter()
            .enumerate()
            .map(|(i, b)| {
                Ok(Linear {
                    weight: all.get(i)?,
                    bias: to.vector(b)?,
                })
            })
            .collect()
    }

    // x (rows, n, in) -> (rows, n, out); `kernels`: the CPU kernels may apply.
    pub(super) fn forward(&self, x: &Tensor, kernels: bool) -> Result<Tensor> {
        let (rows, n, d_in) = x.dims3()?;
        let x2 = x.reshape((rows * n, d_in))?;
        let y = if kernels && rows * n <= MATVEC_MAX_ROWS {
            x2.contiguous()?
                .apply_op3_no_bwd(&self.weight, &self.bias, &MatVec)?
        } else {
            x2.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?
        };
        Ok(y.reshape((rows, n, ()))?)
    }
}

/// A zeroed buffer for weights that are streamed every token. On Linux it is
/// backed by transparent huge pages where the kernel offers them: with 4 KiB
/// pages, TLB misses hold a matrix-vector product to ~13 GB/s here, with 2 MiB
/// pages it streams at ~19 GB/s.
pub(super) fn weight_buffer(len: usize) -> Vec<f32> {
    let v = vec![0f32; len]; // fresh pages from the allocator, not yet touched
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let (first, end) = (start.next_multiple_of(HUGE), start + len * 4);
        if end > first + HUGE {
            let aligned = (end - first) / HUGE * HUGE;
            // SAFETY: advice on pages this Vec owns; it changes no contents and
            // failure (no THP support) is harmless.
            unsafe { libc::madvise(first as *mut libc::c_void, aligned, libc::MADV_HUGEPAGE) };
        }
    }
    v
}

/// `x Wᵀ` for `x (m, in)` and `W (out, in)` (the tied `lm_head`).
pub(super) fn matmul_t(x: &Tensor, w: &Tensor, kernels: bool) -> Result<Tensor> {
    let (m, _) = x.dims2()?;
    if kernels && m <= MATVEC_MAX_ROWS {
        Ok(x.contiguous()?.apply_op2_no_bwd(w, &MatVec)?)
    } else {
        Ok(x.matmul(&w.t()?)?)
    }
}

/// The CPU matrix-vector kernel as a candle op: `(x, W[, b]) -> x Wᵀ [+ b]`.
struct MatVec;

/// The contiguous f32 data of a CPU tensor.
pub(super) fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<f32>()?[a..b]),
        None => candle_core::bail!("expected a contiguous f32 tensor"),
    }
}

fn run(
    x: &[f32],
    xl: &Layout,
    w: &[f32],
    wl: &Layout,
    b: Option<&[f32]>,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let (m, d_in) = xl.shape().dims2()?;
    let (d_out, w_in) = wl.shape().dims2()?;
    if w_in != d_in {
        candle_core::bail!("matvec: x has {d_in} columns, W has {w_in}");
    }
    let y = matvec(x, m, w, d_out, d_in, b);
    Ok((CpuStorage::F32(y), Shape::from((m, d_out))))
}

impl CustomOp2 for MatVec {
    fn name(&self) -> &'static str {
        "gpt2-matvec"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        run(slice(s1, l1)?, l1, slice(s2, l2)?, l2, None)
    }
}

impl CustomOp3 for MatVec {
    fn name(&self) -> &'static str {
        "gpt2-matvec-bias"
    }
    #[allow(clippy::too_many_arguments)]
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        run(slice(s1, l1)?, l1, slice(s2, l2)?, l2, Some(slice(s3, l3)?))
    }
}

/// `y (m, out) = x (m, in) · W (out, in)ᵀ + b`, for small `m`: each weight row
/// is read once and dotted with every input row while it is in L1; the output
/// rows are split across threads.
pub fn matvec(
    x: &[f32],
    m: usize,
    w: &[f32],
    d_out: usize,
    d_in: usize,
    b: Option<&[f32]>,
) -> Vec<f32> {
    use rayon::prelude::*;
    // yt (out, m): transposed so each thread's share is one contiguous slice.
    let mut yt = vec![0f32; d_out * m];
    let chunk = 32;
    yt.par_chunks_mut(chunk * m)
        .enumerate()
        .for_each(|(ci, out)| {
            let first = ci * chunk;
            for (j, o) in out.chunks_exact_mut(m).enumerate() {
                let row = &w[(first + j) * d_in..(first + j + 1) * d_in];
                let bias = b.map_or(0.0, |b| b[first + j]);
                for (r, y) in o.iter_mut().enumerate() {
                    *y = dot(&x[r * d_in..(r + 1) * d_in], row) + bias;
                }
            }
        });
    if m == 1 {
        return yt;
    }
    let mut y = vec![0f32; m * d_out];
    for j in 0..d_out {
        for r in 0..m {
            y[r * d_out + j] = yt[j * m + r];
        }
    }
    y
}

#[inline]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { dot_avx2(a, b) };
    }
    dot_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, acc) in acc.iter_mut().enumerate() {
            let x = _mm256_loadu_ps(pa.add(i + 8 * k));
            let y = _mm256_loadu_ps(pb.add(i + 8 * k));
            *acc = _mm256_fmadd_ps(x, y, *acc);
        }
        i += 32;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
    let mut total: f32 = lanes.iter().sum();
    while i < n {
        total += *pa.add(i) * *pb.add(i);
        i += 1;
    }
    total
}

/// Sixteen independent partial sums: the compiler turns the inner loop into
/// vector multiply-adds without reassociating floating-point sums.
#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 16;
    let mut acc = [0f32; L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..L {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matvec_matches_a_plain_loop_on_odd_shapes() {
        for (m, d_out, d_in) in [(1, 50257, 64), (3, 97, 80), (8, 33, 17), (2, 1, 1)] {
            let x: Vec<f32> = (0..m * d_in)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0)
                .collect();
            let w: Vec<f32> = (0..d_out * d_in)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 9.0)
                .collect();
            let b: Vec<f32> = (0..d_out).map(|i| i as f32 / 100.0).collect();
            let y = matvec(&x, m, &w, d_out, d_in, Some(&b));
            let mut max_diff = 0f32;
            for r in 0..m {
                for j in 0..d_out {
                    let want: f32 = b[j]
                        + (0..d_in)
                            .map(|k| x[r * d_in + k] * w[j * d_in + k])
                            .sum::<f32>();
                    max_diff = max_diff.max((y[r * d_out + j] - want).abs());
                }
            }
            assert!(
                max_diff < 1e-4,
                "m={m} out={d_out} in={d_in}: max diff {max_diff}"
            );
        }
    }
}
