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

#[path = "common/decode_step.rs"]
mod shared;
use shared::{check_op, fill, odd, rounded_checkpoint};

fn each_op(config: &Gpt2Config, precision: Precision, pos: u32) {
    let ckpt = rounded_checkpoint(config, 5, precision);
    let plan = Plan::decode(config, 2, config.n_positions, true);
    let mut gpu = CudaStep::load(0, &ckpt, plan.clone(), precision).unwrap();
    let mut reference = Reference::new(&plan, &ckpt).unwrap();
    fill(&plan, &mut reference, pos);
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
        if plan.ops[i] == Op::Argmax {
            assert_eq!(gpu.read_u32(Buf::Ids).unwrap(), reference.ids());
            assert_eq!(gpu.read_u32(Buf::Pos).unwrap(), [pos + 1]);
        }
        let label = format!("{precision:?}, pos {pos}");
        check_op(&plan, i, &reference, &label, |buf| {
            gpu.read_f32(buf).unwrap()
        });
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
    let ckpt = rounded_checkpoint(&config, 11, Precision::F32);
    let plan = Plan::decode(&config, 1, 128, true);
    let mut gpu = CudaStep::load(0, &ckpt, plan, Precision::F32).unwrap();
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
