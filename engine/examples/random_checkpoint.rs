//! Writes a seeded random GPT-2 checkpoint (config.json, model.safetensors,
//! tokenizer.json) in the Hugging Face layout.
//!
//! ```text
//! cargo run --release -p engine --example random_checkpoint -- OUT_DIR \
//!     [--shape gpt2|distilgpt2|gpt2-medium|gpt2-large|gpt2-xl] \
//!     [--layers L --heads H --embd C --positions P] [--seed S] \
//!     [--dtype f32|f16|bf16] [--layout transformers|hub]
//! ```

#[path = "common/shape.rs"]
mod shape;

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use engine::weights::random::{Layout, RandomCheckpoint};
use engine::weights::Dtype;

/// Writes a seeded random GPT-2 checkpoint in the Hugging Face layout.
#[derive(Parser)]
struct Args {
    /// The folder to write config.json, model.safetensors and tokenizer.json into.
    out: PathBuf,
    #[command(flatten)]
    shape: shape::Shape,
    /// Seeds the weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The weights' type in the file.
    #[arg(long, value_enum, default_value_t = FileDtype::F32)]
    dtype: FileDtype,
    /// Tensor names as `save_pretrained` writes them, or as the Hub's original gpt2 file.
    #[arg(long, value_enum, default_value_t = FileLayout::Transformers)]
    layout: FileLayout,
}

#[derive(Clone, Copy, ValueEnum)]
enum FileDtype {
    F32,
    F16,
    Bf16,
}

#[derive(Clone, Copy, ValueEnum)]
enum FileLayout {
    Transformers,
    Hub,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> Result<(), String> {
    let recipe = RandomCheckpoint {
        config: args.shape.config()?,
        seed: args.seed,
        dtype: match args.dtype {
            FileDtype::F32 => Dtype::F32,
            FileDtype::F16 => Dtype::F16,
            FileDtype::Bf16 => Dtype::BF16,
        },
        layout: match args.layout {
            FileLayout::Transformers => Layout::Transformers,
            FileLayout::Hub => Layout::Hub,
        },
    };
    recipe.write(&args.out).map_err(|e| e.to_string())?;
    eprintln!(
        "wrote {} ({} parameters)",
        args.out.display(),
        recipe.config.num_params()
    );
    Ok(())
}
