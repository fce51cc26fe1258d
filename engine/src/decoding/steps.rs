//! What each decoding step reports, for the page and `gpt2 generate --steps`:
//! the top candidates with their raw and processed probabilities and what cut
//! them, the beams, the drafted and accepted tokens, expert and amateur
//! log-probabilities.

use std::sync::Arc;

use serde::Serialize;

/// How many candidates a step reports.
pub const STEP_CANDIDATES: usize = 20;

/// Which logit processor removed a token from the distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    /// Greedy decoding keeps the most likely token only.
    Greedy,
    NoRepeatNgram,
    MinNewTokens,
    TopK,
    TopP,
    MinP,
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
        }
    }
}

/// One candidate token of a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BeamState {
    /// The new tokens of this beam so far.
    pub ids: Vec<u32>,
    /// Sum of the tokens' log-probabilities.
    pub logprob: f32,
    /// True for a hypothesis that ended (end-of-text) and was kept.
    pub finished: bool,
    /// The group of diverse beam search it belongs to (0 without groups).
    pub group: usize,
}

/// One drafted token of speculative decoding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Draft {
    pub id: u32,
    /// Target probability p(x).
    pub p: f32,
    /// Draft probability q(x).
    pub q: f32,
    pub accepted: bool,
}

/// One candidate of contrastive decoding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContrastiveCandidate {
    pub id: u32,
    pub expert_logprob: f32,
    pub amateur_logprob: f32,
    /// log p_expert − λ·log p_amateur (−∞ outside the plausibility set).
    pub score: f32,
    /// In {p_expert ≥ α·max p_expert}.
    pub plausible: bool,
}

/// One step of a decoding run.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    },
    /// Beam search: the live beams after the step, best first, then the
    /// finished hypotheses kept; with groups, group by group.
    Beams { beams: Vec<BeamState> },
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
}

impl Step {
    /// The step without its logits (what is kept of a long run).
    pub fn without_logits(mut self) -> Step {
        if let Step::Token { logits, .. } = &mut self {
            *logits = None;
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
        ] {
            let json = serde_json::to_string(&cut).unwrap();
            assert_eq!(json, format!("\"{}\"", cut.name()));
        }
    }
}
