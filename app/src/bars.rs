//! The bars of one greedy or sampling step. Under the settings the run used
//! they are the engine's own candidates for the step: what the run did. Once
//! a slider has moved they are recomputed from the step's raw logits under
//! the current settings, with no forward pass: what those settings would do
//! at this step, the run's chosen token marked cut only if they would cut it.

use engine::decoding::steps::{Cut, StepCandidate};
use engine::decoding::SamplingParams;

/// How many tokens the chart shows.
pub const CHART_TOKENS: usize = 12;

/// One bar of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub id: u32,
    /// Probability under the model alone.
    pub raw: f32,
    /// Probability after temperature, before truncation.
    pub scaled: f32,
    /// Probability in the distribution sampled from (0 when cut).
    pub prob: f32,
    /// What cut the token, if anything did.
    pub cut: Option<Cut>,
    /// The token the run chose at this step.
    pub chosen: bool,
}

/// One token step, as the chart needs it.
pub struct TokenStep<'a> {
    pub chosen: u32,
    /// The engine's candidates, by raw probability.
    pub candidates: &'a [StepCandidate],
    /// The raw logits, when the run read the whole row.
    pub logits: Option<&'a [f32]>,
    /// The prompt and the tokens before the step (the repetition penalty reads it).
    pub context: &'a [u32],
    /// The distribution the run chose from.
    pub used: Option<&'a SamplingParams>,
}

/// A step's chart, and whether it was recomputed under other settings than
/// the run's.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub bars: Vec<Bar>,
    pub recomputed: bool,
}

/// The chart of `step` under the `current` settings (`None`: the current
/// strategy chooses no token from one distribution), `n` bars plus the
/// chosen token's.
pub fn chart(step: &TokenStep<'_>, current: Option<&SamplingParams>, n: usize) -> Chart {
    match (current, step.logits) {
        (Some(params), Some(logits)) if Some(params) != step.used => Chart {
            bars: bars(logits, step.context, params, step.chosen, n),
            recomputed: true,
        },
        _ => Chart {
            bars: own_bars(step.candidates, step.chosen, n),
            recomputed: false,
        },
    }
}

/// The engine's candidates as bars: the `n` first by raw probability, and
/// the chosen token.
fn own_bars(candidates: &[StepCandidate], chosen: u32, n: usize) -> Vec<Bar> {
    candidates
        .iter()
        .enumerate()
        .filter(|(i, c)| *i < n || c.id == chosen)
        .map(|(_, c)| Bar {
            id: c.id,
            raw: c.raw_prob,
            scaled: c.scaled_prob,
            prob: c.prob,
            cut: c.cut,
            chosen: c.id == chosen,
        })
        .collect()
}

/// The chart of a step recomputed: the `n` most likely tokens under the model
/// (the chosen one always included), each with what `params` make of it.
/// `context` is the prompt and the tokens before the step.
pub fn bars(
    logits: &[f32],
    context: &[u32],
    params: &SamplingParams,
    chosen: u32,
    n: usize,
) -> Vec<Bar> {
    let processed = params.process(logits, context);
    let mut candidates = processed.step_candidates(n, chosen);
    // `step_candidates` adds the most likely kept tokens: keep the raw top n
    // (and the chosen token) only, so the chart keeps its rows when sliders move.
    let mut raw_rank: Vec<u32> = candidates.iter().map(|c| c.id).collect();
    raw_rank.truncate(n);
    candidates.retain(|c| raw_rank.contains(&c.id) || c.id == chosen);
    candidates
        .into_iter()
        .map(|c| Bar {
            id: c.id,
            raw: c.raw_prob,
            scaled: c.scaled_prob,
            prob: c.prob,
            cut: c.cut,
            chosen: c.id == chosen,
        })
        .collect()
}

/// The name of a cut as the page and its tests show it ("" for none).
pub fn cut_name(cut: Option<Cut>) -> &'static str {
    cut.map_or("", Cut::name)
}

#[cfg(test)]
mod tests {
    use super::*;
    // Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn logits() -> Vec<f32> {
        // Token i has logit -0.5 i: probabilities fall off geometrically.
        (0..50).map(|i| -0.5 * i as f32).collect()
    }

    #[test]
    fn bars_follow_the_sliders_without_changing_rows() {
        let l = logits();
        let plain = bars(&l, &[], &SamplingParams::default(), 2, 5);
        assert_eq!(
            plain.iter().map(|b| b.id).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert!(plain
            .iter()
            .all(|b| b.cut.is_none() && (b.prob - b.raw).abs() < 1e-6));
        assert_eq!(plain.iter().filter(|b| b.chosen).count(), 1);

        let cold = SamplingParams {
            temperature: 0.5,
            top_k: Some(3),
            ..SamplingParams::default()
        };
        let sharp = bars(&l, &[], &cold, 2, 5);
        assert_eq!(
            sharp.iter().map(|b| b.id).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert!(
            sharp[0].prob > plain[0].prob,
            "{} vs {}",
            sharp[0].prob,
            plain[0].prob
        );
        assert_eq!(sharp[3].cut, Some(Cut::TopK));
        assert_eq!(sharp[3].prob, 0.0);
        let kept: f32 = sharp.iter().map(|b| b.prob).sum();
        assert!(
            (kept - 1.0).abs() < 1e-5,
            "the 3 kept tokens hold all the mass: {kept}"
        );
    }

    /// A sampling run's step 0 at the default settings, as the engine reports it.
    fn sampled_step(l: &[f32], chosen: u32) -> Vec<StepCandidate> {
        SamplingParams::default()
            .process(l, &[])
            .step_candidates(20, chosen)
    }

    #[test]
    fn under_the_runs_settings_the_chart_is_the_engines_own_step() {
        let l = logits();
        let used = SamplingParams::default();
        let candidates = sampled_step(&l, 3);
        let step = TokenStep {
            chosen: 3,
            candidates: &candidates,
            logits: Some(&l),
            context: &[],
            used: Some(&used),
        };
        let own = chart(&step, Some(&used), 5);
        assert!(!own.recomputed);
        assert_eq!(
            own.bars.iter().map(|b| b.id).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        let c3 = candidates.iter().find(|c| c.id == 3).unwrap();
        assert_eq!((own.bars[3].prob, own.bars[3].cut), (c3.prob, None));
        assert!(own.bars[3].chosen);
        // A strategy that samples nothing (beam search picked in the menu):
        // still the run's own step.
        assert_eq!(chart(&step, None, 5), own);
    }

    #[test]
    fn after_a_slider_moves_the_chosen_token_is_cut_only_if_the_new_settings_cut_it() {
        let l = logits();
        let used = SamplingParams::default();
        let candidates = sampled_step(&l, 3);
        let step = TokenStep {
            chosen: 3,
            candidates: &candidates,
            logits: Some(&l),
            context: &[],
            used: Some(&used),
        };
        let keeps = SamplingParams {
            top_k: Some(4),
            ..SamplingParams::default()
        };
        let kept = chart(&step, Some(&keeps), 5);
        assert!(kept.recomputed);
        let chosen = kept.bars.iter().find(|b| b.chosen).unwrap();
        assert_eq!(chosen.id, 3);
        assert_eq!(chosen.cut, None, "top-k 4 keeps token 3 (rank 4)");
        assert!(chosen.prob > 0.0);
        assert_eq!(kept.bars[4].cut, Some(Cut::TopK));

        let cuts = SamplingParams {
            top_k: Some(3),
            ..SamplingParams::default()
        };
        let cut = chart(&step, Some(&cuts), 5);
        let chosen = cut.bars.iter().find(|b| b.chosen).unwrap();
        assert_eq!((chosen.cut, chosen.prob), (Some(Cut::TopK), 0.0));
    }

    #[test]
    fn a_greedy_step_without_logits_shows_its_own_cuts() {
        let greedy = SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        };
        let l = logits();
        let candidates = greedy.process(&l, &[]).step_candidates(20, 0);
        let step = TokenStep {
            chosen: 0,
            candidates: &candidates,
            logits: None,
            context: &[],
            used: Some(&greedy),
        };
        let moved = SamplingParams::default();
        let c = chart(&step, Some(&moved), 3);
        assert!(!c.recomputed, "nothing to recompute from");
        assert_eq!(c.bars[0].cut, None);
        assert_eq!(cut_name(c.bars[1].cut), "greedy");
    }

    #[test]
    fn the_chosen_token_is_shown_even_when_unlikely() {
        let chart = bars(&logits(), &[], &SamplingParams::default(), 40, 4);
        assert_eq!(chart.len(), 5);
        assert!(chart.last().unwrap().chosen);
        assert_eq!(chart.last().unwrap().id, 40);
    }

    #[test]
    fn top_p_and_min_p_cuts_are_named() {
        let l = logits();
        let p = SamplingParams {
            top_p: Some(0.5),
            ..SamplingParams::default()
        };
        let chart = bars(&l, &[], &p, 0, 4);
        assert_eq!(cut_name(chart[3].cut), "top_p");
        let m = SamplingParams {
            min_p: Some(0.5),
            ..SamplingParams::default()
        };
        let chart = bars(&l, &[], &m, 0, 4);
        assert_eq!(cut_name(chart[1].cut), "");
        assert_eq!(cut_name(chart[2].cut), "min_p");
    }
}
