//! `gpt2 bench --device cuda` with `GPT2_CUDA_STEP=fused`: the model runs on
//! the fused CUDA decode step (`engine::backend::decode_step`: five launches
//! a block, captured once as a CUDA graph), so the strategies time it with
//! the host picking each token; this adds greedy's on-device loop on the same
//! weights, the argmax feeding the next step. Off unless asked for, until the
//! step is verified on a GPU; its failure is reported in the JSON
//! (`fused_step.error`), not as the bench's.

use std::time::Instant;

use engine::backend::decode_step::cuda::CudaStep;
use engine::backend::decode_step::{Buf, Plan, LAUNCHES_PER_BLOCK};
use engine::backend::{fused_step_wanted, LanguageModel, Model};
use engine::{Error, Result};
use serde_json::{json, Value};

use crate::args::{BenchArgs, DeviceArg};

/// Whether the fused step is asked for, on this device.
pub fn wanted(args: &BenchArgs) -> bool {
    matches!(args.model.device, DeviceArg::Cuda) && fused_step_wanted()
}

/// Greedy by the fused step's on-device loop, on `model`'s weights (the
/// model runs on the fused step), `args.runs` times after `args.warmup`:
/// medians of prefill (one step per prompt token) and decode tokens/s, and
/// whether its ids are `greedy_ids` (the greedy strategy's, through the
/// same kernels with the host picking each token).
pub fn run(args: &BenchArgs, model: &Model, prompt: &[u32], greedy_ids: Option<&[u32]>) -> Value {
    match measure(args, model, prompt, greedy_ids) {
        Ok(v) => v,
        Err(e) => json!({ "error": e.to_string() }),
    }
}

fn measure(
    args: &BenchArgs,
    model: &Model,
    prompt: &[u32],
    greedy_ids: Option<&[u32]>,
) -> Result<Value> {
    let gpu = model.fused_step_weights().ok_or_else(|| {
        Error::Backend(format!(
            "the model runs on {}, not the fused step",
            model.device_name()
        ))
    })?;
    let cap = prompt.len() + args.new_tokens;
    let plan = Plan::decode(model.config(), 1, cap, true);
    let launches = plan.ops.len();
    let mut step = CudaStep::new(gpu, plan)?;
    let (mut prefill, mut decode, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..args.warmup.saturating_add(args.runs) {
        step.set_pos(0)?;
        let start = Instant::now();
        for &id in prompt {
            step.set_ids(&[id])?;
            step.step()?;
        }
        step.synchronize()?;
        let prompt_done = Instant::now();
        // The rest on the device alone: each step's argmax feeds the next.
        for _ in 1..args.new_tokens {
            step.step()?;
        }
        step.synchronize()?;
        let end = Instant::now();
        if i >= args.warmup {
            prefill.push(prompt.len() as f64 / (prompt_done - start).as_secs_f64());
            let steps = args.new_tokens.saturating_sub(1) as f64;
            decode.push(steps / (end - prompt_done).as_secs_f64());
            let history = step.read_u32(Buf::History)?;
            ids = history[prompt.len()..prompt.len() + args.new_tokens].to_vec();
        }
    }
    Ok(json!({
        "prefill_tokens_per_second": median(&mut prefill),
        "decode_tokens_per_second": median(&mut decode),
        "launches_per_token": launches,
        "launches_per_block": LAUNCHES_PER_BLOCK,
        "ids": ids,
        "ids_agree_with_greedy": greedy_ids.map(|g| g == ids.as_slice()),
    }))
}

fn median(x: &mut [f64]) -> Option<f64> {
    x.sort_by(f64::total_cmp);
    x.get(x.len() / 2).copied()
}
