//! The one product every layer is made of: `y = x Wᵀ (+ b)` for `x (m, k)`
//! and `W (n, k)` in f32, bf16 or f16, with an epilogue (store, GELU, add to
//! the residual). Output rows are computed four weight rows by up to four
//! input rows at a time, with 16 accumulators held in registers: at one input
//! row (decode) each weight row is streamed once from memory; at a few rows
//! (beams, speculative verification) it is streamed once for all of them; at
//! many rows (prefill) the input rows are blocked to stay in cache.
//!
//! Three kernel paths, picked once at load from what the CPU has: AVX-512,
//! AVX2 + FMA + F16C, and portable code (written so the compiler vectorises it,
//! e.g. with wasm's SIMD128). `GPT2_CPU_KERNELS=avx512|avx2|portable` forces one.

use std::ops::Range;

use super::activations::gelu_in_place;
pub use super::kernel_path::KernelPath;
use super::weights::{MatrixRef, Rows, Weight};
#[cfg(target_arch = "x86_64")]
use super::x86;

/// What happens to `x Wᵀ + b` on its way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Epilogue {
    /// `y = v`
    Store,
    /// `y = gelu_new(v)` (the tanh form GPT-2 uses)
    Gelu,
    /// `y += v` (the residual stream)
    Add,
}

/// The activations side of a product: `rows` rows of `k` numbers, `ld` apart.
pub(crate) type Input<'a> = Rows<'a, f32>;

/// Where a product's results go: `y[r·ldy + j]`, after adding `bias[j]`,
/// through `epilogue`.
pub(crate) struct Out<'a> {
    pub y: &'a mut [f32],
    pub ldy: usize,
    pub bias: Option<&'a [f32]>,
    pub epilogue: Epilogue,
}

impl<'a> Out<'a> {
    /// Stores `x Wᵀ` in `y`, rows `ldy` apart.
    pub fn store(y: &'a mut [f32], ldy: usize) -> Self {
        Out {
            y,
            ldy,
            bias: None,
            epilogue: Epilogue::Store,
        }
    }
}

/// Inputs of at least this many rows go through a packed matrix multiply
/// (the `gemm` crate's cache-blocked kernels); fewer stream the weights
/// through the tiles below, once for all rows.
pub(crate) const GEMM_MIN_ROWS: usize = 64;

/// Output columns a thread takes at a time, out of `cols`, for `rows` input
/// rows on `threads` threads: for a few rows, small chunks so that threads
/// finish together; for many, two large chunks per thread (packing the
/// inputs once per chunk), all of a size.
pub(crate) fn chunk(rows: usize, cols: usize, threads: usize) -> usize {
    if rows >= GEMM_MIN_ROWS {
        cols.div_ceil(2 * threads).next_multiple_of(16)
    } else {
        32
    }
}

/// `out ⟵ x Wᵀ (+ b)` for the output columns `cols` and every row of `x`.
pub(crate) fn matmul(path: KernelPath, w: MatrixRef, x: Input, cols: Range<usize>, out: Out) {
    if out.epilogue == Epilogue::Gelu {
        // The product first, then GELU over whole rows, vectorised.
        let Out { y, ldy, bias, .. } = out;
        let store = Out {
            y: &mut *y,
            ldy,
            bias,
            epilogue: Epilogue::Store,
        };
        matmul(path, w, x, cols.clone(), store);
        for r in 0..x.rows {
            gelu_in_place(path, &mut y[r * ldy..][cols.clone()]);
        }
        return;
    }
    if x.rows >= GEMM_MIN_ROWS && !cols.is_empty() {
        return gemm_rows(w, x, cols, out);
    }
    match w {
        MatrixRef::F32(w) => run(tile_fn_f32(path), w, x, cols, out),
        MatrixRef::Bf16(w) => run(tile_fn_bf16(path), w, x, cols, out),
        MatrixRef::F16(w) => run(tile_fn_f16(path), w, x, cols, out),
    }
}

/// Computes the dot products of four weight rows with `r` (1..=4) input
/// rows, over `k` numbers: `out[q][i] = w[q] · x[i]`.
///
/// Unsafe: the pointers must be valid for `k` numbers, and the function's
/// instruction set supported by the CPU.
pub(crate) type TileFn<T> =
    unsafe fn([*const T; 4], [*const f32; 4], usize, usize) -> [[f32; 4]; 4];

fn tile_fn_f32(path: KernelPath) -> TileFn<f32> {
    match path {
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => x86::tile_avx512_f32,
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => x86::tile_avx2_f32,
        _ => tile_portable::<f32>,
    }
}

fn tile_fn_bf16(path: KernelPath) -> TileFn<half::bf16> {
    match path {
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => x86::tile_avx512_bf16,
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => x86::tile_avx2_bf16,
        _ => tile_portable::<half::bf16>,
    }
}

fn tile_fn_f16(path: KernelPath) -> TileFn<half::f16> {
    match path {
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => x86::tile_avx512_f16,
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => x86::tile_avx2_f16,
        _ => tile_portable::<half::f16>,
    }
}

/// Input rows per cache block: about 512 KiB of them, a multiple of 4.
fn rows_per_block(k: usize) -> usize {
    ((512 * 1024 / 4) / k.max(1)).clamp(4, 1024) / 4 * 4
}

fn run<T: Weight>(tile: TileFn<T>, w: Rows<T>, x: Input, cols: Range<usize>, out: Out) {
    let k = w.cols;
    assert!(x.cols == k, "matmul: x has {} columns, W has {k}", x.cols);
    assert!(cols.end <= w.rows && w.data.len() >= (w.rows.max(1) - 1) * w.ld + k);
    assert!(x.rows == 0 || x.data.len() >= (x.rows - 1) * x.ld + k);
    assert!(x.rows == 0 || cols.end == 0 || out.y.len() >= (x.rows - 1) * out.ldy + cols.end);
    let block = rows_per_block(k);
    for r0 in (0..x.rows).step_by(block) {
        let r_end = (r0 + block).min(x.rows);
        for j in cols.clone().step_by(4) {
            let wp: [*const T; 4] =
                std::array::from_fn(|q| w.data[(j + q).min(cols.end - 1) * w.ld..].as_ptr());
            // Input rows four at a time; five left go as 3 + 2, not 4 + 1, as
            // the one-row kernel streams from memory what the tile above left
            // in cache (speculative verification's γ + 1 = 5 rows: 23.2 →
            // 22.4 ms per gpt2 pass, 1.34 → 1.26 one-row passes; three
            // alternated runs of `gpt2 bench`, each the median of 3).
            let mut r = r0;
            while r < r_end {
                let left = r_end - r;
                let n = if left == 5 { 3 } else { left.min(4) };
                let xp: [*const f32; 4] =
                    std::array::from_fn(|i| x.data[(r + i.min(n - 1)) * x.ld..].as_ptr());
                // SAFETY: each pointer starts a row with at least k numbers
                // (checked above), and `tile` is for a supported path.
                let dots = unsafe { tile(wp, xp, k, n) };
                for (q, col) in dots.iter().enumerate().take((cols.end - j).min(4)) {
                    let jj = j + q;
                    let b = out.bias.map_or(0.0, |b| b[jj]);
                    for (i, &v) in col.iter().enumerate().take(n) {
                        let y = &mut out.y[(r + i) * out.ldy + jj];
                        let v = v + b;
                        match out.epilogue {
                            Epilogue::Add => *y += v,
                            Epilogue::Store | Epilogue::Gelu => *y = v,
                        }
                    }
                }
                r += n;
            }
        }
    }
}

/// Runs the many-rows product once, so that `gemm`'s lazily made tables
/// (cache sizes, the kernel it picks) exist before several threads use it.
pub(crate) fn warm_up() {
    let (m, n, k) = (GEMM_MIN_ROWS, 16, 16);
    let (x, w) = (vec![1.0f32; m * k], vec![1.0f32; n * k]);
    let mut y = vec![0.0f32; m * n];
    gemm_f32(
        Rows::dense(&w, n, k),
        Rows::dense(&x, m, k),
        0..n,
        Out::store(&mut y, n),
    );
    debug_assert!(y.iter().all(|&v| v == k as f32));
}

/// The many-rows product: `gemm` on f32 weights, half-precision ones widened
/// to f32 first (once per call, a cost spread over the rows).
fn gemm_rows(w: MatrixRef, x: Input, cols: Range<usize>, out: Out) {
    thread_local! {
        static WIDE: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    fn widen<T: Weight>(w: Rows<T>, cols: &Range<usize>, wide: &mut Vec<f32>) {
        wide.resize(cols.len() * w.cols, 0.0);
        for (j, out) in cols.clone().zip(wide.chunks_exact_mut(w.cols)) {
            T::widen(&w.data[j * w.ld..][..w.cols], out);
        }
    }
    match w {
        MatrixRef::F32(w) => {
            let rows = &w.data[cols.start * w.ld..];
            gemm_f32(Rows { data: rows, ..w }, x, cols, out)
        }
        MatrixRef::Bf16(w) => WIDE.with_borrow_mut(|wide| {
            widen(w, &cols, wide);
            gemm_f32(Rows::dense(wide, cols.len(), w.cols), x, cols, out)
        }),
        MatrixRef::F16(w) => WIDE.with_borrow_mut(|wide| {
            widen(w, &cols, wide);
            gemm_f32(Rows::dense(wide, cols.len(), w.cols), x, cols, out)
        }),
    }
}

/// `out[.., cols] ⟵ x wᵀ (+ b)`, where `w` holds the rows of `cols` only.
fn gemm_f32(w: Rows<f32>, x: Input, cols: Range<usize>, out: Out) {
    let (m, n, k) = (x.rows, cols.len(), w.cols);
    assert!(x.cols == k, "matmul: x has {} columns, W has {k}", x.cols);
    assert!(w.data.len() >= (n - 1) * w.ld + k && x.data.len() >= (m - 1) * x.ld + k);
    assert!(out.y.len() >= (m - 1) * out.ldy + cols.end);
    let add = out.epilogue == Epilogue::Add;
    // SAFETY: the asserts above keep every access in bounds: dst (m, n) at
    // rows ldy apart from column cols.start, lhs (m, k) rows x.ld apart,
    // rhs (k, n) the transposed rows of w, w.ld apart.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.y.as_mut_ptr().add(cols.start),
            1,
            out.ldy as isize,
            add,
            x.data.as_ptr(),
            1,
            x.ld as isize,
            w.data.as_ptr(),
            w.ld as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    if let Some(bias) = out.bias {
        for r in 0..m {
            let row = &mut out.y[r * out.ldy..][cols.clone()];
            row.iter_mut()
                .zip(&bias[cols.clone()])
                .for_each(|(y, b)| *y += b);
        }
    }
}

/// Lanes of the portable kernel's accumulators.
const LANES: usize = 16;

/// The portable tile: 16 independent partial sums per dot product, so that
/// the compiler emits vector multiply-adds without reassociating sums.
///
/// # Safety
/// Each pointer is valid for `k` numbers.
unsafe fn tile_portable<T: Weight>(
    w: [*const T; 4],
    x: [*const f32; 4],
    k: usize,
    r: usize,
) -> [[f32; 4]; 4] {
    let w: [&[T]; 4] = w.map(|p| std::slice::from_raw_parts(p, k));
    let x: [&[f32]; 4] = x.map(|p| std::slice::from_raw_parts(p, k));
    let mut out = [[0f32; 4]; 4];
    for (q, wq) in w.iter().enumerate() {
        for i in 0..r {
            out[q][i] = dot_portable(wq, x[i]);
        }
    }
    out
}

#[inline(always)]
fn dot_portable<T: Weight>(w: &[T], x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (cw, cx) = (w.chunks_exact(LANES), x.chunks_exact(LANES));
    let tail: f32 = cw
        .remainder()
        .iter()
        .zip(cx.remainder())
        .map(|(a, b)| a.to_f32() * b)
        .sum();
    for (a, b) in cw.zip(cx) {
        for l in 0..LANES {
            acc[l] += a[l].to_f32() * b[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::activations::tests::gelu_f64;
    use half::{bf16, f16};

    fn numbers(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7 + seed * 13) % 23) as f32 - 11.0) / 9.0)
            .collect()
    }

    /// Each path and number format against a plain f64 loop, on shapes that
    /// leave remainders everywhere (rows, columns, tiles, vector tails).
    #[test]
    fn every_path_matches_a_plain_loop() {
        let shapes = [
            (1, 50, 64),
            (3, 97, 80),
            (5, 33, 17),
            (2, 1, 1),
            (9, 6, 300),
            (600, 9, 40),
        ];
        for path in KernelPath::ALL.into_iter().filter(|p| p.supported()) {
            for (m, n, k) in shapes {
                let x = numbers(m * k, 1);
                let w32 = numbers(n * k, 2);
                let b = numbers(n, 3);
                let wb: Vec<bf16> = w32.iter().map(|&v| bf16::from_f32(v)).collect();
                let wh: Vec<f16> = w32.iter().map(|&v| f16::from_f32(v)).collect();
                let wide_b: Vec<f32> = wb.iter().map(|v| v.to_f32()).collect();
                let wide_h: Vec<f32> = wh.iter().map(|v| v.to_f32()).collect();
                let cases = [
                    ("f32", MatrixRef::F32(Rows::dense(&w32, n, k)), &w32),
                    ("bf16", MatrixRef::Bf16(Rows::dense(&wb, n, k)), &wide_b),
                    ("f16", MatrixRef::F16(Rows::dense(&wh, n, k)), &wide_h),
                ];
                for (name, w, wide) in cases {
                    for epilogue in [Epilogue::Store, Epilogue::Gelu, Epilogue::Add] {
                        let mut y = vec![0.5f32; m * (n + 3)];
                        let split = n / 2 / 4 * 4;
                        for cols in [0..split, split..n] {
                            let xin = Rows::dense(&x[..], m, k);
                            let out = Out {
                                y: &mut y,
                                ldy: n + 3,
                                bias: Some(&b),
                                epilogue,
                            };
                            matmul(path, w, xin, cols, out);
                        }
                        let mut worst = 0f64;
                        for r in 0..m {
                            for j in 0..n {
                                let v: f64 = b[j] as f64
                                    + (0..k)
                                        .map(|t| x[r * k + t] as f64 * wide[j * k + t] as f64)
                                        .sum::<f64>();
                                let want = match epilogue {
                                    Epilogue::Store => v,
                                    Epilogue::Gelu => gelu_f64(v),
                                    Epilogue::Add => 0.5 + v,
                                };
                                worst = worst.max((y[r * (n + 3) + j] as f64 - want).abs());
                            }
                            for j in n..n + 3 {
                                assert_eq!(y[r * (n + 3) + j], 0.5, "wrote past column {n}");
                            }
                        }
                        assert!(
                            worst < 1e-3,
                            "{path:?} {name} {epilogue:?} m={m} n={n} k={k}: max error {worst}"
                        );
                    }
                }
            }
        }
    }
}
