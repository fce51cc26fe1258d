//! The linear kernels (tiled and row-dot matrix-matrix paths, the decode
//! matrix-vector kernel) against a plain CPU loop, with every epilogue,
//! writing a column slice of the logits, and from f16 weights.

use super::tests::{assert_close, dims_buffer, gpu, run, values};
use super::*;
use crate::backend::wgpu::gpu::Gpu;

/// The one-pass linear kernels a model can run for `rows` rows: the
/// matrix-matrix paths, and the decode kernel where it applies.
#[derive(Debug, Clone, Copy)]
enum Linear {
    Matmul(Path),
    Matvec,
}

fn linear_paths(rows: usize) -> Vec<Linear> {
    let mut paths = vec![Linear::Matmul(Path::Tiled), Linear::Matmul(Path::RowDot)];
    if rows <= MATVEC_ROWS as usize {
        paths.push(Linear::Matvec);
    }
    paths
}

/// Runs one linear layer of `shape` through `path` and reads `n` floats of y.
fn run_linear(
    gpu: &Gpu,
    shape: MatmulShape,
    f16: bool,
    path: Linear,
    buffers: &[&wgpu::Buffer],
    rows: usize,
    n: usize,
) -> Vec<f32> {
    let y = buffers[4];
    match path {
        Linear::Matmul(p) => {
            let mm = Matmul::new(gpu, shape, f16, Kind::Linear);
            let group = mm.bind(gpu, buffers);
            run(gpu, y, n, |r| mm.encode_path(r, &group, rows as u32, p))
        }
        Linear::Matvec => {
            let mv = Matvec::new(gpu, shape, Prologue::Plain, f16, Kind::Linear);
            let group = mv.bind(gpu, buffers);
            run(gpu, y, n, |r| mv.encode(r, &group, rows as u32))
        }
    }
}

fn gelu(v: f32) -> f32 {
    0.5 * v * (1.0 + (0.797_884_6 * (v + 0.044715 * v * v * v)).tanh())
}

#[test]
fn matmul_matches_cpu_for_every_path_and_epilogue() {
    let gpu = gpu();
    // (rows, K, N): K = 67 takes the decode kernel's scalar loads, 2100 its
    // second chunk of the input row.
    let cases = [
        (1, 80, 50257),
        (3, 67, 131),
        (8, 80, 240),
        (2, 2100, 70),
        (67, 80, 131),
        (130, 67, 200),
    ];
    for (rows, k, n) in cases {
        let x = values(rows * k, 1);
        let w = values(n * k, 2);
        let b = values(n, 3);
        let y0 = values(rows * n, 4);
        let dims = dims_buffer(
            &gpu,
            Dims {
                tokens: rows as u32,
                ..Default::default()
            },
        );
        for epilogue in [
            Epilogue::None,
            Epilogue::Bias,
            Epilogue::Gelu,
            Epilogue::Residual,
        ] {
            let want: Vec<f32> = (0..rows * n)
                .map(|i| {
                    let (t, j) = (i / n, i % n);
                    let acc: f32 = (0..k).map(|q| x[t * k + q] * w[j * k + q]).sum();
                    match epilogue {
                        Epilogue::None => acc,
                        Epilogue::Bias => acc + b[j],
                        Epilogue::Gelu => gelu(acc + b[j]),
                        Epilogue::Residual => y0[i] + (acc + b[j]),
                    }
                })
                .collect();
            let shape = MatmulShape::linear(k, n, epilogue);
            let (xb, wb, bb) = (
                gpu.upload("x", &x),
                gpu.upload("w", &w),
                gpu.upload("b", &b),
            );
            for path in linear_paths(rows) {
                let yb = gpu.upload("y", &y0);
                let buffers = [&dims, &xb, &wb, &bb, &yb];
                let got = run_linear(&gpu, shape, false, path, &buffers, rows, rows * n);
                assert_close(
                    &format!("{rows}x{k} · {n} {epilogue:?} {path:?}"),
                    &got,
                    &want,
                    // Rounding grows with the length of the dot products.
                    2e-5 * (k as f32 / 80.0).sqrt().max(1.0),
                );
            }
        }
    }
}

#[test]
fn matmul_writes_a_column_slice_of_the_logits_rows() {
    let gpu = gpu();
    let (rows, k, ldy, col0, n) = (5, 67, 300, 123, 101);
    let x = values(rows * k, 5);
    let w = values(n * k, 6);
    let y0 = values(rows * ldy, 7);
    // Output row j reads position j: one new position per row, its logits asked.
    let dims = dims_buffer(
        &gpu,
        Dims {
            tokens: 99,
            fresh: 1,
            last: 1,
            out_n: rows as u32,
            ..Default::default()
        },
    );
    let shape = MatmulShape {
        k,
        n,
        ldy,
        col0,
        epilogue: Epilogue::None,
        out_rows: true,
        kv: false,
    };
    let mut want = y0.clone();
    for t in 0..rows {
        for j in 0..n {
            want[t * ldy + col0 + j] = (0..k).map(|q| x[t * k + q] * w[j * k + q]).sum();
        }
    }
    let (xb, wb) = (gpu.upload("x", &x), gpu.upload("w", &w));
    for path in linear_paths(rows) {
        let yb = gpu.upload("y", &y0);
        let buffers = [&dims, &xb, &wb, &wb, &yb];
        let got = run_linear(&gpu, shape, false, path, &buffers, rows, rows * ldy);
        assert_close(&format!("slice {path:?}"), &got, &want, 2e-5);
    }
}

#[test]
fn matmul_reads_f16_weights_exactly_as_widened() {
    let gpu = gpu();
    if !gpu.shader_f16 {
        eprintln!("this adapter has no shader-f16: the f16 path is not exercised here");
        return;
    }
    let (rows, k, n) = (3, 80, 131);
    let x = values(rows * k, 8);
    let w: Vec<half::f16> = values(n * k, 9)
        .into_iter()
        .map(half::f16::from_f32)
        .collect();
    let want: Vec<f32> = (0..rows * n)
        .map(|i| {
            (0..k)
                .map(|q| x[(i / n) * k + q] * w[(i % n) * k + q].to_f32())
                .sum()
        })
        .collect();
    let dims = dims_buffer(
        &gpu,
        Dims {
            tokens: rows as u32,
            ..Default::default()
        },
    );
    let shape = MatmulShape::linear(k, n, Epilogue::None);
    let (xb, wb) = (gpu.upload("x", &x), gpu.upload("w", &w));
    for path in linear_paths(rows) {
        let yb = gpu.storage("y", (rows * n * 4) as u64);
        let buffers = [&dims, &xb, &wb, &xb, &yb];
        let got = run_linear(&gpu, shape, true, path, &buffers, rows, rows * n);
        assert_close(&format!("f16 {path:?}"), &got, &want, 2e-5);
    }
}
