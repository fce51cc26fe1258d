//! Attention and the KV store against the CPU: c_attn's epilogue writing
//! the new keys and values into the cache, then every new position over its
//! whole context (the prompt's path), on short contexts and long ones.

use super::tests::{assert_close, dims_buffer, gpu, run, values};
use super::*;

/// Causal attention of `fresh` new positions per row over `past + fresh` cached ones.
#[allow(clippy::too_many_arguments)]
pub(super) fn attention_cpu(
    qkv: &[f32],
    kc: &[f32],
    vc: &[f32],
    rows: usize,
    fresh: usize,
    past: usize,
    cap: usize,
    c: usize,
    h: usize,
) -> Vec<f32> {
    let d = c / h;
    let mut out = vec![0f32; rows * fresh * c];
    for r in 0..rows {
        for i in 0..fresh {
            let t = r * fresh + i;
            for head in 0..h {
                let q = &qkv[t * 3 * c + head * d..t * 3 * c + head * d + d];
                let ctx = past + i + 1;
                let scores: Vec<f32> = (0..ctx)
                    .map(|p| {
                        let k = &kc[(r * cap + p) * c + head * d..][..d];
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() / (d as f32).sqrt()
                    })
                    .collect();
                let m = scores.iter().cloned().fold(f32::MIN, f32::max);
                let e: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
                let z: f32 = e.iter().sum();
                for j in 0..d {
                    out[t * c + head * d + j] = (0..ctx)
                        .map(|p| e[p] * vc[(r * cap + p) * c + head * d + j])
                        .sum::<f32>()
                        / z;
                }
            }
        }
    }
    out
}

/// `x W^T + b` on the CPU: x [rows, k], w [n, k].
pub(super) fn linear_cpu(x: &[f32], w: &[f32], b: &[f32], k: usize) -> Vec<f32> {
    let n = b.len();
    x.chunks(k)
        .flat_map(|row| {
            (0..n).map(move |j| {
                row.iter()
                    .zip(&w[j * k..(j + 1) * k])
                    .map(|(a, c)| a * c)
                    .sum::<f32>()
                    + b[j]
            })
        })
        .collect()
}

/// The cache after storing the keys and values of `qkv`'s new positions.
#[allow(clippy::too_many_arguments)]
pub(super) fn stored_cpu(
    qkv: &[f32],
    cache: &[f32],
    part: usize,
    fresh: usize,
    past: usize,
    cap: usize,
    c: usize,
) -> Vec<f32> {
    let mut out = cache.to_vec();
    for (t, row) in qkv.chunks(3 * c).enumerate() {
        let (r, i) = (t / fresh, t % fresh);
        out[(r * cap + past + i) * c..][..c].copy_from_slice(&row[part * c..(part + 1) * c]);
    }
    out
}

#[test]
fn c_attn_stores_keys_and_values_and_attention_matches_cpu() {
    let gpu = gpu();
    // (rows, fresh, past, cap, C, H): short and long contexts (over one 64-block).
    for (rows, fresh, past, cap, c, h) in [
        (2, 3, 5, 12, 80, 5),
        (1, 1, 130, 140, 128, 2),
        (3, 67, 0, 70, 80, 5),
        (2, 2, 63, 66, 256, 1),
    ] {
        let tokens = rows * fresh;
        let x = values(tokens * c, 19);
        let (w, b) = (values(3 * c * c, 20), values(3 * c, 23));
        let kc = values(rows * cap * c, 21);
        let vc = values(rows * cap * c, 22);
        let dims = dims_buffer(
            &gpu,
            Dims {
                tokens: tokens as u32,
                fresh: fresh as u32,
                past: past as u32,
                cap: cap as u32,
                ..Default::default()
            },
        );
        let qkv = linear_cpu(&x, &w, &b, c);
        let want_k = stored_cpu(&qkv, &kc, 1, fresh, past, cap, c);
        let want_v = stored_cpu(&qkv, &vc, 2, fresh, past, cap, c);
        let want = attention_cpu(&qkv, &want_k, &want_v, rows, fresh, past, cap, c, h);
        let shape = MatmulShape {
            kv: true,
            ..MatmulShape::linear(c, 3 * c, Epilogue::Bias)
        };
        let c_attn = Matmul::new(&gpu, shape, false, Kind::Linear);
        let attention = Attention::new(&gpu, c, h, 1);
        let upload = |v: &[f32]| gpu.upload("t", v);
        let (xb, wb, bb) = (upload(&x), upload(&w), upload(&b));
        let (kb, vb) = (upload(&kc), upload(&vc));
        let qkvb = gpu.storage("qkv", (tokens * 3 * c * 4) as u64);
        let out = gpu.storage("out", (tokens * c * 4) as u64);
        let ga = c_attn.bind(&gpu, &[&dims, &xb, &wb, &bb, &qkvb, &kb, &vb]);
        let gb = attention.bind(&gpu, [&dims, &qkvb, &kb, &vb, &out]);
        let got = run(&gpu, &out, tokens * c, |r| {
            c_attn.encode(r, &ga, tokens as u32);
            attention.encode(r, &gb, tokens as u32, (past + fresh) as u32);
        });
        let what = format!("rows {rows} new {fresh} past {past} C {c} H {h}");
        let got_k = run(&gpu, &kb, rows * cap * c, |_| {});
        let got_v = run(&gpu, &vb, rows * cap * c, |_| {});
        assert_close(&format!("stored keys, {what}"), &got_k, &want_k, 2e-5);
        assert_close(&format!("stored values, {what}"), &got_v, &want_v, 2e-5);
        assert_close(&format!("attention, {what}"), &got, &want, 5e-5);
    }
}
