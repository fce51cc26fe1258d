//! The element-wise functions between the products, GELU and the attention
//! softmax, vectorised: written as branch-free loops over slices and compiled
//! once per kernel path, so each runs at the path's vector width.

use super::kernels::KernelPath;
#[cfg(target_arch = "x86_64")]
use super::x86;

/// `gelu_new` over `xs`, in place, at the path's vector width.
pub(crate) fn gelu_in_place(path: KernelPath, xs: &mut [f32]) {
    match path {
        // SAFETY: the path was checked to be supported at load.
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => unsafe { x86::gelu_avx512(xs) },
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => unsafe { x86::gelu_avx2(xs) },
        _ => gelu_slice(xs),
    }
}

/// `xs ⟵ softmax(xs / scale)`, in f32, at the path's vector width.
pub(crate) fn softmax_in_place(path: KernelPath, xs: &mut [f32], scale: f32) {
    match path {
        // SAFETY: the path was checked to be supported at load.
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx512 => unsafe { x86::softmax_avx512(xs, scale) },
        #[cfg(target_arch = "x86_64")]
        KernelPath::Avx2 => unsafe { x86::softmax_avx2(xs, scale) },
        _ => softmax_slice(xs, scale),
    }
}

/// [`softmax_in_place`] as loops the compiler vectorises where inlined.
#[inline(always)]
pub(crate) fn softmax_slice(xs: &mut [f32], scale: f32) {
    let mut max = f32::NEG_INFINITY;
    for x in xs.iter_mut() {
        *x /= scale;
        max = max.max(*x);
    }
    let mut sum = 0f32;
    for x in xs.iter_mut() {
        *x = exp(*x - max);
        sum += *x;
    }
    for x in xs.iter_mut() {
        *x /= sum;
    }
}

/// [`gelu`] over a slice: a loop without branches or calls, which the
/// compiler vectorises at the width of the function it is inlined into.
#[inline(always)]
pub(crate) fn gelu_slice(xs: &mut [f32]) {
    for x in xs {
        *x = gelu(*x);
    }
}

/// `gelu_new`, `0.5 x (1 + tanh(u))` with `u = √(2/π) (x + 0.044715 x³)`, as
/// `transformers`, computed as the same function `x / (1 + exp(-2u))`: one
/// exponential, no cancellation.
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    const S: f32 = 0.797_884_6; // sqrt(2 / pi)
    let u = S * (x + 0.044715 * x * x * x);
    x / (1.0 + exp(-2.0 * u))
}

/// `e^x` to about 1 ulp on the range that matters (Cephes' `expf`: a degree-6
/// polynomial on `[-ln2/2, ln2/2]` times `2^n`), written without branches so
/// that it vectorises. Inputs are clamped to `[-87, 88]`: below, the result
/// is `~1e-38`; above, `~1.6e38`.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 × 2^23: adding it rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n from n's bits in t's mantissa: t = 1.5 × 2^23 + n.
    let bits = (t.to_bits() as i32 - ROUND.to_bits() as i32 + 127) << 23;
    y * f32::from_bits(bits as u32)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// GELU as `transformers` writes it, in f64.
    pub(crate) fn gelu_f64(x: f64) -> f64 {
        let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
        0.5 * x * (1.0 + u.tanh())
    }

    /// GELU on every path against the tanh formula in f64, over the range
    /// activations take and beyond (where it saturates to 0 or x).
    #[test]
    fn gelu_matches_the_tanh_formula() {
        let xs: Vec<f32> = (-40_000..=40_000).map(|i| i as f32 / 1000.0).collect();
        for path in KernelPath::ALL.into_iter().filter(|p| p.supported()) {
            let mut ys = xs.clone();
            gelu_in_place(path, &mut ys);
            let mut worst = 0f64;
            for (&x, &y) in xs.iter().zip(&ys) {
                let want = gelu_f64(x as f64);
                worst = worst.max((y as f64 - want).abs() / want.abs().max(1e-3));
            }
            assert!(worst < 2e-6, "{path:?}: relative error {worst:e}");
        }
        for x in [-1e4f32, -200.0, 200.0, 1e4, 0.0] {
            let (y, want) = (gelu(x), gelu_f64(x as f64) as f32);
            assert!(
                y.is_finite() && (y - want).abs() <= 1e-6 * x.abs().max(1.0),
                "gelu({x}) = {y}"
            );
        }
    }
}
