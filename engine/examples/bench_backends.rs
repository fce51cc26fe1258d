//! Decode speed of the backends on the same seeded random checkpoint, in one
//! run: tokens per second of one-token steps after a prompt, batch 1.
//!
//! ```text
//! cargo run --release -p engine --example bench_backends -- \
//!     [--shape gpt2|distilgpt2|gpt2-medium|gpt2-large|gpt2-xl] \
//!     [--layers L --heads H --embd C --positions P] \
//!     [--prompt 16] [--tokens 32] [--runs 3] [--dtype f32|f16] [--devices cpu,wgpu,cuda]
//! ```

#[path = "common/shape.rs"]
mod shape;

use std::time::Instant;

use clap::{Parser, ValueEnum};
use engine::backend::{block_on, Device, LanguageModel, Model};
use engine::weights::random::RandomCheckpoint;
use engine::weights::{Dtype, Gpt2Checkpoint, SafetensorsFile};

/// Decode speed of the backends on the same seeded random checkpoint.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    shape: shape::Shape,
    /// Prompt tokens, run in one pass before the timed steps.
    #[arg(long, default_value_t = 16)]
    prompt: usize,
    /// Timed one-token steps.
    #[arg(long, default_value_t = 32)]
    tokens: usize,
    /// Runs per device; the best is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// The weights' type.
    #[arg(long, value_enum, default_value_t = WeightDtype::F32)]
    dtype: WeightDtype,
    /// The devices to compare, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "cpu,wgpu")]
    devices: Vec<DeviceName>,
}

#[derive(Clone, Copy, ValueEnum)]
enum WeightDtype {
    F32,
    F16,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DeviceName {
    Cpu,
    Wgpu,
    Cuda,
}

impl DeviceName {
    fn device(self) -> Device {
        match self {
            DeviceName::Cpu => Device::Cpu,
            DeviceName::Wgpu => Device::Wgpu(Default::default()),
            DeviceName::Cuda => Device::Cuda(0),
        }
    }
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(a: Args) -> Result<(), String> {
    let cfg = &a.shape.config()?;
    if a.prompt + a.tokens > cfg.n_positions {
        return Err("--prompt + --tokens exceeds the context".into());
    }
    let mut recipe = RandomCheckpoint::new(cfg.clone(), 0);
    recipe.dtype = match a.dtype {
        WeightDtype::F32 => Dtype::F32,
        WeightDtype::F16 => Dtype::F16,
    };
    let file = SafetensorsFile::from_bytes(recipe.safetensors_bytes(), "model.safetensors")
        .map_err(|e| e.to_string())?;
    let ckpt = Gpt2Checkpoint::new(file, cfg).map_err(|e| e.to_string())?;
    println!(
        "checkpoint: {} layers, {} heads, width {}, {:.0}M parameters, {:?}; prompt {} tokens, \
         then {} one-token steps, best of {} runs",
        cfg.n_layer,
        cfg.n_head,
        cfg.n_embd,
        cfg.num_params() as f64 / 1e6,
        recipe.dtype,
        a.prompt,
        a.tokens,
        a.runs
    );
    let prompt: Vec<u32> = (0..a.prompt as u32).map(|i| (i * 7919) % 50000).collect();
    let mut results: Vec<(String, f64, Vec<u32>)> = Vec::new();
    for &name in &a.devices {
        let start = Instant::now();
        let model = block_on(Model::load(&ckpt, cfg, &name.device())).map_err(|e| e.to_string())?;
        let load = start.elapsed().as_secs_f64();
        let mut best = 0f64;
        let mut ids = Vec::new();
        for _ in 0..a.runs {
            let (rate, out) = decode(&model, &prompt, a.tokens).map_err(|e| e.to_string())?;
            best = best.max(rate);
            ids = out;
        }
        println!(
            "{:<40} load {load:6.2} s   decode {best:8.1} tok/s",
            model.device_name()
        );
        results.push((format!("{name:?}").to_lowercase(), best, ids));
    }
    if let [(a_name, a_rate, a_ids), (b_name, b_rate, b_ids), ..] = &results[..] {
        println!("ratio {b_name}/{a_name}: {:.2}x", b_rate / a_rate);
        let same = a_ids.iter().zip(b_ids).take_while(|(x, y)| x == y).count();
        println!("greedy ids identical for {same} of {} tokens", a_ids.len());
    }
    Ok(())
}

/// Greedy decoding: the prompt in one pass, then timed one-token steps.
fn decode(model: &Model, prompt: &[u32], tokens: usize) -> engine::Result<(f64, Vec<u32>)> {
    let mut cache = model.new_cache(1)?;
    let logits = block_on(model.forward(&mut cache, &[prompt], 1))?;
    let mut next = engine::decoding::argmax(logits.last(0)) as u32;
    let mut out = vec![next];
    let start = Instant::now();
    for _ in 0..tokens {
        let logits = block_on(model.forward(&mut cache, &[&[next]], 1))?;
        next = engine::decoding::argmax(logits.last(0)) as u32;
        out.push(next);
    }
    Ok((tokens as f64 / start.elapsed().as_secs_f64(), out))
}
