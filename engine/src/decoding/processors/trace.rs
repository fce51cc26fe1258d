//! The chain traced stage by stage: what each point of the chain (a stage,
//! the bans, greedy's argmax) left of the whole vocabulary, and where the
//! chosen token stood. The trace watches the one chain
//! ([`SamplingParams::process_observed`]) through an [`Observer`], so what it
//! reports is what [`SamplingParams::process_step`] does, not a second
//! implementation of it.

use super::threshold::{threshold, Threshold};
use super::{softmax, Processed, SamplingParams, Stage, StepInputs};
use crate::decoding::select::rank;
use crate::decoding::{entropy, log_softmax};

/// A point of the chain where tokens can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The model's own distribution, before the chain (the funnel's top).
    Model,
    /// A stage of the order.
    Stage(Stage),
    /// The tokens banned for other reasons (end-of-text before
    /// `min_new_tokens`), just before the first warper.
    Bans,
    /// Greedy decoding's argmax: every token but one is cut.
    Greedy,
}

impl Point {
    /// The stage's name as `--samplers` names it; `bans`, `greedy`.
    pub fn name(self) -> &'static str {
        match self {
            Point::Model => "model",
            Point::Stage(stage) => stage.name(),
            Point::Bans => "bans",
            Point::Greedy => "greedy",
        }
    }
}

/// What the chain looks like after one point, over the whole vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct StageTrace {
    pub point: Point,
    /// Tokens left (logit not −∞).
    pub kept: usize,
    /// The model's (raw) probability mass of the tokens left, summed in f64.
    pub mass: f64,
    /// Entropy (nats) of the softmax of the logits left.
    pub entropy: f32,
    /// The chosen token's rank (1 = most likely; ties: lower ids first)
    /// among the tokens left; `None` once it is cut.
    pub chosen_rank: Option<usize>,
    /// The chosen token's probability in the softmax of the logits left.
    pub chosen_prob: f32,
    /// For a truncation the chosen token had survived to: the setting at
    /// which this stage would cut it, on this stage's input.
    pub threshold: Option<Threshold>,
}

/// What an observer is shown: a point, the logits before it and after it.
type See<'o> = &'o mut dyn FnMut(Point, &[f32], &[f32]);

/// Sees the logits before and after each point of the chain.
pub(crate) struct Observer<'o> {
    see: Option<See<'o>>,
}

impl<'o> Observer<'o> {
    /// The untraced chain: nothing is copied.
    pub fn none() -> Observer<'static> {
        Observer { see: None }
    }

    /// Runs `step` on `x`, showing the observer `x` before and after.
    pub fn watch(&mut self, point: Point, x: &mut Vec<f32>, step: impl FnOnce(&mut Vec<f32>)) {
        match self.see.as_mut() {
            None => step(x),
            Some(see) => {
                let before = x.clone();
                step(x);
                see(point, &before, x);
            }
        }
    }
}

impl SamplingParams {
    /// [`Self::process_step`] and, for every point of the chain in order,
    /// what it left and where `chosen` stood. The last point's survivors are
    /// exactly the tokens the processed distribution keeps.
    pub fn trace(
        &self,
        logits: &[f32],
        inputs: &StepInputs,
        chosen: u32,
    ) -> (Processed, Vec<StageTrace>) {
        let raw = softmax(logits);
        let mut stages = Vec::new();
        let mut see = |point: Point, before: &[f32], after: &[f32]| {
            stages.push(stage_trace(point, before, after, &raw, chosen as usize));
        };
        let mut observer = Observer {
            see: Some(&mut see),
        };
        let processed = self.process_observed(logits, inputs, &mut observer);
        (processed, stages)
    }
}

/// The model's own distribution as the funnel's first row: every token, the
/// whole mass, the raw logits' entropy and the chosen token's place there.
pub fn model_trace(logits: &[f32], chosen: u32) -> StageTrace {
    stage_trace(
        Point::Model,
        logits,
        logits,
        &softmax(logits),
        chosen as usize,
    )
}

fn stage_trace(
    point: Point,
    before: &[f32],
    after: &[f32],
    raw: &[f32],
    chosen: usize,
) -> StageTrace {
    let alive = |i: usize| after[i] != f32::NEG_INFINITY;
    let kept = (0..after.len()).filter(|&i| alive(i)).count();
    let mass = (0..after.len())
        .filter(|&i| alive(i))
        .map(|i| raw[i] as f64)
        .sum();
    let probs = softmax(after);
    let p = probs.get(chosen).copied().unwrap_or(0.0);
    let chosen_rank = (chosen < after.len() && alive(chosen)).then(|| {
        1 + (0..probs.len())
            .filter(|&i| rank((probs[i], i), (p, chosen)).is_lt())
            .count()
    });
    let was_alive = before.get(chosen).is_some_and(|&v| v != f32::NEG_INFINITY);
    let threshold = match point {
        Point::Stage(stage) if was_alive => threshold(stage, before, chosen),
        _ => None,
    };
    StageTrace {
        point,
        kept,
        mass,
        entropy: entropy(&log_softmax(after)),
        chosen_rank,
        chosen_prob: p,
        threshold,
    }
}
