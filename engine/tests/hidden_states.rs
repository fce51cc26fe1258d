//! `LanguageModel::forward_hidden` on every backend against candle's CPU
//! tensor ops (the reference path, itself checked against `transformers`):
//! `hidden_states[i]` of a prompt pass over two rows (the embeddings, a
//! block's output, the last after `ln_f`), DoLa's early exits through the
//! tied head, and a decode step after them; within the logits' tolerance.

mod common;

use common::{checkpoint, fixture, recipe};
use engine::backend::candle::CandleModel;
use engine::backend::cpu::CpuModel;
#[cfg(feature = "wgpu")]
use engine::backend::wgpu::{GpuOptions, KernelSet, WgpuModel};
use engine::backend::{block_on, Hidden, HiddenRequest, KvCache, LanguageModel, Precision};
use engine::config::Gpt2Config;
use engine::weights::Gpt2Checkpoint;

const TOLERANCE: f32 = 1e-4;

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The passes every backend runs: a 6-token prompt on two rows, then one
/// token each; the answers in order.
fn passes<M: LanguageModel>(model: &M, layers: usize) -> Vec<Hidden> {
    let all = [0, 1, layers];
    let last_only = [layers];
    let heads = [0, layers - 1];
    let prompt: [&[u32]; 2] = [&[5, 17, 290, 3, 1000, 9], &[50256, 2, 2, 8, 13, 40000]];
    let mut cache = model.new_cache(2).unwrap();
    let first = HiddenRequest {
        layers: &all,
        positions: 4,
        heads: &heads,
        lens: false,
    };
    let step = HiddenRequest {
        layers: &last_only,
        positions: 1,
        heads: &heads[1..],
        lens: false,
    };
    vec![
        block_on(model.forward_hidden(&mut cache, &prompt, 2, &first)).unwrap(),
        block_on(model.forward_hidden(&mut cache, &[&[7], &[11]], 1, &step)).unwrap(),
    ]
}

fn compare(backend: &str, got: &[Hidden], want: &[Hidden]) {
    for (pass, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            (g.layers.clone(), g.rows, g.positions, g.n_embd),
            (w.layers.clone(), w.rows, w.positions, w.n_embd),
            "{backend} pass {pass}: shape"
        );
        let logits = max_diff(&g.logits.data, &w.logits.data);
        let states = max_diff(&g.states, &w.states);
        assert_eq!(g.heads.len(), w.heads.len(), "{backend} pass {pass}: heads");
        let heads = g
            .heads
            .iter()
            .zip(&w.heads)
            .map(|(a, b)| max_diff(&a.data, &b.data))
            .fold(0.0, f32::max);
        eprintln!(
            "{backend} pass {pass}: max |Δ| logits {logits:.2e}, states {states:.2e}, \
             early exits {heads:.2e}"
        );
        for (what, d) in [("logits", logits), ("states", states), ("heads", heads)] {
            assert!(
                d <= TOLERANCE,
                "{backend} pass {pass}: {what} differ by {d:e}"
            );
        }
    }
}

fn reference(ckpt: &Gpt2Checkpoint, config: &Gpt2Config) -> Vec<Hidden> {
    let device = candle_core::Device::Cpu;
    let candle = CandleModel::load(ckpt, config, &device, Precision::F32).unwrap();
    passes(&candle, config.n_layer)
}

#[test]
fn hidden_states_and_early_exits_match_the_reference_on_every_backend() {
    for name in ["tiny", "odd"] {
        let r = recipe(&fixture(name));
        let ckpt = checkpoint(r.safetensors_bytes(), &r.config);
        let want = reference(&ckpt, &r.config);
        // The states are what forward reports as logits, too.
        let plain = {
            let device = candle_core::Device::Cpu;
            let candle = CandleModel::load(&ckpt, &r.config, &device, Precision::F32).unwrap();
            let mut cache = candle.new_cache(2).unwrap();
            let prompt: [&[u32]; 2] = [&[5, 17, 290, 3, 1000, 9], &[50256, 2, 2, 8, 13, 40000]];
            block_on(candle.forward(&mut cache, &prompt, 2)).unwrap()
        };
        assert_eq!(
            plain.data, want[0].logits.data,
            "{name}: forward vs forward_hidden"
        );
        let cpu = CpuModel::load(&ckpt, &r.config, Precision::F32).unwrap();
        compare(
            &format!("{name} cpu"),
            &passes(&cpu, r.config.n_layer),
            &want,
        );
        #[cfg(feature = "wgpu")]
        for kernels in [KernelSet::Emulated, KernelSet::Gpu] {
            let options = GpuOptions {
                kernels: Some(kernels),
                ..Default::default()
            };
            let gpu = block_on(WgpuModel::load(&ckpt, &r.config, &options)).unwrap();
            let got = passes(&gpu, r.config.n_layer);
            compare(&format!("{name} wgpu {kernels:?}"), &got, &want);
        }
    }
}

/// Decode steps that ask for hidden states create no GPU buffer or bind
/// group once the first has made room (contrastive search's, DoLa's).
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_decode_steps_with_hidden_states_allocate_nothing() {
    let r = recipe(&fixture("odd"));
    let ckpt = checkpoint(r.safetensors_bytes(), &r.config);
    let gpu = block_on(WgpuModel::load(&ckpt, &r.config, &GpuOptions::default())).unwrap();
    let mut cache = gpu.new_cache(1).unwrap();
    cache.reserve(16).unwrap();
    let want = HiddenRequest {
        layers: &[3],
        positions: 1,
        heads: &[0, 2],
        lens: false,
    };
    block_on(gpu.forward_hidden(&mut cache, &[&[1, 2, 3]], 1, &want)).unwrap();
    block_on(gpu.forward_hidden(&mut cache, &[&[4]], 1, &want)).unwrap();
    let before = gpu.device_work().unwrap();
    for id in 5..9 {
        block_on(gpu.forward_hidden(&mut cache, &[&[id]], 1, &want)).unwrap();
    }
    let work = gpu.device_work().unwrap() - before;
    assert_eq!(
        (work.buffers_created, work.bind_groups_created),
        (0, 0),
        "{work:?}"
    );
}

#[test]
fn a_hidden_state_outside_the_model_is_an_error() {
    let r = recipe(&fixture("tiny"));
    let ckpt = checkpoint(r.safetensors_bytes(), &r.config);
    let cpu = CpuModel::load(&ckpt, &r.config, Precision::F32).unwrap();
    let mut cache = cpu.new_cache(1).unwrap();
    for (want, says) in [
        (
            HiddenRequest {
                layers: &[3],
                positions: 1,
                heads: &[],
                lens: false,
            },
            "hidden state 3",
        ),
        (
            HiddenRequest {
                layers: &[],
                positions: 0,
                heads: &[2],
                lens: false,
            },
            "early exit at layer 2",
        ),
        (
            HiddenRequest {
                layers: &[1],
                positions: 3,
                heads: &[],
                lens: false,
            },
            "last 3 of 2",
        ),
    ] {
        let e = block_on(cpu.forward_hidden(&mut cache, &[&[1, 2]], 1, &want)).unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains(says), "{e}");
    }
}
