//! The small operations between the products: layer norm and attention over
//! one head of the KV cache.

use super::activations::softmax_in_place;
use super::kernels::{matmul, KernelPath, Out};
use super::weights::{MatrixRef, Rows};

/// `out = (x - mean) / sqrt(var + eps) · w + b` over one row, as `torch`'s
/// layer norm (biased variance, f32).
pub(super) fn layer_norm(x: &[f32], w: &[f32], b: &[f32], eps: f32, out: &mut [f32]) {
    let c = x.len() as f32;
    let mean = x.iter().sum::<f32>() / c;
    let var = x.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / c;
    let rstd = 1.0 / (var + eps).sqrt();
    for (((o, &v), &w), &b) in out.iter_mut().zip(x).zip(w).zip(b) {
        *o = (v - mean) * rstd * w + b;
    }
}

/// One (row, head) of causal attention: where its keys and values are, and
/// where its new positions' queries and outputs are.
pub(super) struct Head<'a> {
    /// Keys `(capacity, head_dim)` of this row and head.
    pub k: &'a mut [f32],
    /// Values transposed, `(head_dim, capacity)`.
    pub vt: &'a mut [f32],
    pub capacity: usize,
    pub head_dim: usize,
    /// Positions already cached; the new ones are `past..past + n`.
    pub past: usize,
    pub n: usize,
    /// `qkv` rows of the new positions (`3C` apart), from this head's query.
    pub qkv: &'a [f32],
    pub qkv_ld: usize,
    /// Offset of keys and of values from the query in a `qkv` row (`C`, `2C`).
    pub c: usize,
    /// Output rows (`C` apart), from this head's columns.
    pub out: &'a mut [f32],
    pub out_ld: usize,
}

/// Queries per group: a group shares its pass over the keys and values.
const GROUP: usize = 4;

/// Stores the new keys and values of `head`, then attends each new position
/// to every position up to itself: scores `q·k / sqrt(head_dim)`, softmax in
/// f32, then the probabilities times the values. `scratch` is reused.
pub(super) fn attend(path: KernelPath, head: Head, scratch: &mut Vec<f32>) {
    let Head {
        k,
        vt,
        capacity: cap,
        head_dim: hd,
        past,
        n,
        qkv,
        qkv_ld,
        c,
        out,
        out_ld,
    } = head;
    for i in 0..n {
        let row = &qkv[i * qkv_ld..];
        k[(past + i) * hd..][..hd].copy_from_slice(&row[c..c + hd]);
        for (d, &v) in row[2 * c..2 * c + hd].iter().enumerate() {
            vt[d * cap + past + i] = v;
        }
    }
    let scale = (hd as f32).sqrt();
    for i0 in (0..n).step_by(GROUP) {
        let r = (n - i0).min(GROUP);
        let seen_max = past + i0 + r;
        scratch.clear();
        scratch.resize(r * seen_max, 0.0);
        let keys = MatrixRef::F32(Rows {
            data: &k[..seen_max * hd],
            rows: seen_max,
            cols: hd,
            ld: hd,
        });
        let queries = Rows {
            data: &qkv[i0 * qkv_ld..],
            rows: r,
            cols: hd,
            ld: qkv_ld,
        };
        matmul(
            path,
            keys,
            queries,
            0..seen_max,
            Out::store(scratch, seen_max),
        );
        for (q, scores) in scratch.chunks_exact_mut(seen_max).enumerate() {
            let seen = past + i0 + q + 1;
            let (live, masked) = scores.split_at_mut(seen);
            softmax_in_place(path, live, scale);
            masked.fill(0.0);
        }
        let values = MatrixRef::F32(Rows {
            data: &vt[..(hd - 1) * cap + seen_max],
            rows: hd,
            cols: seen_max,
            ld: cap,
        });
        let probs = Rows::dense(&scratch[..], r, seen_max);
        matmul(
            path,
            values,
            probs,
            0..hd,
            Out::store(&mut out[i0 * out_ld..], out_ld),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One head against the textbook formula, with past positions and a
    /// number of new ones that leaves a partial group.
    #[test]
    fn attention_matches_the_formula() {
        let (hd, cap, past, n, c) = (8, 16, 3, 6, 8);
        let val = |i: usize| ((i * 37 % 29) as f32 - 14.0) / 10.0;
        let mut k = vec![0f32; cap * hd];
        let mut vt = vec![0f32; hd * cap];
        for p in 0..past {
            for d in 0..hd {
                k[p * hd + d] = val(1000 + p * hd + d);
                vt[d * cap + p] = val(2000 + p * hd + d);
            }
        }
        let qkv: Vec<f32> = (0..n * 3 * c).map(val).collect();
        let mut out = vec![0f32; n * c];
        for path in KernelPath::ALL.into_iter().filter(|p| p.supported()) {
            let (mut k, mut vt) = (k.clone(), vt.clone());
            let head = Head {
                k: &mut k,
                vt: &mut vt,
                capacity: cap,
                head_dim: hd,
                past,
                n,
                qkv: &qkv,
                qkv_ld: 3 * c,
                c,
                out: &mut out,
                out_ld: c,
            };
            attend(path, head, &mut Vec::new());
            let key = |p: usize, d: usize| {
                if p < past {
                    k[p * hd + d]
                } else {
                    qkv[(p - past) * 3 * c + c + d]
                }
            };
            let value = |p: usize, d: usize| {
                if p < past {
                    vt[d * cap + p]
                } else {
                    qkv[(p - past) * 3 * c + 2 * c + d]
                }
            };
            for i in 0..n {
                let seen = past + i + 1;
                let s: Vec<f64> = (0..seen)
                    .map(|p| {
                        (0..hd)
                            .map(|d| qkv[i * 3 * c + d] as f64 * key(p, d) as f64)
                            .sum::<f64>()
                            / (hd as f64).sqrt()
                    })
                    .collect();
                let max = s.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
                let z: f64 = e.iter().sum();
                for d in 0..hd {
                    let want: f64 = (0..seen).map(|p| e[p] / z * value(p, d) as f64).sum();
                    let got = out[i * c + d] as f64;
                    assert!(
                        (got - want).abs() < 1e-5,
                        "{path:?} query {i} dim {d}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
