//! The run's timeline: at each step, the chosen token's probability under
//! the model and the entropy of the model's distribution (nats), computed
//! once as the step arrives with the engine's own softmax and entropy
//! ([`engine::decoding::entropy`]).
//!
//! A token step (greedy, sampling) gives the chosen token's `raw_prob` (the
//! softmax of the raw logits, as the engine reported it) and, when the step
//! carries its logits, their entropy; greedy's top-only fast path keeps no
//! logits, so its steps have a probability only. Contrastive decoding gives
//! the expert's probability, contrastive search the model's (after its
//! processors), DoLa the final layer's, each without entropy (only the top
//! candidates come with the step). Beams and speculative rounds choose no
//! single token from one distribution: they have no point.

use engine::decoding::{entropy, log_softmax, Step};

/// One step on the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The chosen token's probability under the model.
    pub prob: f32,
    /// The entropy of the model's distribution (nats), when the step holds it.
    pub entropy: Option<f32>,
}

/// The timeline's point for `step`, if it has one (see the module's doc).
pub fn point(step: &Step) -> Option<Point> {
    let only = |prob: f32| {
        Some(Point {
            prob,
            entropy: None,
        })
    };
    match step {
        Step::Token {
            row: 0,
            chosen,
            candidates,
            logits,
            ..
        } => Some(Point {
            prob: candidates.iter().find(|c| c.id == *chosen)?.raw_prob,
            entropy: logits.as_deref().map(|l| entropy(&log_softmax(l))),
        }),
        Step::Contrastive { chosen, candidates } => only(
            candidates
                .iter()
                .find(|c| c.id == *chosen)?
                .expert_logprob
                .exp(),
        ),
        Step::ContrastiveSearch { chosen, candidates } => {
            only(candidates.iter().find(|c| c.id == *chosen)?.prob)
        }
        Step::Dola {
            chosen, candidates, ..
        } => only(
            candidates
                .iter()
                .find(|c| c.id == *chosen)?
                .final_logprob
                .exp(),
        ),
        Step::Token { .. } | Step::Beams { .. } | Step::Speculative { .. } => None,
    }
}

/// Where a point lies in the chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    pub x: f32,
    /// The probability's height.
    pub y: f32,
    /// The entropy's height, when the step has one.
    pub entropy_y: Option<f32>,
}

/// Where the points lie in a chart `width` × `height` (a margin of `pad`
/// around): x by step, y = the probability (1 at the top), and the entropy
/// scaled so that `max_entropy` is at the top.
pub fn layout(points: &[(usize, Point)], width: f32, height: f32, pad: f32) -> Vec<Placed> {
    let max_entropy = points
        .iter()
        .filter_map(|(_, p)| p.entropy)
        .fold(0.0f32, f32::max);
    let last = points.len().saturating_sub(1).max(1) as f32;
    let (w, h) = (width - 2.0 * pad, height - 2.0 * pad);
    points
        .iter()
        .enumerate()
        .map(|(i, (_, p))| {
            let x = pad + w * i as f32 / last;
            let y = |v: f32| pad + h * (1.0 - v.clamp(0.0, 1.0));
            let e = p.entropy.map(|e| {
                y(if max_entropy > 0.0 {
                    e / max_entropy
                } else {
                    0.0
                })
            });
            Placed {
                x,
                y: y(p.prob),
                entropy_y: e,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::decoding::steps::{BeamState, ContrastiveCandidate, StepCandidate};
    use engine::decoding::SamplingParams;
    // Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn token(logits: Option<Vec<f32>>, chosen: u32, candidates: Vec<StepCandidate>) -> Step {
        Step::Token {
            row: 0,
            chosen,
            candidates,
            logits: logits.map(Into::into),
            mirostat_mu: None,
            xtc_coin: None,
            unconditional: None,
        }
    }

    #[test]
    fn a_token_step_gives_the_engines_raw_probability_and_the_entropy_of_its_logits() {
        let logits = vec![1.0, 2.0, 0.5, -1.0, f32::NEG_INFINITY];
        let processed = SamplingParams::default().process(&logits, &[]);
        let candidates = processed.step_candidates(3, 2);
        let p = point(&token(Some(logits.clone()), 2, candidates)).unwrap();
        let probs = engine::decoding::processors::softmax(&logits);
        assert_eq!(p.prob, processed.candidate(2).raw_prob);
        assert!(
            (p.prob - probs[2]).abs() < 1e-7,
            "{} vs {}",
            p.prob,
            probs[2]
        );
        let h: f64 = probs
            .iter()
            .filter(|&&q| q > 0.0)
            .map(|&q| -(q as f64) * (q as f64).ln())
            .sum();
        let e = p.entropy.unwrap();
        assert!((e as f64 - h).abs() < 1e-6, "entropy {e} vs {h}");
    }

    #[test]
    fn greedys_top_only_steps_have_no_entropy_and_beams_no_point() {
        let c = StepCandidate {
            id: 4,
            raw_prob: 0.25,
            scaled_prob: 0.25,
            prob: 1.0,
            cut: None,
        };
        let p = point(&token(None, 4, vec![c])).unwrap();
        assert_eq!((p.prob, p.entropy), (0.25, None));
        let beams = Step::Beams {
            beams: vec![BeamState {
                ids: vec![1],
                logprob: -1.0,
                score: -1.0,
                finished: false,
                group: 0,
                parent: None,
            }],
            pruned: Vec::new(),
        };
        assert_eq!(point(&beams), None);
        let contrastive = Step::Contrastive {
            chosen: 3,
            candidates: vec![ContrastiveCandidate {
                id: 3,
                expert_logprob: 0.5f32.ln(),
                amateur_logprob: -1.0,
                score: 0.3,
                plausible: true,
            }],
        };
        let p = point(&contrastive).unwrap();
        assert!((p.prob - 0.5).abs() < 1e-7 && p.entropy.is_none(), "{p:?}");
    }

    #[test]
    fn the_layout_spans_the_chart_and_puts_the_largest_entropy_at_the_top() {
        let at = |prob, entropy| Point { prob, entropy };
        let points = [
            (0, at(1.0, Some(2.0))),
            (1, at(0.5, Some(1.0))),
            (2, at(0.0, None)),
        ];
        let xy = layout(&points, 100.0, 50.0, 5.0);
        let at = |x, y, entropy_y| Placed { x, y, entropy_y };
        assert_eq!(xy[0], at(5.0, 5.0, Some(5.0)));
        assert_eq!(xy[1], at(50.0, 25.0, Some(25.0)));
        assert_eq!(xy[2], at(95.0, 45.0, None));
        assert_eq!(layout(&points[..1], 100.0, 50.0, 5.0)[0].x, 5.0);
    }
}
