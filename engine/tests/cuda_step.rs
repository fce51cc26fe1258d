//! The decode step's fused CUDA kernels on a GPU (a build with `--features
//! cuda`, run by `scripts/gpu-check`): each kernel against the plan's CPU
//! reference on odd shapes, its largest difference printed, for f32, f16 and
//! bf16 weights; then greedy decoding by the captured graph against the CPU
//! backend's ids. Without a GPU every test fails with the driver's error.
#![cfg(feature = "cuda")]

use engine::backend::cpu::CpuModel;
use engine::backend::decode_step::cuda::CudaStep;
use engine::backend::decode_step::reference::Reference;
use engine::backend::decode_step::{Buf, Op, Plan};
use engine::backend::{block_on, LanguageModel, Precision};
use engine::config::Gpt2Config;
use engine::weights::random::{write_safetensors, RandomCheckpoint};
use engine::weights::{expected_tensors, Gpt2Checkpoint, SafetensorsFile};
use half::{bf16, f16};

/// A seeded checkpoint of `config`, its values rounded to `precision`.
fn checkpoint(config: &Gpt2Config, seed: u64, precision: Precision) -> Gpt2Checkpoint {
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
    let file =
        SafetensorsFile::from_bytes(write_safetensors(&tensors), "rounded.safetensors").unwrap();
    Gpt2Checkpoint::new(file, config).unwrap()
}

fn odd() -> Gpt2Config {
    Gpt2Config {
        n_layer: 1,
        n_embd: 20,
        n_head: 4,
        n_positions: 300,
        vocab_size: 97,
        ..Gpt2Config::preset("gpt2").unwrap()
    }
}

fn noise(n: usize, seed: u32) -> Vec<f32> {
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

fn worst(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f32::max)
}

fn each_op(config: &Gpt2Config, precision: Precision, pos: u32) {
    let ckpt = checkpoint(config, 5, precision);
    let plan = Plan::decode(config, 2, config.n_positions, true);
    let mut gpu = CudaStep::new(0, &ckpt, plan.clone(), precision).unwrap();
    let mut reference = Reference::new(&plan, &ckpt).unwrap();
    for (i, buf) in plan.buffers().into_iter().enumerate() {
        if !matches!(buf, Buf::Ids | Buf::Pos | Buf::History) {
            let mut values = noise(plan.len(buf), i as u32 + 1);
            if buf == Buf::Part {
                let d = config.n_embd / config.n_head;
                for (j, v) in values.iter_mut().enumerate() {
                    if j % (d + 2) == 1 {
                        *v = v.abs() + 0.5;
                    }
                }
            }
            reference.set_buf(buf, &values);
        }
    }
    reference.set_ids(&[3, 96]);
    reference.set_pos(pos);
    for i in 0..plan.ops.len() {
        for buf in plan.buffers() {
            match buf {
                Buf::Ids => gpu.set_ids(reference.ids()).unwrap(),
                Buf::Pos => gpu.set_pos(reference.pos()).unwrap(),
                Buf::History => {}
                b => gpu.write_f32(b, reference.buf(b)).unwrap(),
            }
        }
        gpu.launch(i).unwrap();
        gpu.synchronize().unwrap();
        reference.run(i);
        let outputs: Vec<Buf> = match &plan.ops[i] {
            Op::Embed => vec![Buf::X],
            Op::Matvec { output, kv, .. } => {
                let mut o = vec![*output];
                if let Some(l) = kv {
                    o.extend([Buf::Keys(*l), Buf::Values(*l)]);
                }
                o
            }
            Op::Attention { .. } => vec![Buf::Part],
            Op::Argmax => {
                assert_eq!(gpu.read_u32(Buf::Ids).unwrap(), reference.ids());
                assert_eq!(gpu.read_u32(Buf::Pos).unwrap(), [pos + 1]);
                reference.set_pos(pos);
                continue;
            }
        };
        for buf in outputs {
            let w = worst(&gpu.read_f32(buf).unwrap(), reference.buf(buf));
            println!("{precision:?}, pos {pos}: op {i} {buf:?}: largest difference {w:.2e}");
            assert!(
                w < 2e-5,
                "{precision:?}: op {i} ({:?}) writes {buf:?} {w} away",
                plan.ops[i]
            );
        }
    }
}

#[test]
fn each_kernel_matches_the_reference_on_odd_shapes() {
    for precision in [Precision::F32, Precision::F16, Precision::Bf16] {
        each_op(&odd(), precision, 270);
        each_op(&odd(), precision, 100);
    }
}

#[test]
fn greedy_by_the_captured_graph_gives_the_cpu_backends_ids() {
    let config = Gpt2Config {
        n_layer: 3,
        n_embd: 64,
        n_head: 4,
        n_positions: 128,
        vocab_size: 503,
        ..Gpt2Config::preset("gpt2").unwrap()
    };
    let ckpt = checkpoint(&config, 11, Precision::F32);
    let plan = Plan::decode(&config, 1, 128, true);
    let mut gpu = CudaStep::new(0, &ckpt, plan, Precision::F32).unwrap();
    let prompt = [17u32, 4, 88, 51, 300];
    for &id in &prompt {
        gpu.set_ids(&[id]).unwrap();
        gpu.step().unwrap();
    }
    // The rest on the device alone: each step's argmax feeds the next.
    for _ in 0..40 {
        gpu.step().unwrap();
    }
    let history = gpu.read_u32(Buf::History).unwrap();
    let got = &history[prompt.len()..prompt.len() + 41];

    let model = CpuModel::load(&ckpt, &config, Precision::F32).unwrap();
    let mut cache = model.new_cache(1).unwrap();
    let mut logits = block_on(model.forward(&mut cache, &[&prompt], 1)).unwrap();
    let mut want = Vec::new();
    for _ in 0..41 {
        let row = logits.get(0, 0);
        let best = (0..row.len()).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        want.push(best as u32);
        logits = block_on(model.forward(&mut cache, &[&[best as u32]], 1)).unwrap();
    }
    assert_eq!(
        got,
        &want[..],
        "greedy ids by the graph and by the CPU backend"
    );
}
