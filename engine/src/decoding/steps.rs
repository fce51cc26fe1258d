//! What each decoding step reports, for the page and `gpt2 generate --steps`:
//! the top candidates with their raw and processed probabilities and what cut
//! them, the beams, the drafted and accepted tokens, expert and amateur
//! log-probabilities, contrastive search's degeneration penalties, DoLa's
//! premature layer and contrast.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

/// How many candidates a step reports.
pub const STEP_CANDIDATES: usize = 20;

/// Which logit processor removed a token from the distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    /// Greedy decoding keeps the most likely token only.
    Greedy,
    NoRepeatNgram,
    MinNewTokens,
    TopK,
    TopP,
    MinP,
    /// Locally typical sampling (Meister et al. 2022).
    #[serde(rename = "typical_p")]
    Typical,
    /// ε-sampling (Hewitt et al. 2022).
    #[serde(rename = "epsilon_cutoff")]
    Epsilon,
    /// η-sampling (Hewitt et al. 2022).
    #[serde(rename = "eta_cutoff")]
    Eta,
    /// Top-H (transformers' `TopHLogitsWarper`).
    TopH,
    /// Top-nσ (Tang et al. 2024).
    TopNSigma,
    /// Exclude Top Choices (XTC).
    Xtc,
    /// Mirostat v2's surprise cut (Basu et al. 2020).
    Mirostat,
}

impl Cut {
    /// The name in JSON (`--steps`) and on the page.
    pub fn name(self) -> &'static str {
        match self {
            Cut::Greedy => "greedy",
            Cut::NoRepeatNgram => "no_repeat_ngram",
            Cut::MinNewTokens => "min_new_tokens",
            Cut::TopK => "top_k",
            Cut::TopP => "top_p",
            Cut::MinP => "min_p",
            Cut::Typical => "typical_p",
            Cut::Epsilon => "epsilon_cutoff",
            Cut::Eta => "eta_cutoff",
            Cut::TopH => "top_h",
            Cut::TopNSigma => "top_n_sigma",
            Cut::Xtc => "xtc",
            Cut::Mirostat => "mirostat",
        }
    }
}

/// One candidate token of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepCandidate {
    pub id: u32,
    /// Probability under the model alone (softmax of the raw logits).
    pub raw_prob: f32,
    /// Probability after repetition penalty and temperature, before truncation.
    pub scaled_prob: f32,
    /// Probability in the distribution actually used (0 when cut).
    pub prob: f32,
    /// The processor that removed it, if one did.
    pub cut: Option<Cut>,
}

/// One beam after a step of beam search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeamState {
    /// The new tokens of this beam so far.
    pub ids: Vec<u32>,
    /// Sum of the tokens' log-probabilities.
    #[serde(deserialize_with = "null_as_neg_inf")]
    pub logprob: f32,
    /// The length-penalised score, `logprob / len ** length_penalty` (`len`:
    /// the new tokens): what finished hypotheses are ranked by.
    #[serde(default, deserialize_with = "null_as_neg_inf")]
    pub score: f32,
    /// True for a hypothesis that ended (end-of-text) and was kept.
    pub finished: bool,
    /// The group of diverse beam search it belongs to (0 without groups).
    pub group: usize,
    /// For a hypothesis new at this step, the index in the previous step's
    /// `beams` of the beam it extends; none at the first step and for the
    /// finished hypotheses kept from an earlier step.
    #[serde(default)]
    pub parent: Option<usize>,
}

/// A continuation beam search weighed at a step and dropped: one of the 2·K
/// best candidates (2·K/G per group) that neither became a live beam nor a
/// kept finished hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrunedBeam {
    /// The token it would have added.
    pub id: u32,
    /// The index in the previous step's `beams` of the beam it extends (none
    /// at the first step).
    pub parent: Option<usize>,
    /// Sum of the log-probabilities with that token.
    #[serde(deserialize_with = "null_as_neg_inf")]
    pub logprob: f32,
    /// Length-penalised, as [`BeamState::score`].
    #[serde(deserialize_with = "null_as_neg_inf")]
    pub score: f32,
    /// Its group (0 without groups).
    pub group: usize,
}

/// One drafted token of speculative decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub id: u32,
    /// Target probability p(x).
    pub p: f32,
    /// Draft probability q(x).
    pub q: f32,
    pub accepted: bool,
}

/// One candidate of contrastive decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContrastiveCandidate {
    pub id: u32,
    #[serde(deserialize_with = "null_as_neg_inf")]
    pub expert_logprob: f32,
    #[serde(deserialize_with = "null_as_neg_inf")]
    pub amateur_logprob: f32,
    /// log p_expert − λ·log p_amateur (−∞ outside the plausibility set).
    #[serde(deserialize_with = "null_as_neg_inf")]
    pub score: f32,
    /// In {p_expert ≥ α·max p_expert}.
    pub plausible: bool,
}

/// One candidate of contrastive search (Su et al. 2022).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchCandidate {
    pub id: u32,
    /// The model's probability (after the processors).
    pub prob: f32,
    /// The degeneration penalty: the largest cosine between the token's
    /// last hidden state and the context's.
    pub penalty: f32,
    /// (1 − α)·prob − α·penalty; the largest is chosen.
    pub score: f32,
}

/// One premature layer DoLa weighed (Chuang et al. 2023).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DolaLayer {
    /// `hidden_states[layer]` through the head.
    pub layer: usize,
    /// Jensen–Shannon divergence from the final layer's distribution (the
    /// largest picks the premature layer).
    pub js_divergence: f32,
}

/// One candidate of DoLa.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DolaCandidate {
    pub id: u32,
    /// Log-probability under the final layer.
    #[serde(deserialize_with = "null_as_neg_inf")]
    pub final_logprob: f32,
    /// Log-probability under the premature layer.
    #[serde(deserialize_with = "null_as_neg_inf")]
    pub premature_logprob: f32,
    /// final − premature (−∞ outside the plausibility set).
    #[serde(deserialize_with = "null_as_neg_inf")]
    pub score: f32,
    /// In {p_final ≥ 0.1·max p_final}.
    pub plausible: bool,
}

/// One step of a decoding run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// Greedy or sampling: one token chosen from a distribution (`row` is the
    /// returned sequence it belongs to).
    Token {
        row: usize,
        chosen: u32,
        candidates: Vec<StepCandidate>,
        /// The raw logits the token was chosen from, when the strategy had
        /// the whole row (not with greedy's top-only fast path): the page
        /// redraws the step's chart from them under other settings. Not
        /// serialized.
        #[serde(skip)]
        logits: Option<Arc<[f32]>>,
        /// Mirostat's μ at this step (before its update), when it samples.
        #[serde(skip_serializing_if = "Option::is_none")]
        mirostat_mu: Option<f32>,
        /// XTC's coin at this step, this row (a uniform in [0, 1); XTC
        /// applied when it was below the probability), when XTC is on.
        #[serde(skip_serializing_if = "Option::is_none")]
        xtc_coin: Option<f64>,
        /// Classifier-free guidance: the unconditional logits of this step,
        /// when guidance is on and the runner kept them (the page redraws
        /// a guided step from both rows). Not serialized.
        #[serde(skip)]
        unconditional: Option<Arc<[f32]>>,
    },
    /// Beam search: the live beams after the step, best first, then the
    /// finished hypotheses kept; with groups, group by group. `pruned`: the
    /// candidates of this step that were dropped, best first (by group).
    Beams {
        beams: Vec<BeamState>,
        #[serde(default)]
        pruned: Vec<PrunedBeam>,
    },
    /// Speculative decoding: the drafted tokens, the one the target added
    /// (resampled after a rejection, or the bonus token after full acceptance).
    Speculative {
        drafted: Vec<Draft>,
        added: u32,
        resampled: bool,
    },
    /// Contrastive decoding: the chosen token and the top candidates.
    Contrastive {
        chosen: u32,
        candidates: Vec<ContrastiveCandidate>,
    },
    /// Contrastive search: the chosen token and the top-k candidates.
    ContrastiveSearch {
        chosen: u32,
        candidates: Vec<SearchCandidate>,
    },
    /// DoLa: the premature layer chosen among those weighed, the chosen
    /// token and the top candidates by final log-probability.
    Dola {
        chosen: u32,
        premature_layer: usize,
        layers: Vec<DolaLayer>,
        candidates: Vec<DolaCandidate>,
    },
}

/// Reads a log-probability or score back from JSON, where −∞ (a token
/// outside the plausibility set, a probability of 0) was written as `null`:
/// JSON has no infinities.
fn null_as_neg_inf<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    Ok(Option::<f32>::deserialize(d)?.unwrap_or(f32::NEG_INFINITY))
}

impl Step {
    /// The step without its logits (what is kept of a long run).
    pub fn without_logits(mut self) -> Step {
        if let Step::Token {
            logits,
            unconditional,
            ..
        } = &mut self
        {
            *logits = None;
            *unconditional = None;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_is_named_as_json_names_it() {
        for cut in [
            Cut::Greedy,
            Cut::NoRepeatNgram,
            Cut::MinNewTokens,
            Cut::TopK,
            Cut::TopP,
            Cut::MinP,
            Cut::Typical,
            Cut::Epsilon,
            Cut::Eta,
            Cut::TopH,
            Cut::TopNSigma,
            Cut::Xtc,
            Cut::Mirostat,
        ] {
            let json = serde_json::to_string(&cut).unwrap();
            assert_eq!(json, format!("\"{}\"", cut.name()));
        }
    }
}
