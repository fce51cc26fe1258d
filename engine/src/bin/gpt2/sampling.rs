//! The sampling flags of `gpt2 generate`, turned into the engine's settings.

use engine::decoding::{Dry, Guidance, Mirostat, SamplingParams, Stage, Xtc};
use engine::tokenizer::Tokenizer;
use engine::{Error, Result};

use crate::args::{GenerateArgs, SamplingArgs};

/// The settings the flags give (temperature 1 unless given).
pub fn sampling_params(args: &GenerateArgs, tokenizer: &Tokenizer) -> Result<SamplingParams> {
    let sa = &args.sampling;
    check_groups(sa)?;
    let negative_prompt = match &sa.negative_prompt {
        Some(text) if text.is_empty() => {
            return Err(Error::input(
                "--negative-prompt is empty: give some text, or leave it out to guide away \
                 from the prompt's last token alone",
            ))
        }
        Some(text) => tokenizer.encode(text)?,
        None => Vec::new(),
    };
    let dry = match sa.dry_multiplier {
        Some(multiplier) => Some(Dry {
            multiplier,
            base: sa.dry_base.unwrap_or(Dry::DEFAULT_BASE),
            allowed_length: sa.dry_allowed_length.unwrap_or(Dry::DEFAULT_ALLOWED_LENGTH),
            penalty_last_n: sa.dry_penalty_last_n.unwrap_or(0),
            breakers: breaker_ids(sa.dry_sequence_breakers.as_deref(), tokenizer)?,
        }),
        None => None,
    };
    let order = match &sa.samplers {
        Some(list) => Stage::parse_order(list)?,
        None => Stage::DEFAULT_ORDER.to_vec(),
    };
    Ok(SamplingParams {
        temperature: sa.temperature.unwrap_or(1.0),
        top_k: sa.top_k,
        top_p: sa.top_p,
        min_p: sa.min_p,
        repetition_penalty: sa.repetition_penalty,
        no_repeat_ngram_size: args.no_repeat_ngram_size,
        typical_p: sa.typical_p,
        epsilon_cutoff: sa.epsilon_cutoff,
        eta_cutoff: sa.eta_cutoff,
        top_h: sa.top_h,
        top_n_sigma: sa.top_n_sigma,
        xtc: sa.xtc_probability.map(|probability| Xtc {
            threshold: sa.xtc_threshold.unwrap_or(Xtc::DEFAULT_THRESHOLD),
            probability,
        }),
        dry,
        mirostat: sa.mirostat_tau.map(|tau| Mirostat {
            tau,
            eta: sa.mirostat_eta.unwrap_or(Mirostat::DEFAULT_ETA),
        }),
        presence_penalty: sa.presence_penalty,
        frequency_penalty: sa.frequency_penalty,
        guidance: sa.guidance_scale.map(|scale| Guidance {
            scale,
            negative_prompt,
        }),
        order,
    })
}

/// A sampler's secondary flags need the flag that turns it on.
fn check_groups(sa: &SamplingArgs) -> Result<()> {
    let dry_rest = sa.dry_base.is_some()
        || sa.dry_allowed_length.is_some()
        || sa.dry_penalty_last_n.is_some()
        || sa.dry_sequence_breakers.is_some();
    let groups = [
        (
            "--xtc-threshold",
            sa.xtc_threshold.is_some(),
            "--xtc-probability",
            sa.xtc_probability.is_some(),
        ),
        (
            "--dry-base / --dry-allowed-length / --dry-penalty-last-n / --dry-sequence-breakers",
            dry_rest,
            "--dry-multiplier",
            sa.dry_multiplier.is_some(),
        ),
        (
            "--mirostat-eta",
            sa.mirostat_eta.is_some(),
            "--mirostat-tau",
            sa.mirostat_tau.is_some(),
        ),
        (
            "--negative-prompt",
            sa.negative_prompt.is_some(),
            "--guidance-scale",
            sa.guidance_scale.is_some(),
        ),
    ];
    for (flag, given, needs, on) in groups {
        if given && !on {
            return Err(Error::input(format!("{flag} needs {needs}: give it too")));
        }
    }
    Ok(())
}

/// DRY's breakers as token ids, from the flag's JSON list of strings
/// (text-generation-webui's defaults without it).
fn breaker_ids(list: Option<&str>, tokenizer: &Tokenizer) -> Result<Vec<u32>> {
    match list {
        Some(json) => {
            let strings: Vec<String> = serde_json::from_str(json).map_err(|e| {
                Error::input(format!(
                    "--dry-sequence-breakers must be a JSON list of strings, such as \
                     '[\"\\n\", \":\"]': {e}"
                ))
            })?;
            Dry::breaker_ids(&strings, tokenizer)
        }
        None => Dry::breaker_ids(&Dry::DEFAULT_BREAKERS, tokenizer),
    }
}
