//! The chart's bars: the run's own, and redrawn under other settings.

use super::*;
// Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// A step's inputs with no context and nothing drawn.
fn nothing_drawn() -> StepInputs<'static> {
    StepInputs::default()
}

/// Step 0 of a run without a prompt, choosing token 3 from `l`.
fn step_at<'a>(l: &'a [f32], candidates: &'a [StepCandidate]) -> TokenStep<'a> {
    TokenStep {
        chosen: 3,
        candidates,
        logits: Some(l),
        context: &[],
        prompt_len: 0,
        used: None,
        xtc_coin: None,
        mirostat_mu: None,
        unconditional: None,
    }
}

fn logits() -> Vec<f32> {
    // Token i has logit -0.5 i: probabilities fall off geometrically.
    (0..50).map(|i| -0.5 * i as f32).collect()
}

#[test]
fn bars_follow_the_sliders_without_changing_rows() {
    let l = logits();
    let plain = bars(&l, &nothing_drawn(), &SamplingParams::default(), 2, 5);
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
    let sharp = bars(&l, &nothing_drawn(), &cold, 2, 5);
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
        used: Some(&used),
        ..step_at(&l, &candidates)
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
        used: Some(&used),
        ..step_at(&l, &candidates)
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
        used: Some(&greedy),
        ..step_at(&l, &candidates)
    };
    let moved = SamplingParams::default();
    let c = chart(&step, Some(&moved), 3);
    assert!(!c.recomputed, "nothing to recompute from");
    assert_eq!(c.bars[0].cut, None);
    assert_eq!(cut_name(c.bars[1].cut), "greedy");
}

#[test]
fn the_chosen_token_is_shown_even_when_unlikely() {
    let chart = bars(
        &logits(),
        &nothing_drawn(),
        &SamplingParams::default(),
        40,
        4,
    );
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
    let chart = bars(&l, &nothing_drawn(), &p, 0, 4);
    assert_eq!(cut_name(chart[3].cut), "top_p");
    let m = SamplingParams {
        min_p: Some(0.5),
        ..SamplingParams::default()
    };
    let chart = bars(&l, &nothing_drawn(), &m, 0, 4);
    assert_eq!(cut_name(chart[1].cut), "");
    assert_eq!(cut_name(chart[2].cut), "min_p");
}

#[test]
fn a_redraw_uses_the_steps_xtc_coin_and_mu() {
    use engine::decoding::{Mirostat, Xtc};
    // Flat enough that several tokens pass XTC's threshold.
    let l: Vec<f32> = (0..50).map(|i| -0.05 * i as f32).collect();
    let xtc = SamplingParams {
        xtc: Some(Xtc {
            threshold: 0.02,
            probability: 0.5,
        }),
        ..SamplingParams::default()
    };
    let heads = TokenStep {
        xtc_coin: Some(0.9),
        ..step_at(&l, &[])
    };
    let c = chart(&heads, Some(&xtc), 5);
    assert!(c.recomputed);
    assert!(
        c.bars.iter().all(|b| b.cut.is_none()),
        "coin 0.9 ≥ 0.5: no cut"
    );
    let tails = TokenStep {
        xtc_coin: Some(0.1),
        ..step_at(&l, &[])
    };
    let c = chart(&tails, Some(&xtc), 5);
    assert_eq!(cut_name(c.bars[0].cut), "xtc");
    let notes = redraw_notes(&tails, &xtc);
    assert!(notes[0].contains("coin was 0.100"), "{notes:?}");
    // No coin drawn by the run: shown as if XTC applied, and said so.
    let none = step_at(&l, &[]);
    assert_eq!(cut_name(chart(&none, Some(&xtc), 5).bars[0].cut), "xtc");
    assert!(redraw_notes(&none, &xtc)[0].contains("as if it applied"));

    let miro = SamplingParams {
        mirostat: Some(Mirostat { tau: 3.0, eta: 0.1 }),
        ..SamplingParams::default()
    };
    // μ = 1 bit keeps only tokens with p ≥ 1/2: the top one here.
    let geometric = logits();
    let low_mu = TokenStep {
        mirostat_mu: Some(1.0),
        ..step_at(&geometric, &[])
    };
    let c = chart(&low_mu, Some(&miro), 5);
    assert_eq!(c.bars.iter().filter(|b| b.cut.is_none()).count(), 1);
    assert_eq!(cut_name(c.bars[1].cut), "mirostat");
    assert!(redraw_notes(&low_mu, &miro)[0].contains("1.000 bits"));
    // Without μ: 2τ = 6 bits keeps tokens with p ≥ 1/64.
    let first = step_at(&geometric, &[]);
    let kept = chart(&first, Some(&miro), 12)
        .bars
        .iter()
        .filter(|b| b.cut.is_none())
        .count();
    assert!(kept > 1, "μ = 6 bits keeps more than one token");
    assert!(redraw_notes(&first, &miro)[0].contains("2τ = 6.000"));
}

#[test]
fn new_cuts_are_named_on_the_chart() {
    let l = logits();
    for (params, name) in [
        (
            SamplingParams {
                typical_p: Some(0.3),
                ..SamplingParams::default()
            },
            "typical_p",
        ),
        (
            SamplingParams {
                epsilon_cutoff: Some(0.05),
                ..SamplingParams::default()
            },
            "epsilon_cutoff",
        ),
        (
            SamplingParams {
                eta_cutoff: Some(0.05),
                ..SamplingParams::default()
            },
            "eta_cutoff",
        ),
        (
            SamplingParams {
                top_n_sigma: Some(0.5),
                ..SamplingParams::default()
            },
            "top_n_sigma",
        ),
        (
            SamplingParams {
                top_h: Some(0.3),
                ..SamplingParams::default()
            },
            "top_h",
        ),
    ] {
        let chart = bars(&l, &nothing_drawn(), &params, 0, 12);
        assert!(
            chart.iter().any(|b| cut_name(b.cut) == name),
            "{name}: {:?}",
            chart.iter().map(|b| cut_name(b.cut)).collect::<Vec<_>>()
        );
    }
}
