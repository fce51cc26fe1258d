//! Writes a seeded random GPT-2 checkpoint (config.json, model.safetensors,
//! tokenizer.json) in the Hugging Face layout.
//!
//! ```text
//! cargo run --release -p engine --example random_checkpoint -- OUT_DIR \
//!     [--shape gpt2|distilgpt2|gpt2-medium|gpt2-large|gpt2-xl] \
//!     [--layers L --heads H --embd C --positions P] [--seed S] \
//!     [--dtype f32|f16|bf16] [--layout transformers|hub]
//! ```

use engine::config::Gpt2Config;
use engine::weights::random::{Layout, RandomCheckpoint};
use engine::weights::Dtype;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut out = None;
    let mut config = Gpt2Config::preset("gpt2").unwrap();
    let (mut seed, mut dtype, mut layout) = (0u64, Dtype::F32, Layout::Transformers);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match arg.as_str() {
            "--shape" => {
                let name = value()?;
                config = Gpt2Config::preset(&name).ok_or(format!("unknown shape {name}"))?;
            }
            "--layers" => config.n_layer = num(value()?)?,
            "--heads" => config.n_head = num(value()?)?,
            "--embd" => config.n_embd = num(value()?)?,
            "--positions" => config.n_positions = num(value()?)?,
            "--seed" => seed = num(value()?)? as u64,
            "--dtype" => {
                dtype = match value()?.as_str() {
                    "f32" => Dtype::F32,
                    "f16" => Dtype::F16,
                    "bf16" => Dtype::BF16,
                    d => return Err(format!("unknown dtype {d}")),
                }
            }
            "--layout" => {
                layout = match value()?.as_str() {
                    "transformers" => Layout::Transformers,
                    "hub" => Layout::Hub,
                    l => return Err(format!("unknown layout {l}")),
                }
            }
            _ if !arg.starts_with("--") && out.is_none() => out = Some(arg),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    let out = out.ok_or("usage: random_checkpoint OUT_DIR [options]")?;
    config.validate().map_err(|e| e.to_string())?;
    let recipe = RandomCheckpoint {
        config,
        seed,
        dtype,
        layout,
    };
    recipe
        .write(std::path::Path::new(&out))
        .map_err(|e| e.to_string())?;
    eprintln!("wrote {out} ({} parameters)", recipe.config.num_params());
    Ok(())
}
