//! Turning `--model` / `--device` / `--prompt` into a loaded model and token ids.

use std::path::PathBuf;

use engine::backend::{block_on, Device, Model};
use engine::config::Gpt2Config;
use engine::hub::{self, BarProgress, NoProgress, Progress};
use engine::loading::check_vocabulary;
use engine::tokenizer::Tokenizer;
use engine::weights::SafetensorsFile;
use engine::{Error, Result};

use crate::args::{DeviceArg, ModelArgs, PromptArgs};

pub use engine::loading::LoadedModel as Loaded;

/// Finds (downloading if needed), checks and loads the model.
pub fn load(args: &ModelArgs) -> Result<Loaded> {
    load_named(&args.model, args).map(|(loaded, _)| loaded)
}

/// The second model of contrastive (`role` = "amateur") or speculative ("draft")
/// decoding, on the same device as the first.
pub fn load_second(name: &str, args: &ModelArgs, role: &str) -> Result<Model> {
    load_served(name, args, Some(role)).map(|(model, _)| model)
}

/// A model `gpt2 serve` serves, and the bytes of the `tokenizer.json` it was
/// loaded with (clients ask for them); `role` names a second model's flag.
pub fn load_served(name: &str, args: &ModelArgs, role: Option<&str>) -> Result<(Model, Vec<u8>)> {
    let (loaded, tokenizer) = load_named(name, args).map_err(|e| match (e, role) {
        (Error::Input(m), Some(role)) => Error::Input(format!("--{role}: {m}")),
        (e, _) => e,
    })?;
    let json =
        std::fs::read(&tokenizer).map_err(|e| Error::checkpoint(&tokenizer, e.to_string()))?;
    Ok((loaded.model, json))
}

/// The loaded model and the path of its `tokenizer.json`.
fn load_named(name: &str, args: &ModelArgs) -> Result<(Loaded, PathBuf)> {
    let device =
        match args.device {
            DeviceArg::Cpu => Device::Cpu,
            #[cfg(feature = "wgpu")]
            DeviceArg::Wgpu => Device::Wgpu(Default::default()),
            #[cfg(not(feature = "wgpu"))]
            DeviceArg::Wgpu => return Err(Error::input(
                "--device wgpu: this gpt2 was built without the WebGPU backend; use --device cpu",
            )),
            DeviceArg::Cuda => Device::Cuda(0),
        };
    device.check()?;
    // Progress bars are for people; JSON output stays clean.
    let progress: &dyn Progress = if args.json {
        &NoProgress
    } else {
        &BarProgress::default()
    };
    let files = hub::resolve(name, progress)?;
    let config = Gpt2Config::from_file(&files.config)?;
    let tokenizer = Tokenizer::from_file(&files.tokenizer)?;
    check_vocabulary(&config, &tokenizer)
        .map_err(|e| Error::checkpoint(&files.tokenizer, e.to_string()))?;
    let loaded = block_on(engine::loading::load(
        &config,
        tokenizer,
        SafetensorsFile::open(&files.weights)?,
        &device,
        args.dtype.precision(),
    ))?;
    Ok((loaded, files.tokenizer))
}

/// The prompt's token ids (ids given directly are used as they are).
pub fn prompt_ids(prompt: &PromptArgs, tokenizer: &Tokenizer) -> Result<Vec<u32>> {
    let ids = match (&prompt.prompt, &prompt.prompt_ids) {
        (Some(text), _) => tokenizer.encode(text)?,
        (None, Some(ids)) => ids.clone(),
        (None, None) => Vec::new(),
    };
    if ids.is_empty() {
        return Err(Error::input(
            "the prompt is empty: give --prompt TEXT or --prompt-ids 1,2,3",
        ));
    }
    Ok(ids)
}
