use super::reference::Reference;
use super::*;
use crate::backend::cpu::CpuModel;
use crate::backend::{block_on, LanguageModel, Precision};
use crate::weights::random::RandomCheckpoint;
use crate::weights::{Gpt2Checkpoint, SafetensorsFile};

pub(super) fn tiny() -> Gpt2Config {
    Gpt2Config {
        n_layer: 2,
        n_embd: 24,
        n_head: 3,
        n_positions: 40,
        vocab_size: 97,
        ..Gpt2Config::preset("gpt2").unwrap()
    }
}

pub(super) fn checkpoint(config: &Gpt2Config, seed: u64) -> Gpt2Checkpoint {
    let bytes = RandomCheckpoint::new(config.clone(), seed).safetensors_bytes();
    let file = SafetensorsFile::from_bytes(bytes, "random.safetensors").unwrap();
    Gpt2Checkpoint::new(file, config).unwrap()
}

#[test]
fn a_block_is_five_launches_and_a_gpt2_xl_token_243() {
    let xl = Gpt2Config::preset("gpt2-xl").unwrap();
    let plan = Plan::decode(&xl, 1, 1024, true);
    assert_eq!(plan.ops.len(), 1 + 48 * LAUNCHES_PER_BLOCK + 2);
    assert_eq!(plan.ops.len(), 243);
    const { assert!(LAUNCHES_PER_BLOCK <= 8) };
    for (l, block) in plan.ops[1..1 + 48 * 5].chunks(5).enumerate() {
        assert!(
            matches!(&block[0], Op::Matvec { kv: Some(k), .. } if *k == l),
            "block {l} starts with c_attn storing its keys and values: {:?}",
            block[0]
        );
        assert_eq!(block[1], Op::Attention { layer: l });
    }
    assert_eq!(plan.ops.last(), Some(&Op::Argmax));
    let sampling = Plan::decode(&xl, 4, 1024, false);
    assert_eq!(sampling.ops.len(), 242, "no argmax when the host picks");
    assert_eq!(plan.splits, 4);
}

#[test]
fn every_product_has_its_kernel() {
    let plan = Plan::decode(&tiny(), 2, 16, true);
    let roles: Vec<&str> = plan.ops.iter().filter_map(Op::product_kernel).collect();
    let products = plan
        .ops
        .iter()
        .filter(|op| matches!(op, Op::Matvec { .. }))
        .count();
    assert_eq!(
        roles.len(),
        products,
        "a product without a kernel: {:?}",
        plan.ops
    );
    assert_eq!(&roles[..4], ["c_attn", "attn_proj", "c_fc", "mlp_proj"]);
    assert_eq!(roles.last(), Some(&"logits"));
    // The kernel source instantiates each one for every weight type.
    let source = include_str!("kernels.cu");
    for (role, prologue, epilogue, kv) in PRODUCT_KERNELS {
        let entry = format!("matvec_##NAME##_{role}(");
        let at = source
            .find(&entry)
            .unwrap_or_else(|| panic!("kernels.cu has no matvec_<t>_{role}"));
        let pro = match prologue {
            "layer_norm" => "PRO_LN",
            "combine" => "PRO_COMBINE",
            _ => "PRO_PLAIN",
        };
        let epi = match epilogue {
            Epilogue::Store => "EPI_STORE",
            Epilogue::Bias => "EPI_BIAS",
            Epilogue::Gelu => "EPI_GELU",
            Epilogue::Residual => "EPI_RESIDUAL",
        };
        let call = format!("matvec<T, {pro}, {epi}, {kv}>");
        let body = &source[at..];
        let next = body.find("matvec<T,").expect("the entry's call");
        assert!(
            body[next..].starts_with(&call),
            "matvec_<t>_{role} should call {call}: {}",
            &body[next..next + 50]
        );
    }
}

#[test]
fn buffers_are_sized_once_for_the_rows_and_the_cache() {
    let xl = Gpt2Config::preset("gpt2-xl").unwrap();
    let plan = Plan::decode(&xl, 4, 1024, false);
    assert_eq!(plan.len(Buf::Logits), 4 * 50257);
    assert_eq!(plan.len(Buf::Keys(47)), 4 * 1024 * 1600);
    assert_eq!(plan.len(Buf::Part), 4 * 25 * 4 * (64 + 2));
    let kv_bytes = 2 * 48 * 4 * 1024 * 1600 * 4;
    let bytes = plan.buffer_bytes();
    assert!(
        bytes > kv_bytes && bytes < kv_bytes + (4 << 20),
        "{bytes} bytes: the caches ({kv_bytes}) and a few MB of activations"
    );
    assert_eq!(plan.buffers().len(), 8 + 2 * 48);
}

/// The logits of every step of `prompts` (one row each, fed one token a
/// step) by the plan on the CPU reference, against the CPU backend's
/// forward pass over the same tokens; the largest difference.
fn reference_against_cpu_backend(span: usize, rows: usize) -> f32 {
    let config = tiny();
    let ckpt = checkpoint(&config, 7);
    let model = CpuModel::load(&ckpt, &config, Precision::F32).unwrap();
    let plan = Plan::decode(&config, rows, 32, false).with_span(span);
    let mut reference = Reference::new(&plan, &ckpt).unwrap();
    let prompts: Vec<Vec<u32>> = (0..rows)
        .map(|r| {
            (0..20)
                .map(|i| ((i * 13 + r * 31 + 5) % 97) as u32)
                .collect()
        })
        .collect();
    let mut cache = model.new_cache(rows).unwrap();
    let mut worst = 0f32;
    for step in 0..20 {
        let ids: Vec<u32> = prompts.iter().map(|p| p[step]).collect();
        reference.set_ids(&ids);
        reference.set_pos(step as u32);
        reference.step().unwrap();
        let tokens: Vec<&[u32]> = prompts.iter().map(|p| &p[step..step + 1]).collect();
        let want = block_on(model.forward(&mut cache, &tokens, 1)).unwrap();
        let got = reference.buf(Buf::Logits);
        for r in 0..rows {
            let row = &got[r * 97..(r + 1) * 97];
            for (a, b) in row.iter().zip(want.get(r, 0)) {
                worst = worst.max((a - b).abs());
            }
        }
    }
    worst
}

#[test]
fn the_plan_on_the_cpu_reference_gives_the_cpu_backends_logits() {
    // One split per step up to 32 positions, and spans of 3: up to 7 splits
    // combined, some past the context.
    for (span, rows) in [(SPAN, 1), (3, 1), (3, 2)] {
        let worst = reference_against_cpu_backend(span, rows);
        println!("span {span}, {rows} rows: largest logit difference {worst:e}");
        assert!(
            worst < 1e-4,
            "span {span}, {rows} rows: the plan's logits differ from the CPU backend's by {worst}"
        );
    }
}

#[test]
fn greedy_steps_feed_themselves_the_ids_the_cpu_backend_picks() {
    let config = tiny();
    let ckpt = checkpoint(&config, 3);
    let model = CpuModel::load(&ckpt, &config, Precision::F32).unwrap();
    let plan = Plan::decode(&config, 1, 32, true).with_span(4);
    let mut reference = Reference::new(&plan, &ckpt).unwrap();
    let prompt = [11u32, 42, 7, 90, 3];
    // The prompt, one token a step: the host overwrites the argmax's id, the
    // position moves on by itself.
    for &id in &prompt {
        reference.set_ids(&[id]);
        reference.step().unwrap();
    }
    assert_eq!(reference.pos(), prompt.len() as u32);
    let mut got = vec![reference.ids()[0]];
    for _ in 0..15 {
        reference.step().unwrap();
        got.push(reference.ids()[0]);
    }

    let mut cache = model.new_cache(1).unwrap();
    let mut want = Vec::new();
    let mut logits = block_on(model.forward(&mut cache, &[&prompt], 1)).unwrap();
    for _ in 0..16 {
        let row = logits.get(0, 0);
        let mut best = 0;
        for (j, &x) in row.iter().enumerate() {
            if x > row[best] {
                best = j;
            }
        }
        want.push(best as u32);
        logits = block_on(model.forward(&mut cache, &[&[best as u32]], 1)).unwrap();
    }
    assert_eq!(
        got, want,
        "greedy ids of the plan's steps and of the CPU backend"
    );
    assert_eq!(reference.pos(), (prompt.len() + 15) as u32);
    let history = &reference.history()[prompt.len()..prompt.len() + 16];
    assert_eq!(
        history,
        &want[..],
        "the ids in the history, at their positions"
    );
}

#[test]
fn a_step_past_its_cache_or_vocabulary_is_an_error() {
    let config = tiny();
    let ckpt = checkpoint(&config, 1);
    let plan = Plan::decode(&config, 1, 8, true);
    let mut reference = Reference::new(&plan, &ckpt).unwrap();
    reference.set_pos(8);
    let e = reference.step().unwrap_err().to_string();
    assert!(e.contains("past the step's cache"), "{e}");
    reference.set_pos(0);
    reference.set_ids(&[97]);
    let e = reference.step().unwrap_err().to_string();
    assert!(e.contains("vocabulary"), "{e}");
}
