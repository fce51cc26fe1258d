//! The decode kernels of real GPUs against the CPU: one fused attention
//! half-block (ln_1 folded into c_attn, the KV store in its epilogue,
//! attention split over the context, the splits combined in c_proj's
//! prologue) at contexts around the split and workgroup sizes, and the
//! final layer norm folded into the logits of selected rows.

use super::tests::{assert_close, dims_buffer, gpu, layer_norm_cpu, run, values};
use super::tests_attention::{attention_cpu, linear_cpu, stored_cpu};
use super::*;

/// Residual-stream-like values: spread and off-centre, as layer norms see them.
fn residual(n: usize, seed: u64) -> Vec<f32> {
    values(n, seed).iter().map(|v| v * 3.0 + 0.5).collect()
}

#[test]
fn fused_attention_half_block_matches_cpu_as_the_context_grows() {
    let gpu = gpu();
    let eps = 1e-5f32;
    // (rows, fresh, past, C, H): one token; beams; a speculative verify pass;
    // contexts 1, 63, 64, 65 and up to 1024 (four splits of 256).
    for (rows, fresh, past, c, h) in [
        (1, 1, 0, 80, 5),
        (1, 1, 62, 80, 5),
        (1, 1, 63, 128, 2),
        (1, 1, 64, 80, 5),
        (2, 1, 300, 80, 5),
        (1, 5, 250, 128, 2),
        (1, 1, 1023, 128, 2),
        (3, 2, 700, 64, 1),
    ] {
        let (tokens, cap): (usize, usize) = (rows * fresh, past + fresh);
        let splits = cap.div_ceil(SPAN);
        let x = residual(tokens * c, 40);
        let (g1, be1) = (values(c, 41), values(c, 42));
        let (wa, ba) = (values(3 * c * c, 43), values(3 * c, 44));
        let (wp, bp) = (values(c * c, 45), values(c, 46));
        let kc = values(rows * cap * c, 47);
        let vc = values(rows * cap * c, 48);
        let dims = dims_buffer(
            &gpu,
            Dims {
                tokens: tokens as u32,
                fresh: fresh as u32,
                past: past as u32,
                cap: cap as u32,
                splits: splits as u32,
                ..Default::default()
            },
        );
        let hn: Vec<f32> = x
            .chunks(c)
            .flat_map(|r| layer_norm_cpu(r, &g1, &be1, eps))
            .collect();
        let qkv = linear_cpu(&hn, &wa, &ba, c);
        let want_k = stored_cpu(&qkv, &kc, 1, fresh, past, cap, c);
        let want_v = stored_cpu(&qkv, &vc, 2, fresh, past, cap, c);
        let a = attention_cpu(&qkv, &want_k, &want_v, rows, fresh, past, cap, c, h);
        let proj = linear_cpu(&a, &wp, &bp, c);
        let want: Vec<f32> = x.iter().zip(&proj).map(|(r, p)| r + p).collect();

        let ln = Prologue::LayerNorm { eps: eps as f64 };
        let c_attn_shape = MatmulShape {
            kv: true,
            ..MatmulShape::linear(c, 3 * c, Epilogue::Bias)
        };
        let c_attn = Matvec::new(&gpu, c_attn_shape, ln, false, Kind::Linear);
        let attention = Attention::new(&gpu, c, h, splits);
        let combine = Prologue::Combine { heads: h, splits };
        let proj_shape = MatmulShape::linear(c, c, Epilogue::Residual);
        let attn_proj = Matvec::new(&gpu, proj_shape, combine, false, Kind::Linear);
        let upload = |v: &[f32]| gpu.upload("t", v);
        let (xb, g1b, be1b) = (upload(&x), upload(&g1), upload(&be1));
        let (wab, bab, wpb, bpb) = (upload(&wa), upload(&ba), upload(&wp), upload(&bp));
        let (kb, vb) = (upload(&kc), upload(&vc));
        let qkvb = gpu.storage("qkv", (tokens * 3 * c * 4) as u64);
        let part = gpu.storage("part", (tokens * h * splits * (c / h + 2) * 4) as u64);
        let ga = c_attn.bind(
            &gpu,
            &[&dims, &xb, &wab, &bab, &qkvb, &kb, &vb, &g1b, &be1b],
        );
        let gs = attention.bind_split(&gpu, [&dims, &qkvb, &kb, &vb, &part]);
        let gp = attn_proj.bind(&gpu, &[&dims, &part, &wpb, &bpb, &xb]);
        let got = run(&gpu, &xb, tokens * c, |r| {
            c_attn.encode(r, &ga, tokens as u32);
            attention.encode_split(r, &gs, tokens as u32, cap as u32, splits as u32);
            attn_proj.encode(r, &gp, tokens as u32);
        });
        let what = format!("rows {rows} new {fresh} context {cap} C {c} H {h} splits {splits}");
        let got_qkv = run(&gpu, &qkvb, tokens * 3 * c, |_| {});
        assert_close(&format!("qkv, {what}"), &got_qkv, &qkv, 1e-4);
        let got_k = run(&gpu, &kb, rows * cap * c, |_| {});
        let got_v = run(&gpu, &vb, rows * cap * c, |_| {});
        assert_close(&format!("stored keys, {what}"), &got_k, &want_k, 1e-4);
        assert_close(&format!("stored values, {what}"), &got_v, &want_v, 1e-4);
        assert_close(&format!("x + c_proj(attention), {what}"), &got, &want, 2e-4);
    }
}

#[test]
fn final_layer_norm_folds_into_the_logits_of_selected_rows() {
    let gpu = gpu();
    let eps = 1e-5f32;
    // 2 rows of 3 new positions, the last 2 of each asked; output rows 1..4.
    let (rows, fresh, last, out0, out_n) = (2usize, 3usize, 2usize, 1usize, 3usize);
    for (c, v) in [(80usize, 1000usize), (67, 301)] {
        let x = residual(rows * fresh * c, 50);
        let (g, be) = (values(c, 51), values(c, 52));
        let wte = values(v * c, 53);
        let dims = dims_buffer(
            &gpu,
            Dims {
                tokens: (rows * fresh) as u32,
                fresh: fresh as u32,
                last: last as u32,
                out0: out0 as u32,
                out_n: out_n as u32,
                ..Default::default()
            },
        );
        let want: Vec<f32> = (out0..out0 + out_n)
            .flat_map(|o| {
                let t = (o / last) * fresh + fresh - last + o % last;
                let hn = layer_norm_cpu(&x[t * c..(t + 1) * c], &g, &be, eps);
                linear_cpu(&hn, &wte, &vec![0.0; v], c)
            })
            .collect();
        let shape = MatmulShape {
            out_rows: true,
            ..MatmulShape::linear(c, v, Epilogue::None)
        };
        let ln = Prologue::LayerNorm { eps: eps as f64 };
        let logits = Matvec::new(&gpu, shape, ln, false, Kind::Logits);
        let upload = |d: &[f32]| gpu.upload("t", d);
        let (xb, gb, beb, wb) = (upload(&x), upload(&g), upload(&be), upload(&wte));
        let yb = gpu.storage("logits", (out_n * v * 4) as u64);
        let group = logits.bind(&gpu, &[&dims, &xb, &wb, &beb, &yb, &gb, &beb]);
        let got = run(&gpu, &yb, out_n * v, |r| {
            logits.encode(r, &group, out_n as u32)
        });
        assert_close(&format!("ln_f + logits C={c}"), &got, &want, 1e-4);
    }
}

#[test]
fn the_logits_summary_matches_the_host_with_ties_and_blocks() {
    use crate::backend::{Logits, TopLogits};
    let gpu = gpu();
    let vocab = 50257usize;
    let (out0, out_n) = (1usize, 3usize);
    let mut data = values(out_n * vocab, 60);
    for row in data.chunks_mut(vocab) {
        row[50000] = 3.0; // the same top logit twice: the lower id first
        row[7] = 3.0;
        row[100] = f32::NEG_INFINITY;
    }
    let summary = Summary::new(&gpu, vocab);
    let extra = [100u32, 5, 50256];
    let logits_b = gpu.upload("logits", &data);
    let extra_b = gpu.upload("extra", &extra);
    for k in [1usize, 21, 32] {
        let stride = Summary::stride(k, extra.len());
        let out = gpu.storage("summary", ((out0 + out_n) * stride * 4) as u64);
        let dims = dims_buffer(
            &gpu,
            Dims {
                out0: out0 as u32,
                out_n: out_n as u32,
                top_k: k as u32,
                extra_n: extra.len() as u32,
                ..Default::default()
            },
        );
        let group = summary.bind(&gpu, [&dims, &logits_b, &extra_b, &out]);
        let words: Vec<u32> = run(&gpu, &out, (out0 + out_n) * stride, |r| {
            summary.encode(r, &group, out_n as u32)
        })
        .iter()
        .map(|w| w.to_bits())
        .collect();
        let rows = Logits {
            rows: out_n,
            positions: 1,
            vocab,
            data: data.clone(),
        };
        let want = TopLogits::from_logits(&rows, k, &extra);
        let got = Summary::decode(&words[out0 * stride..], out_n, 1, k, &extra);
        for j in 0..out_n {
            let (g, w) = (got.last(j), want.last(j));
            assert_eq!(g.ids, w.ids, "k {k} row {j}: ids");
            assert_eq!(g.logits, w.logits, "k {k} row {j}: logits");
            assert_eq!(g.extra, w.extra, "k {k} row {j}: extra logits");
            let d = (g.log_sum_exp - w.log_sum_exp).abs();
            assert!(d < 1e-5, "k {k} row {j}: log-sum-exp off by {d:e}");
        }
    }
}
