//! The kernel tests' helpers, and the layer norm, embeddings and KV gather
//! kernels against a plain CPU reference, on shapes that are not multiples of
//! the workgroup sizes (vocab 50257, widths 67 and 80, odd row counts),
//! through whichever WebGPU adapter this machine has (lavapipe here).

use super::*;
use crate::backend::block_on;
use crate::backend::wgpu::gpu::{Gpu, GpuOptions};

pub(super) fn gpu() -> Gpu {
    block_on(Gpu::new(&GpuOptions::default()))
        .expect("a WebGPU adapter: install a Vulkan driver (Mesa's lavapipe: mesa-vulkan-drivers)")
}

/// Seeded values in [-1, 1).
pub(super) fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub(super) fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    let d = max_diff(got, want);
    assert!(d <= tol, "{what}: max |gpu - cpu| = {d:e} > {tol:e}");
}

/// Records `record`, runs it and reads `n` floats of `out`.
pub(super) fn run(
    gpu: &Gpu,
    out: &wgpu::Buffer,
    n: usize,
    record: impl FnOnce(&mut Recorder<'_>),
) -> Vec<f32> {
    let staging = gpu.staging((n * 4) as u64);
    let mut rec = Recorder::new(gpu);
    record(&mut rec);
    rec.copy(out, 0, &staging, 0, (n * 4) as u64);
    rec.submit();
    block_on(gpu.read(&staging, n)).unwrap()
}

fn uniform(gpu: &Gpu, bytes: &[u8]) -> wgpu::Buffer {
    let buffer = gpu.uniform("params", bytes.len() as u64);
    gpu.queue.write_buffer(&buffer, 0, bytes);
    buffer
}

pub(super) fn dims_buffer(gpu: &Gpu, dims: Dims) -> wgpu::Buffer {
    uniform(gpu, bytemuck::bytes_of(&dims))
}

pub(super) fn layer_norm_cpu(x: &[f32], g: &[f32], b: &[f32], eps: f32) -> Vec<f32> {
    let c = x.len() as f32;
    let mean = x.iter().sum::<f32>() / c;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / c;
    let rstd = 1.0 / (var + eps).sqrt();
    x.iter()
        .enumerate()
        .map(|(i, v)| (v - mean) * rstd * g[i] + b[i])
        .collect()
}

#[test]
fn layer_norm_matches_cpu_for_all_rows_and_for_selected_rows() {
    let gpu = gpu();
    for c in [80usize, 67, 1600] {
        let (rows, fresh, last) = (3usize, 7usize, 2usize);
        let tokens = rows * fresh;
        let x: Vec<f32> = values(tokens * c, 10)
            .iter()
            .map(|v| v * 3.0 + 0.5)
            .collect();
        let (g, b) = (values(c, 11), values(c, 12));
        let eps = 1e-5;
        let xb = gpu.upload("x", &x);
        let (gb, bb) = (gpu.upload("g", &g), gpu.upload("b", &b));
        // One dims for both runs: the last 2 positions of each row, 4 output
        // rows from row 1 on (read only when selecting).
        let (out0, out_n) = (1usize, 4usize);
        let dims = dims_buffer(
            &gpu,
            Dims {
                tokens: tokens as u32,
                fresh: fresh as u32,
                last: last as u32,
                out0: out0 as u32,
                out_n: out_n as u32,
                ..Default::default()
            },
        );
        let norm = |select: bool, rows: usize| {
            let ln = LayerNorm::new(&gpu, c, eps as f64, select);
            let yb = gpu.storage("y", (rows * c * 4) as u64);
            let group = ln.bind(&gpu, [&dims, &xb, &gb, &bb, &yb]);
            run(&gpu, &yb, rows * c, |r| ln.encode(r, &group, rows as u32))
        };
        let want: Vec<f32> = x
            .chunks(c)
            .flat_map(|r| layer_norm_cpu(r, &g, &b, eps))
            .collect();
        assert_close(
            &format!("layer norm C={c}"),
            &norm(false, tokens),
            &want,
            1e-5,
        );
        let got = norm(true, out_n);
        let want: Vec<f32> = (out0..out0 + out_n)
            .flat_map(|o| {
                let t = (o / last) * fresh + fresh - last + o % last;
                want[t * c..(t + 1) * c].to_vec()
            })
            .collect();
        assert_close(&format!("selected layer norm C={c}"), &got, &want, 1e-5);
    }
}

#[test]
fn embeddings_are_gathered_from_each_vocabulary_slice() {
    let gpu = gpu();
    let (c, v, positions) = (67usize, 1000usize, 40usize);
    let wte = values(v * c, 13);
    let wpe = values(positions * c, 14);
    let (rows, fresh, past) = (2usize, 5usize, 9usize);
    let ids: Vec<u32> = vec![0, 999, 400, 401, 17, 5, 600, 399, 998, 1];
    let tokens = rows * fresh;
    let dims = dims_buffer(
        &gpu,
        Dims {
            tokens: tokens as u32,
            fresh: fresh as u32,
            past: past as u32,
            ..Default::default()
        },
    );
    let idb = gpu.upload("ids", &ids);
    let wpeb = gpu.upload("wpe", &wpe);
    let xb = gpu.storage("x", (tokens * c * 4) as u64);
    // Three slices: 0..400, 400..800, 800..1000.
    let slices: Vec<(usize, usize)> = vec![(0, 400), (400, 400), (800, 200)];
    let kernels: Vec<(Embed, wgpu::Buffer)> = slices
        .iter()
        .map(|&(v0, vn)| {
            (
                Embed::new(&gpu, c, v0, vn, false),
                gpu.upload("wte", &wte[v0 * c..(v0 + vn) * c]),
            )
        })
        .collect();
    let groups: Vec<wgpu::BindGroup> = kernels
        .iter()
        .map(|(e, wb)| e.bind(&gpu, [&dims, &idb, wb, &wpeb, &xb]))
        .collect();
    let got = run(&gpu, &xb, tokens * c, |r| {
        for ((e, _), g) in kernels.iter().zip(&groups) {
            e.encode(r, g, tokens as u32);
        }
    });
    let want: Vec<f32> = (0..tokens * c)
        .map(|i| {
            let (t, j) = (i / c, i % c);
            wte[ids[t] as usize * c + j] + wpe[(past + t % fresh) * c + j]
        })
        .collect();
    assert_close("embeddings", &got, &want, 0.0);
}

#[test]
fn kv_gather_copies_rows_into_a_larger_cache() {
    let gpu = gpu();
    let (c, len, src_cap, dst_cap) = (67usize, 9usize, 10usize, 23usize);
    let map = [2u32, 0, 2, 1];
    let sk = values(3 * src_cap * c, 30);
    let sv = values(3 * src_cap * c, 31);
    let g = Gather {
        len: len as u32,
        out_rows: map.len() as u32,
        src_cap: src_cap as u32,
        dst_cap: dst_cap as u32,
    };
    let params = uniform(&gpu, bytemuck::bytes_of(&g));
    let mapb = gpu.upload("map", &map);
    let (skb, svb) = (gpu.upload("sk", &sk), gpu.upload("sv", &sv));
    let n = map.len() * dst_cap * c;
    let (dkb, dvb) = (
        gpu.upload("dk", &vec![7.0f32; n]),
        gpu.upload("dv", &vec![7.0f32; n]),
    );
    let gather = KvGather::new(&gpu, c);
    let group = gather.bind(&gpu, [&params, &mapb, &skb, &svb, &dkb, &dvb]);
    let got_v = run(&gpu, &dvb, n, |r| gather.encode(r, &group, g));
    let got_k = run(&gpu, &dkb, n, |_| {});
    for (src, got, what) in [(&sk, &got_k, "keys"), (&sv, &got_v, "values")] {
        let want: Vec<f32> = (0..n)
            .map(|i| {
                let (r, e) = (i / (dst_cap * c), i % (dst_cap * c));
                if e < len * c {
                    src[map[r] as usize * src_cap * c + e]
                } else {
                    7.0
                }
            })
            .collect();
        assert_close(what, got, &want, 0.0);
    }
}
