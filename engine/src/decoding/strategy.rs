//! One way to run a decoding strategy: a [`Strategy`] value carries its
//! parameters, and [`run`] runs it over the loaded model (and the second
//! model of the two-model methods), streaming every [`Step`]. The command
//! line, its benchmark and the page all call it, so a strategy or a sampler
//! is added here once.
//!
//! Speculative decoding's rule, settled once: it verifies by sampling
//! (Leviathan et al.'s rejection rule, Algorithm 1) exactly when its sampling
//! settings sample (temperature > 0), and greedily (a draft is accepted while
//! it is the target's argmax) at temperature 0, whatever the draft: a model,
//! or prompt lookup (a copied token has draft probability q = 1).

use crate::backend::LanguageModel;
use crate::decoding::limits;
use crate::decoding::method::{Method, SecondModel};
use crate::decoding::processors::StepInputs;
use crate::decoding::rng::Rng;
use crate::decoding::{
    beam_search_in_groups, contrastive, contrastive_search, dola, greedy, sample, speculative,
    BeamParams, ContrastiveParams, ContrastiveSearchParams, DolaParams, Drafter, GenerateOptions,
    Generated, SamplingParams, SpeculativeStats, Step, Verify,
};
use crate::{Error, Result};

/// A decoding strategy with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    Greedy,
    Beam(BeamParams),
    Sample {
        sampling: SamplingParams,
        seed: u64,
        num_return_sequences: usize,
    },
    Contrastive(ContrastiveParams),
    Speculative(SpeculativeParams),
    ContrastiveSearch(ContrastiveSearchParams),
    Dola(DolaParams),
}

/// Where speculative decoding's drafts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftSource {
    /// The second model given to [`run`].
    Model,
    /// Prompt lookup: the continuation of the last n-gram's earliest earlier
    /// occurrence, n from `max_matching_ngram_size` down to 1
    /// ([`crate::decoding::prompt_lookup`]); no second model.
    PromptLookup { max_matching_ngram_size: usize },
}

impl DraftSource {
    /// What `--draft` names prompt lookup (any other value names a model).
    pub const PROMPT_LOOKUP: &'static str = "prompt-lookup";
    /// transformers' default `max_matching_ngram_size`.
    pub const DEFAULT_MAX_MATCHING_NGRAM_SIZE: usize = 2;
}

/// Speculative decoding's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeculativeParams {
    /// Tokens drafted per round (γ).
    pub gamma: usize,
    /// A draft model, or prompt lookup.
    pub draft: DraftSource,
    /// The distribution both models are read through when verifying by
    /// sampling; temperature 0 verifies greedily (see the module's rule).
    pub sampling: SamplingParams,
    /// Sequence `r` draws from `Rng::new(seed + r)`.
    pub seed: u64,
    /// Independent sequences, one after another.
    pub num_return_sequences: usize,
}

impl SpeculativeParams {
    /// Whether verification samples (temperature > 0) rather than takes the argmax.
    pub fn samples(&self) -> bool {
        !self.sampling.is_greedy()
    }
}

/// What a run returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// The returned sequences, best first for beam search.
    pub sequences: Vec<Generated>,
    /// Speculative decoding's counts, summed over its sequences.
    pub speculative: Option<SpeculativeStats>,
    /// Diverse beam search: the group each returned sequence came from.
    pub beam_groups: Option<Vec<usize>>,
}

impl Strategy {
    /// Which method this is.
    pub fn method(&self) -> Method {
        match self {
            Strategy::Greedy => Method::Greedy,
            Strategy::Beam(_) => Method::Beam,
            Strategy::Sample { .. } => Method::Sample,
            Strategy::Contrastive(_) => Method::Contrastive,
            Strategy::Speculative(_) => Method::Speculative,
            Strategy::ContrastiveSearch(_) => Method::ContrastiveSearch,
            Strategy::Dola(_) => Method::Dola,
        }
    }

    /// The second model this strategy needs, if any: contrastive's amateur,
    /// speculative decoding's draft model (none with prompt lookup).
    pub fn second_model(&self) -> Option<SecondModel> {
        match self {
            Strategy::Speculative(SpeculativeParams {
                draft: DraftSource::PromptLookup { .. },
                ..
            }) => None,
            _ => self.method().second_model(),
        }
    }

    /// The distribution a token step is chosen from, for the methods that
    /// choose one token from one processed distribution (greedy: temperature 0).
    pub fn sampling(&self) -> Option<SamplingParams> {
        match self {
            Strategy::Greedy => Some(SamplingParams {
                temperature: 0.0,
                ..SamplingParams::default()
            }),
            Strategy::Sample { sampling, .. } => Some(sampling.clone()),
            _ => None,
        }
    }

    /// Checks every parameter, the limits of [`crate::decoding::limits`]
    /// included; the messages name the command-line flags.
    pub fn validate(&self) -> Result<()> {
        let sequences = |n: usize| limits::check_rows("--num-return-sequences", n);
        match self {
            Strategy::Greedy => Ok(()),
            Strategy::Beam(params) => params.validate(),
            Strategy::Sample {
                sampling,
                num_return_sequences,
                ..
            } => {
                sampling.validate()?;
                sequences(*num_return_sequences)
            }
            Strategy::Contrastive(params) => params.validate(),
            Strategy::Speculative(params) => {
                limits::check_gamma(params.gamma)?;
                if let DraftSource::PromptLookup {
                    max_matching_ngram_size: 0,
                } = params.draft
                {
                    return Err(Error::input(
                        "--max-matching-ngram-size must be at least 1, got 0",
                    ));
                }
                params.sampling.validate()?;
                if params.sampling.is_stateful() {
                    return Err(Error::input(
                        "speculative decoding verifies with the target's distribution as a function \
                         of the context: XTC, mirostat and guidance do not apply to it",
                    ));
                }
                sequences(params.num_return_sequences)
            }
            Strategy::ContrastiveSearch(params) => params.validate(),
            Strategy::Dola(params) => params.validate(),
        }
    }
}

/// Runs `strategy` after `prompt` on `model` (and `second`, the amateur or
/// draft model of the two-model methods; speculative decoding with prompt
/// lookup takes none), calling `on_step` at every step. Forced choices
/// (`options.forced`, a branch) apply to greedy and sampling, the methods
/// that choose one token per step from one distribution; the others refuse them.
pub async fn run<M: LanguageModel, S: LanguageModel>(
    strategy: &Strategy,
    model: &M,
    second: Option<&S>,
    prompt: &[u32],
    options: &GenerateOptions,
    on_step: &mut dyn FnMut(Step),
) -> Result<Outcome> {
    strategy.validate()?;
    if !options.forced.is_empty() && strategy.sampling().is_none() {
        return Err(Error::input(format!(
            "--force applies to the greedy and sample strategies, not to {}: pick one of those \
             to branch a run",
            strategy.method().name()
        )));
    }
    let second = || {
        let role = strategy.method().second_model();
        second.ok_or_else(|| {
            Error::input(format!(
                "{} decoding needs a second model (the {}): give one",
                strategy.method().name(),
                role.map_or("second model", SecondModel::name)
            ))
        })
    };
    let sequences = match strategy {
        Strategy::Greedy => vec![greedy(model, prompt, options, on_step).await?],
        Strategy::Beam(params) => {
            let out = beam_search_in_groups(model, prompt, options, params, on_step).await?;
            let (sequences, groups) = out.into_iter().unzip();
            return Ok(Outcome {
                sequences,
                speculative: None,
                beam_groups: (params.num_beam_groups > 1).then_some(groups),
            });
        }
        Strategy::Sample {
            sampling,
            seed,
            num_return_sequences,
        } => {
            sample(
                model,
                prompt,
                options,
                sampling,
                *seed,
                *num_return_sequences,
                on_step,
            )
            .await?
        }
        Strategy::Contrastive(params) => {
            vec![contrastive(model, second()?, prompt, options, params, on_step).await?]
        }
        Strategy::Speculative(params) => {
            let draft = match params.draft {
                DraftSource::Model => Some(second()?),
                DraftSource::PromptLookup { .. } => None,
            };
            return run_speculative(params, model, draft, prompt, options, on_step).await;
        }
        Strategy::ContrastiveSearch(params) => {
            vec![contrastive_search(model, prompt, options, params, on_step).await?]
        }
        Strategy::Dola(params) => vec![dola(model, prompt, options, params, on_step).await?],
    };
    Ok(Outcome {
        sequences,
        ..Outcome::default()
    })
}

/// Speculative decoding's sequences, one after another, each from its own
/// random stream; the counts summed.
async fn run_speculative<M: LanguageModel, S: LanguageModel>(
    params: &SpeculativeParams,
    target: &M,
    draft: Option<&S>,
    prompt: &[u32],
    options: &GenerateOptions,
    on_step: &mut dyn FnMut(Step),
) -> Result<Outcome> {
    let mut outcome = Outcome {
        sequences: Vec::new(),
        speculative: Some(SpeculativeStats::default()),
        beam_groups: None,
    };
    let probs = |logits: &[f32], context: &[u32]| {
        let inputs = StepInputs {
            context,
            prompt_len: prompt.len(),
            ..StepInputs::default()
        };
        params.sampling.process_step(logits, &inputs).probs
    };
    for r in 0..params.num_return_sequences {
        let mut rng = Rng::new(params.seed.wrapping_add(r as u64));
        let mut uniform = || rng.next_f64();
        let verify = if params.samples() {
            Verify::Sample {
                probs: &probs,
                uniform: &mut uniform,
            }
        } else {
            Verify::Greedy
        };
        let drafter = match (params.draft, draft) {
            (
                DraftSource::PromptLookup {
                    max_matching_ngram_size,
                },
                _,
            ) => Drafter::PromptLookup {
                max_matching_ngram_size,
                // The sampler's n-gram ban (greedy verification has none).
                no_repeat_ngram_size: params
                    .sampling
                    .no_repeat_ngram_size
                    .filter(|_| params.samples()),
            },
            (DraftSource::Model, Some(draft)) => Drafter::Model(draft),
            (DraftSource::Model, None) => {
                return Err(Error::input(
                    "speculative decoding needs a draft model: give one",
                ))
            }
        };
        let (generated, stats) = speculative(
            target,
            drafter,
            prompt,
            options,
            params.gamma,
            verify,
            on_step,
        )
        .await?;
        if let Some(total) = outcome.speculative.as_mut() {
            total.drafted += stats.drafted;
            total.accepted += stats.accepted;
            total.target_passes += stats.target_passes;
            total.draft_passes += stats.draft_passes;
        }
        outcome.sequences.push(generated);
    }
    Ok(outcome)
}
