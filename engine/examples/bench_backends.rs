//! Decode speed of the backends on the same seeded random checkpoint, in one
//! run: tokens per second of one-token steps after a prompt, batch 1.
//!
//! ```text
//! cargo run --release -p engine --example bench_backends -- \
//!     [--shape gpt2|distilgpt2|gpt2-medium|gpt2-large|gpt2-xl] \
//!     [--layers L --heads H --embd C --positions P] \
//!     [--prompt 16] [--tokens 32] [--runs 3] [--dtype f32|f16] [--devices cpu,wgpu,cuda]
//! ```

use std::time::Instant;

use engine::backend::{block_on, Device, LanguageModel, Model};
use engine::config::Gpt2Config;
use engine::weights::random::RandomCheckpoint;
use engine::weights::{Dtype, Gpt2Checkpoint, SafetensorsFile};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

struct Args {
    config: Gpt2Config,
    prompt: usize,
    tokens: usize,
    runs: usize,
    dtype: Dtype,
    devices: Vec<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        config: Gpt2Config::preset("gpt2").unwrap(),
        prompt: 16,
        tokens: 32,
        runs: 3,
        dtype: Dtype::F32,
        devices: vec!["cpu".into(), "wgpu".into()],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match arg.as_str() {
            "--shape" => {
                let name = value()?;
                a.config = Gpt2Config::preset(&name).ok_or(format!("unknown shape {name}"))?;
            }
            "--layers" => a.config.n_layer = num(value()?)?,
            "--heads" => a.config.n_head = num(value()?)?,
            "--embd" => a.config.n_embd = num(value()?)?,
            "--positions" => a.config.n_positions = num(value()?)?,
            "--prompt" => a.prompt = num(value()?)?,
            "--tokens" => a.tokens = num(value()?)?,
            "--runs" => a.runs = num(value()?)?.max(1),
            "--dtype" => {
                a.dtype = match value()?.as_str() {
                    "f32" => Dtype::F32,
                    "f16" => Dtype::F16,
                    d => return Err(format!("unknown dtype {d}")),
                }
            }
            "--devices" => a.devices = value()?.split(',').map(String::from).collect(),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    a.config.validate().map_err(|e| e.to_string())?;
    if a.prompt + a.tokens > a.config.n_positions {
        return Err("--prompt + --tokens exceeds the context".into());
    }
    Ok(a)
}

fn device(name: &str) -> Result<Device, String> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "wgpu" => Ok(Device::Wgpu(Default::default())),
        "cuda" => Ok(Device::Cuda(0)),
        d => Err(format!("unknown device {d}: cpu, wgpu or cuda")),
    }
}

fn run() -> Result<(), String> {
    let a = parse()?;
    let cfg = &a.config;
    let mut recipe = RandomCheckpoint::new(cfg.clone(), 0);
    recipe.dtype = a.dtype;
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
        a.dtype,
        a.prompt,
        a.tokens,
        a.runs
    );
    let prompt: Vec<u32> = (0..a.prompt as u32).map(|i| (i * 7919) % 50000).collect();
    let mut results: Vec<(String, f64, Vec<u32>)> = Vec::new();
    for name in &a.devices {
        let start = Instant::now();
        let model = block_on(Model::load(&ckpt, cfg, &device(name)?)).map_err(|e| e.to_string())?;
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
        results.push((name.clone(), best, ids));
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
