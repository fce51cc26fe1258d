//! The settings of the decoding methods beyond the sampler chain: contrastive
//! search's α, DoLa's layers, diverse beam search's groups and penalty, and
//! prompt lookup's n-gram size, with their form in the URL (keys as the
//! command line's flags, with underscores).
//!
//! Two settings are shared, as on the command line: contrastive search's k
//! is `top_k` (`--top-k`; 0, sampling's "off", means the engine's default
//! k), and DoLa's repetition penalty is the chain's `repetition_penalty`
//! (`--repetition-penalty`). Rules across settings (beams divisible by
//! groups, a penalty without groups, layers beyond the model's) are the
//! engine's, checked by [`engine::decoding::Strategy::validate`] and when a
//! run starts.

use engine::decoding::{ContrastiveSearchParams, DolaLayers, DolaParams, DraftSource};

use super::{num, within};

/// The methods' own settings, at the engine's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodSettings {
    /// Contrastive search's α: the degeneration penalty's weight.
    pub penalty_alpha: f32,
    /// DoLa's premature layers.
    pub dola_layers: DolaLayers,
    /// Diverse beam search's groups G (1: plain beam search).
    pub num_beam_groups: usize,
    /// Diverse beam search's penalty D per earlier group's choice.
    pub diversity_penalty: f32,
    /// Prompt lookup's longest n-gram.
    pub max_matching_ngram_size: usize,
}

impl Default for MethodSettings {
    fn default() -> Self {
        MethodSettings {
            penalty_alpha: ContrastiveSearchParams::default().penalty_alpha,
            dola_layers: DolaParams::default().layers,
            num_beam_groups: 1,
            diversity_penalty: 0.0,
            max_matching_ngram_size: DraftSource::DEFAULT_MAX_MATCHING_NGRAM_SIZE,
        }
    }
}

impl MethodSettings {
    /// Sets one field from its query-string form; `Ok(false)` when `key` is
    /// not one of the methods'.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        match key {
            "penalty_alpha" => self.penalty_alpha = within(num(value)?, 0.0, 1.0)?,
            // The engine's parser, and its message for what it cannot read.
            "dola_layers" => {
                self.dola_layers = value.parse().map_err(|e: engine::Error| e.to_string())?
            }
            "num_beam_groups" => self.num_beam_groups = within(num(value)?, 1, 16)?,
            "diversity_penalty" => self.diversity_penalty = within(num(value)?, 0.0, 10.0)?,
            "max_matching_ngram_size" => self.max_matching_ngram_size = within(num(value)?, 1, 16)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The query-string pairs of the settings that differ from the default.
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let d = MethodSettings::default();
        let pairs = [
            (
                "penalty_alpha",
                self.penalty_alpha != d.penalty_alpha,
                self.penalty_alpha.to_string(),
            ),
            (
                "dola_layers",
                self.dola_layers != d.dola_layers,
                self.dola_layers.to_string(),
            ),
            (
                "num_beam_groups",
                self.num_beam_groups != d.num_beam_groups,
                self.num_beam_groups.to_string(),
            ),
            (
                "diversity_penalty",
                self.diversity_penalty != d.diversity_penalty,
                self.diversity_penalty.to_string(),
            ),
            (
                "max_matching_ngram_size",
                self.max_matching_ngram_size != d.max_matching_ngram_size,
                self.max_matching_ngram_size.to_string(),
            ),
        ];
        pairs
            .into_iter()
            .filter(|(_, differs, _)| *differs)
            .map(|(key, _, value)| (key, value))
            .collect()
    }

    /// Contrastive search with k = `top_k` (the shared `--top-k`), or the
    /// engine's default k where `top_k` is 0 (sampling's "off").
    pub fn contrastive_search(&self, top_k: usize) -> ContrastiveSearchParams {
        ContrastiveSearchParams {
            penalty_alpha: self.penalty_alpha,
            top_k: contrastive_k(top_k),
        }
    }

    /// DoLa with the chain's repetition penalty (1: none).
    pub fn dola(&self, repetition_penalty: f32) -> DolaParams {
        DolaParams {
            layers: self.dola_layers.clone(),
            repetition_penalty: (repetition_penalty != 1.0).then_some(repetition_penalty),
        }
    }
}

/// Contrastive search's k for the shared `top_k`: the engine's default where
/// it is 0.
pub fn contrastive_k(top_k: usize) -> usize {
    match top_k {
        0 => ContrastiveSearchParams::default().top_k,
        k => k,
    }
}
