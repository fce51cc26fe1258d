//! The bars of one sampling step, recomputed from the step's raw logits: a
//! slider move re-draws them at once, with no forward pass.

use engine::decoding::steps::Cut;
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

/// The chart of a step: the `n` most likely tokens under the model (the chosen
/// one always included), each with what `params` make of it. `context` is the
/// prompt and the tokens before the step (the repetition penalty reads it).
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

/// The name of a cut as the page and its tests show it.
pub fn cut_name(cut: Option<Cut>) -> &'static str {
    match cut {
        None => "",
        Some(Cut::TopK) => "top_k",
        Some(Cut::TopP) => "top_p",
        Some(Cut::MinP) => "min_p",
        Some(Cut::NoRepeatNgram) => "no_repeat_ngram",
        Some(Cut::MinNewTokens) => "min_new_tokens",
    }
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
