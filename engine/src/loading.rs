//! A model from its three files — `config.json`, `tokenizer.json` and
//! `model.safetensors` — checked against each other and loaded onto a
//! device: the same steps whether the files come from disk (the command
//! line) or as bytes (the page).

use crate::backend::{Device, Model, Precision};
use crate::config::Gpt2Config;
use crate::tokenizer::Tokenizer;
use crate::weights::{Gpt2Checkpoint, SafetensorsFile};
use crate::{Error, Result};

/// The small trained pair shipped with the project in `models/`
/// (`tools/train_tiny.py`): the target, the command line's `--model bundled`
/// and the page's instant start.
pub const BUNDLED_TARGET: &str = "bundled";
/// Its draft (and contrastive decoding's amateur): `--model bundled-draft`.
pub const BUNDLED_DRAFT: &str = "bundled-draft";

/// Whether `name` is one of the bundled models.
pub fn is_bundled(name: &str) -> bool {
    name == BUNDLED_TARGET || name == BUNDLED_DRAFT
}

/// A model ready to run, with its tokenizer.
pub struct LoadedModel {
    pub model: Model,
    pub tokenizer: Tokenizer,
}

/// Whether the tokenizer fits the model: no more tokens than the model has
/// embeddings. The message names neither file; the caller says where.
pub fn check_vocabulary(config: &Gpt2Config, tokenizer: &Tokenizer) -> Result<()> {
    if tokenizer.vocab_size() > config.vocab_size {
        return Err(Error::input(format!(
            "the tokenizer has {} tokens but config.json's vocab_size is {}",
            tokenizer.vocab_size(),
            config.vocab_size
        )));
    }
    Ok(())
}

/// Checks the three files against each other and loads the weights onto
/// `device` in `precision`. A broken or mismatched checkpoint is an
/// [`Error::Checkpoint`] or [`Error::Input`]; what the device refuses, an
/// [`Error::Backend`].
pub async fn load(
    config: &Gpt2Config,
    tokenizer: Tokenizer,
    weights: SafetensorsFile,
    device: &Device,
    precision: Precision,
) -> Result<LoadedModel> {
    check_vocabulary(config, &tokenizer)?;
    let checkpoint = Gpt2Checkpoint::new(weights, config)?;
    let model = Model::load_as(&checkpoint, config, device, precision).await?;
    // The checkpoint's bytes are dropped here: the weights now live on the device.
    drop(checkpoint);
    Ok(LoadedModel { model, tokenizer })
}
