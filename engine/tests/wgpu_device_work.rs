//! The GPU work of a decode step on the wgpu backend, pinned by construction
//! (counted on whatever adapter this machine has: lavapipe here): per greedy
//! token, at most 5L + 3 dispatches with the real-GPU kernels (7L + 4 with
//! the emulated ones), one submission, no buffer or bind group created, and
//! at most 4 KB read back (the top candidates, not the logits row); beam
//! search's steps allocate nothing either once its two cache sets exist.

mod common;

use common::{checkpoint, fixture, recipe};
use engine::backend::wgpu::{GpuOptions, KernelSet, WgpuModel};
use engine::backend::{block_on, DeviceWork, LanguageModel};
use engine::decoding::{beam_search, greedy, BeamParams, GenerateOptions, Step};

fn load(kernels: KernelSet) -> WgpuModel {
    let r = recipe(&fixture("tiny"));
    let ckpt = checkpoint(r.safetensors_bytes(), &r.config);
    let options = GpuOptions {
        kernels: Some(kernels),
        ..Default::default()
    };
    block_on(WgpuModel::load(&ckpt, &r.config, &options)).unwrap()
}

/// The device's work between consecutive steps of a run (the first step,
/// which reads the prompt, left out).
fn work_per_step(model: &WgpuModel, run: impl FnOnce(&mut dyn FnMut(Step))) -> Vec<DeviceWork> {
    let mut last: Option<DeviceWork> = None;
    let mut steps = Vec::new();
    run(&mut |_| {
        let now = model.device_work().unwrap();
        if let Some(before) = last {
            steps.push(now - before);
        }
        last = Some(now);
    });
    steps
}

#[test]
fn a_greedy_token_is_one_submission_of_few_dispatches_allocating_nothing() {
    let prompt = [464u32, 3290, 318];
    let options = GenerateOptions {
        max_new_tokens: 12,
        min_new_tokens: 12,
        eos_token_id: None,
        forced: Vec::new(),
        whole_rows: false,
    };
    let kernel_sets = [
        (KernelSet::Gpu, "gpu", 5, 3),
        (KernelSet::Emulated, "emulated", 7, 4),
    ];
    for (kernels, name, per_layer, outside) in kernel_sets {
        let model = load(kernels);
        assert_eq!(model.kernel_set(), name);
        let layers = model.config().n_layer as u64;
        let steps = work_per_step(&model, |on_step| {
            block_on(greedy(&model, &prompt, &options, on_step)).unwrap();
        });
        assert_eq!(steps.len(), 11);
        for (i, w) in steps.iter().enumerate() {
            let what = format!("{name} kernels, decode step {i}: {w:?}");
            assert!(w.dispatches <= per_layer * layers + outside, "{what}");
            assert_eq!(w.submissions, 1, "{what}");
            assert_eq!(w.buffers_created, 0, "{what}");
            assert_eq!(w.bind_groups_created, 0, "{what}");
            assert!(w.readback_bytes <= 4096, "{what}");
        }
        eprintln!("{name} kernels: {:?} per greedy token", steps[0]);
    }
}

#[test]
fn beam_search_steps_allocate_nothing_once_both_cache_sets_exist() {
    let model = load(KernelSet::Gpu);
    let options = GenerateOptions {
        max_new_tokens: 8,
        min_new_tokens: 8,
        eos_token_id: None,
        forced: Vec::new(),
        whole_rows: false,
    };
    let params = BeamParams {
        num_beams: 3,
        ..BeamParams::default()
    };
    let steps = work_per_step(&model, |on_step| {
        block_on(beam_search(
            &model,
            &[464, 3290],
            &options,
            &params,
            on_step,
        ))
        .unwrap();
    });
    // The first reorders make the second cache set and its gather groups.
    for (i, w) in steps.iter().enumerate().skip(2) {
        assert_eq!(w.buffers_created, 0, "beam step {i}: {w:?}");
        assert_eq!(w.bind_groups_created, 0, "beam step {i}: {w:?}");
    }
}

/// On GPUs emulated on a CPU, building a pipeline with barriers takes up to
/// half a second (SwiftShader): the tiled products, which only prompts of
/// more than 8 tokens run, are built when first used, and the split
/// attention of real GPUs never. With the real-GPU kernels every pipeline is
/// built at load.
#[test]
fn emulated_kernels_build_the_prompts_tiled_products_when_first_used() {
    let options = GenerateOptions {
        max_new_tokens: 2,
        min_new_tokens: 2,
        eos_token_id: None,
        forced: Vec::new(),
        whole_rows: false,
    };
    let short = [464u32, 3290, 318];
    let long: Vec<u32> = (0..12).map(|i| 464 + 7 * i).collect();
    // The four products of the blocks (c_attn, attn's c_proj, c_fc, the
    // MLP's c_proj); greedy's prompt pass takes the last position's logits
    // only, one row, through the row kernel.
    let tiled_products = 4;
    for (kernels, later) in [(KernelSet::Emulated, tiled_products), (KernelSet::Gpu, 0)] {
        let model = load(kernels);
        let at_load = model.device_work().unwrap().pipelines_built;
        let built_by = |prompt: &[u32]| {
            let before = model.device_work().unwrap().pipelines_built;
            block_on(greedy(&model, prompt, &options, &mut |_| {})).unwrap();
            model.device_work().unwrap().pipelines_built - before
        };
        let (by_short, by_long, by_long_again) =
            (built_by(&short), built_by(&long), built_by(&long));
        eprintln!(
            "{kernels:?}: {at_load} pipelines at load, then {by_short} for a 3-token prompt, \
             {by_long} for a 12-token one, {by_long_again} for it again"
        );
        assert_eq!(
            by_short, 0,
            "{kernels:?}: pipelines built by a 3-token prompt"
        );
        assert_eq!(
            by_long, later,
            "{kernels:?}: pipelines built by a 12-token prompt"
        );
        assert_eq!(
            by_long_again, 0,
            "{kernels:?}: pipelines built by the second run"
        );
    }
}
