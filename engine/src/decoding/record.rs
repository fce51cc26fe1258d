//! A run in the JSON form `gpt2 generate --json [--steps]` prints and the
//! page exports: the prompt's ids, the returned sequences, the speed and,
//! with `--steps`, every step event. Written and read back here only, so the
//! command line and the page agree on it (see CLI.md's `--json` output).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::decoding::Step;
use crate::{Error, Result};

/// One run, as JSON holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub prompt_ids: Vec<u32>,
    pub sequences: Vec<SequenceRecord>,
    /// `new_tokens`, `seconds`, `tokens_per_second`, `prefill_seconds`,
    /// `decode_tokens_per_second` and, for speculative decoding, its counts.
    pub stats: Map<String, Value>,
    /// The step events (`--steps`), without the logits they were chosen from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Step>>,
}

/// One returned sequence: its new ids, their text and its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceRecord {
    pub ids: Vec<u32>,
    pub text: String,
    /// The sum of the tokens' log-probabilities (beam search: its
    /// `sequences_scores`).
    pub score: f32,
    /// Diverse beam search: the group the sequence came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<usize>,
}

impl RunRecord {
    /// The record with `steps` (their logits dropped), when there are any to keep.
    pub fn with_steps(mut self, steps: Option<Vec<Step>>) -> Self {
        self.steps = steps.map(|s| s.into_iter().map(Step::without_logits).collect());
        self
    }

    /// The record as one line of JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Backend(format!("writing the run: {e}")))
    }

    /// A record read back from its JSON.
    pub fn from_json(text: &str) -> Result<RunRecord> {
        serde_json::from_str(text)
            .map_err(|e| Error::input(format!("this is not a run as gpt2 --json writes it: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoding::steps::{
        BeamState, ContrastiveCandidate, Cut, DolaCandidate, DolaLayer, Draft, PrunedBeam,
        SearchCandidate, StepCandidate,
    };

    /// One step of every kind, with −∞ where a strategy writes it.
    fn every_kind() -> Vec<Step> {
        vec![
            Step::Token {
                row: 0,
                chosen: 7,
                candidates: vec![
                    StepCandidate {
                        id: 7,
                        raw_prob: 0.25,
                        scaled_prob: 0.3,
                        prob: 0.6,
                        cut: None,
                    },
                    StepCandidate {
                        id: 3,
                        raw_prob: 0.1,
                        scaled_prob: 0.05,
                        prob: 0.0,
                        cut: Some(Cut::Typical),
                    },
                ],
                logits: Some(vec![0.5; 4].into()),
                mirostat_mu: Some(6.5),
                xtc_coin: Some(0.123456789),
                unconditional: None,
            },
            Step::Beams {
                beams: vec![BeamState {
                    ids: vec![1, 2],
                    logprob: f32::NEG_INFINITY,
                    score: f32::NEG_INFINITY,
                    finished: true,
                    group: 1,
                    parent: Some(0),
                }],
                pruned: vec![PrunedBeam {
                    id: 7,
                    parent: None,
                    logprob: -3.5,
                    score: -1.75,
                    group: 1,
                }],
            },
            Step::Speculative {
                drafted: vec![Draft {
                    id: 4,
                    p: 0.5,
                    q: 1.0,
                    accepted: false,
                }],
                added: 9,
                resampled: true,
            },
            Step::Contrastive {
                chosen: 5,
                candidates: vec![ContrastiveCandidate {
                    id: 5,
                    expert_logprob: -1.5,
                    amateur_logprob: -2.25,
                    score: f32::NEG_INFINITY,
                    plausible: false,
                }],
            },
            Step::ContrastiveSearch {
                chosen: 2,
                candidates: vec![SearchCandidate {
                    id: 2,
                    prob: 0.4,
                    penalty: 0.1,
                    score: 0.2,
                }],
            },
            Step::Dola {
                chosen: 8,
                premature_layer: 2,
                layers: vec![DolaLayer {
                    layer: 2,
                    js_divergence: 0.01,
                }],
                candidates: vec![DolaCandidate {
                    id: 8,
                    final_logprob: -0.5,
                    premature_logprob: -3.0,
                    score: f32::NEG_INFINITY,
                    plausible: false,
                }],
            },
        ]
    }

    #[test]
    fn a_run_with_every_kind_of_step_reads_back_equal_without_its_logits() {
        let mut stats = Map::new();
        stats.insert("new_tokens".into(), 2.into());
        let record = RunRecord {
            prompt_ids: vec![6214, 345],
            sequences: vec![SequenceRecord {
                ids: vec![7, 5],
                text: " soon".into(),
                score: -2.01,
                group: Some(1),
            }],
            stats,
            steps: None,
        }
        .with_steps(Some(every_kind()));
        let json = record.to_json().unwrap();
        let back = RunRecord::from_json(&json).unwrap();
        assert_eq!(back, record, "read back from {json}");
        let want: Vec<Step> = every_kind().into_iter().map(Step::without_logits).collect();
        assert_eq!(back.steps.as_deref(), Some(&want[..]));
        assert!(!json.contains("logits"), "{json}");
    }

    #[test]
    fn a_run_without_steps_or_groups_leaves_them_out() {
        let record = RunRecord {
            prompt_ids: vec![1],
            sequences: vec![SequenceRecord {
                ids: vec![2],
                text: "x".into(),
                score: -1.0,
                group: None,
            }],
            stats: Map::new(),
            steps: None,
        };
        let json = record.to_json().unwrap();
        assert_eq!(
            json,
            r#"{"prompt_ids":[1],"sequences":[{"ids":[2],"text":"x","score":-1.0}],"stats":{}}"#
        );
        assert_eq!(RunRecord::from_json(&json).unwrap(), record);
    }

    #[test]
    fn json_that_is_no_run_is_an_input_error() {
        let e = RunRecord::from_json(r#"{"prompt_ids": "x"}"#).unwrap_err();
        assert!(e.to_string().contains("not a run"), "{e}");
    }
}
