//! The x86-64 tiles of [`super::kernels`]: four weight rows by up to four
//! input rows, 16 (AVX-512) or 8 (AVX2) lanes per step, weights widened from
//! bf16 (a 16-bit shift, exact) or f16 (the CPU's conversion instruction) as
//! they are loaded. Tails shorter than a vector are summed one by one.

use std::arch::x86_64::*;
use std::mem::size_of;

use half::{bf16, f16};

use super::weights::Weight;

/// Bytes ahead of the loads that the weight rows are prefetched into L1
/// (`NEAR`) and, a second time, into L2 (`FAR`): the L2 requests keep more
/// memory reads in flight than the L1 ones can, which a single stream (one
/// row of half-precision weights) needs to reach the bandwidth of the memory
/// (one-row bf16 decode of gpt2: 69 → 94 tokens/s, medians of 5, measured
/// with `gpt2 bench --dtype bf16`).
const NEAR: usize = 4096;
const FAR: usize = NEAR + 4096;
/// Bytes ahead that the interleaved tiles, which read four rows at once,
/// prefetch into L1 (`NEAR_TILE`) and L2 (`FAR_TILE`): with the L2 requests a
/// 4-beam pass of gpt2 went from 22.4 to 22.0 ms, γ + 1 = 5 verified rows
/// from 24.6 to 23.6 ms (against 18.4 ms for one row; the mean of three
/// alternated runs of `gpt2 bench --strategies greedy,beam,speculative`,
/// each the median of 3).
const NEAR_TILE: usize = 1024;
const FAR_TILE: usize = 4096;

/// Declares `$name`, a [`super::kernels::TileFn`] for weights of type `$t`,
/// over `$vec` registers of `$lanes` lanes with the given loads, multiply-add
/// and horizontal sum, compiled for `$features`.
macro_rules! tile {
    ($name:ident, $features:literal, $t:ty, $vec:ty, $lanes:expr,
     zero: $zero:ident, load_x: $load_x:ident, load_w: $load_w:ident,
     fma: $fma:ident, sum: $sum:ident) => {
        /// # Safety
        /// The pointers are valid for `k` numbers, and the CPU has the
        /// instruction set this function is compiled for.
        pub(super) unsafe fn $name(
            w: [*const $t; 4],
            x: [*const f32; 4],
            k: usize,
            r: usize,
        ) -> [[f32; 4]; 4] {
            #[target_feature(enable = $features)]
            unsafe fn rows<const R: usize>(
                w: [*const $t; 4],
                x: [*const f32; 4],
                k: usize,
            ) -> [[f32; 4]; 4] {
                let mut acc = [[$zero(); R]; 4];
                let mut i = 0;
                // A step reads a whole cache line of every weight row, and
                // asks for the lines NEAR_TILE (into L1) and FAR_TILE (into
                // L2) bytes ahead: more lines in flight than the loop's own
                // loads keep.
                const STEP: usize = 64 / size_of::<$t>();
                while i + STEP <= k {
                    for wq in &w {
                        let here = (*wq as *const u8).wrapping_add(i * size_of::<$t>());
                        _mm_prefetch::<_MM_HINT_T0>(here.wrapping_add(NEAR_TILE) as *const i8);
                        _mm_prefetch::<_MM_HINT_T1>(here.wrapping_add(FAR_TILE) as *const i8);
                    }
                    for u in (0..STEP).step_by($lanes) {
                        let mut xs = [$zero(); R];
                        for (n, v) in xs.iter_mut().enumerate() {
                            *v = $load_x(x[n].add(i + u));
                        }
                        for (q, a) in acc.iter_mut().enumerate() {
                            let wv = $load_w(w[q].add(i + u));
                            for n in 0..R {
                                a[n] = $fma(wv, xs[n], a[n]);
                            }
                        }
                    }
                    i += STEP;
                }
                while i + $lanes <= k {
                    let mut xs = [$zero(); R];
                    for (n, v) in xs.iter_mut().enumerate() {
                        *v = $load_x(x[n].add(i));
                    }
                    for (q, a) in acc.iter_mut().enumerate() {
                        let wv = $load_w(w[q].add(i));
                        for n in 0..R {
                            a[n] = $fma(wv, xs[n], a[n]);
                        }
                    }
                    i += $lanes;
                }
                let mut out = [[0f32; 4]; 4];
                for q in 0..4 {
                    for n in 0..R {
                        let mut s = $sum(acc[q][n]);
                        for t in i..k {
                            s += (*w[q].add(t)).to_f32() * *x[n].add(t);
                        }
                        out[q][n] = s;
                    }
                }
                out
            }
            /// One input row: each weight row in turn, read from start to
            /// end with four accumulators, so that a tile's rows (adjacent in
            /// memory) are one sequential stream.
            #[target_feature(enable = $features)]
            unsafe fn one_row(w: [*const $t; 4], x: *const f32, k: usize) -> [[f32; 4]; 4] {
                const STEP: usize = 4 * $lanes;
                let mut out = [[0f32; 4]; 4];
                for (q, wq) in w.iter().enumerate() {
                    let mut a = [$zero(); 4];
                    let mut i = 0;
                    while i + STEP <= k {
                        let here = (*wq as *const u8).wrapping_add(i * size_of::<$t>());
                        for line in (0..STEP * size_of::<$t>()).step_by(64) {
                            _mm_prefetch::<_MM_HINT_T0>(here.wrapping_add(line + NEAR) as *const i8);
                            _mm_prefetch::<_MM_HINT_T1>(here.wrapping_add(line + FAR) as *const i8);
                        }
                        for (u, a) in a.iter_mut().enumerate() {
                            let at = i + u * $lanes;
                            *a = $fma($load_w(wq.add(at)), $load_x(x.add(at)), *a);
                        }
                        i += STEP;
                    }
                    while i + $lanes <= k {
                        a[0] = $fma($load_w(wq.add(i)), $load_x(x.add(i)), a[0]);
                        i += $lanes;
                    }
                    let mut s = $sum(a[0]) + $sum(a[1]) + $sum(a[2]) + $sum(a[3]);
                    for t in i..k {
                        s += (*wq.add(t)).to_f32() * *x.add(t);
                    }
                    out[q][0] = s;
                }
                out
            }
            match r {
                // One input row streams faster row by row (f32 decode of
                // gpt2 50 → 54 tokens/s, bf16 69 → 94, with the L2 prefetch);
                // more share each weight load between them.
                1 => one_row(w, x[0], k),
                2 => rows::<2>(w, x, k),
                3 => rows::<3>(w, x, k),
                _ => rows::<4>(w, x, k),
            }
        }
    };
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,fma")]
#[inline]
unsafe fn load512(p: *const f32) -> __m512 {
    _mm512_loadu_ps(p)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,fma")]
#[inline]
unsafe fn load512_bf16(p: *const bf16) -> __m512 {
    let h = _mm256_loadu_si256(p as *const __m256i);
    _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,fma")]
#[inline]
unsafe fn load512_f16(p: *const f16) -> __m512 {
    _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,fma")]
#[inline]
unsafe fn sum512(v: __m512) -> f32 {
    _mm512_reduce_add_ps(v)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,fma")]
#[inline]
unsafe fn fma512(a: __m512, b: __m512, c: __m512) -> __m512 {
    _mm512_fmadd_ps(a, b, c)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,fma")]
#[inline]
unsafe fn zero512() -> __m512 {
    _mm512_setzero_ps()
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn load256(p: *const f32) -> __m256 {
    _mm256_loadu_ps(p)
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn load256_bf16(p: *const bf16) -> __m256 {
    let h = _mm_loadu_si128(p as *const __m128i);
    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn load256_f16(p: *const f16) -> __m256 {
    _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i))
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn sum256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
    _mm_cvtss_f32(s)
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn fma256(a: __m256, b: __m256, c: __m256) -> __m256 {
    _mm256_fmadd_ps(a, b, c)
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn zero256() -> __m256 {
    _mm256_setzero_ps()
}

tile!(tile_avx512_f32, "avx512f,avx512bw,avx512vl,fma", f32, __m512, 16,
      zero: zero512, load_x: load512, load_w: load512, fma: fma512, sum: sum512);
tile!(tile_avx512_bf16, "avx512f,avx512bw,avx512vl,fma", bf16, __m512, 16,
      zero: zero512, load_x: load512, load_w: load512_bf16, fma: fma512, sum: sum512);
tile!(tile_avx512_f16, "avx512f,avx512bw,avx512vl,fma", f16, __m512, 16,
      zero: zero512, load_x: load512, load_w: load512_f16, fma: fma512, sum: sum512);
tile!(tile_avx2_f32, "avx2,fma,f16c", f32, __m256, 8,
      zero: zero256, load_x: load256, load_w: load256, fma: fma256, sum: sum256);
tile!(tile_avx2_bf16, "avx2,fma,f16c", bf16, __m256, 8,
      zero: zero256, load_x: load256, load_w: load256_bf16, fma: fma256, sum: sum256);
tile!(tile_avx2_f16, "avx2,fma,f16c", f16, __m256, 8,
      zero: zero256, load_x: load256, load_w: load256_f16, fma: fma256, sum: sum256);

/// [`super::activations::gelu_slice`] compiled for AVX-512.
///
/// # Safety
/// The CPU has AVX-512 (F, BW, VL) and FMA.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,fma")]
pub(super) unsafe fn gelu_avx512(xs: &mut [f32]) {
    super::activations::gelu_slice(xs)
}

/// [`super::activations::gelu_slice`] compiled for AVX2.
///
/// # Safety
/// The CPU has AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn gelu_avx2(xs: &mut [f32]) {
    super::activations::gelu_slice(xs)
}

/// [`super::activations::softmax_slice`] compiled for AVX-512.
///
/// # Safety
/// The CPU has AVX-512 (F, BW, VL) and FMA.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,fma")]
pub(super) unsafe fn softmax_avx512(xs: &mut [f32], scale: f32) {
    super::activations::softmax_slice(xs, scale)
}

/// [`super::activations::softmax_slice`] compiled for AVX2.
///
/// # Safety
/// The CPU has AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn softmax_avx2(xs: &mut [f32], scale: f32) {
    super::activations::softmax_slice(xs, scale)
}
