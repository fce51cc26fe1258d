//! What the fused decode step's kernel tests share, on the CPU
//! (`cuda_kernels_on_cpu.rs`) and on a GPU (`cuda_step.rs`): checkpoints whose
//! values a half-precision type holds exactly, odd shapes, buffers of chosen
//! values, and the outputs each op writes.
#![allow(dead_code)]

use engine::backend::decode_step::reference::Reference;
use engine::backend::decode_step::{Buf, Op, Plan};
use engine::backend::Precision;
use engine::config::Gpt2Config;
use engine::weights::random::{write_safetensors, RandomCheckpoint};
use engine::weights::{expected_tensors, Gpt2Checkpoint, SafetensorsFile};
use half::{bf16, f16};

/// A seeded checkpoint of `config`, every value rounded to `precision`, so
/// that the reference (f32) and the kernels (reading `precision`) hold the
/// same weights.
pub fn rounded_checkpoint(config: &Gpt2Config, seed: u64, precision: Precision) -> Gpt2Checkpoint {
    let random = RandomCheckpoint::new(config.clone(), seed);
    let tensors: Vec<(String, &str, Vec<usize>, Vec<u8>)> = expected_tensors(config)
        .into_iter()
        .map(|(name, shape)| {
            let values: Vec<f32> = random
                .values(&name, shape.iter().product())
                .into_iter()
                .map(|x| match precision {
                    Precision::F16 => f16::from_f32(x).to_f32(),
                    Precision::Bf16 => bf16::from_f32(x).to_f32(),
                    Precision::F32 => x,
                })
                .collect();
            (name, "F32", shape, bytemuck::cast_slice(&values).to_vec())
        })
        .collect();
    let bytes = write_safetensors(&tensors);
    let file = SafetensorsFile::from_bytes(bytes, "rounded.safetensors").unwrap();
    Gpt2Checkpoint::new(file, config).unwrap()
}

/// Odd shapes: heads of 5 dimensions, rows of 20 and 80 values (not
/// multiples of 8, so half-precision weights take the one-value loads), a
/// cache of 300 positions (two attention splits).
pub fn odd() -> Gpt2Config {
    Gpt2Config {
        n_layer: 1,
        n_embd: 20,
        n_head: 4,
        n_positions: 300,
        vocab_size: 97,
        ..Gpt2Config::preset("gpt2").unwrap()
    }
}

/// Multiples of 8 everywhere: every weight type takes the 16-byte loads.
pub fn even() -> Gpt2Config {
    Gpt2Config {
        n_embd: 32,
        n_head: 2,
        ..odd()
    }
}

/// A deterministic spread of values in about [-2, 2].
pub fn noise(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 4001) as f32 / 1000.0 - 2.0
        })
        .collect()
}

/// The largest difference of `got` from `want`, relative to `1 + |want|`.
pub fn worst(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f32::max)
}

/// Fills the reference's f32 buffers with noise (each attention split's
/// `l`, a sum of exponentials, positive), rows' ids 3 and 96, position `pos`.
pub fn fill(plan: &Plan, reference: &mut Reference, pos: u32) {
    let d = plan.config.n_embd / plan.config.n_head;
    for (i, buf) in plan.buffers().into_iter().enumerate() {
        if buf.is_u32() {
            continue;
        }
        let mut values = noise(plan.len(buf), i as u32 + 1);
        if buf == Buf::Part {
            for (j, v) in values.iter_mut().enumerate() {
                if j % (d + 2) == 1 {
                    *v = v.abs() + 0.5;
                }
            }
        }
        reference.set_buf(buf, &values);
    }
    reference.set_ids(&[3, 96]);
    reference.set_pos(pos);
}

/// The f32 buffers `op` writes.
pub fn outputs(op: &Op) -> Vec<Buf> {
    match op {
        Op::Embed => vec![Buf::X],
        Op::Matvec { output, kv, .. } => {
            let mut o = vec![*output];
            if let Some(l) = kv {
                o.extend([Buf::Keys(*l), Buf::Values(*l)]);
            }
            o
        }
        Op::Attention { .. } => vec![Buf::Part],
        Op::Argmax => Vec::new(),
    }
}

/// Checks what op `i` wrote (`got` reads a buffer back) against the
/// reference, which has run it too; prints each buffer's largest difference.
pub fn check_op(
    plan: &Plan,
    i: usize,
    reference: &Reference,
    label: &str,
    got: impl Fn(Buf) -> Vec<f32>,
) {
    for buf in outputs(&plan.ops[i]) {
        let w = worst(&got(buf), reference.buf(buf));
        println!(
            "{label}: op {i} ({:?}) {buf:?}: largest difference {w:.2e}",
            kernel_of(&plan.ops[i])
        );
        assert!(
            w < 2e-5,
            "{label}: op {i} ({:?}) writes {buf:?} {w} away from the reference",
            plan.ops[i]
        );
    }
}

fn kernel_of(op: &Op) -> String {
    match op {
        Op::Matvec { .. } => op.product_kernel().unwrap_or("?").to_string(),
        other => format!("{other:?}"),
    }
}
