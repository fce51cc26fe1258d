//! The traced chain: its last point is the processed distribution, and each
//! truncation's threshold cuts the chosen token exactly at its value.

use super::*;

const NEG: f32 = f32::NEG_INFINITY;

/// Ties (2.5, 0.5) and -inf (ids 4 and 9) among the logits.
fn logits() -> Vec<f32> {
    vec![
        3.0, 2.5, 2.5, 1.0, NEG, 0.5, 0.5, -1.0, -2.0, NEG, -4.0, 1.0,
    ]
}

fn kept(p: &Processed, logits: &[f32]) -> usize {
    (0..logits.len())
        .filter(|&i| p.cut[i].is_none() && logits[i] != NEG)
        .count()
}

fn mass(p: &Processed, logits: &[f32]) -> f64 {
    (0..logits.len())
        .filter(|&i| p.cut[i].is_none() && logits[i] != NEG)
        .map(|i| p.raw[i] as f64)
        .sum()
}

fn chains() -> Vec<SamplingParams> {
    let base = SamplingParams::default();
    vec![
        SamplingParams {
            temperature: 0.7,
            top_k: Some(6),
            top_p: Some(0.9),
            min_p: Some(0.05),
            ..base.clone()
        },
        SamplingParams {
            temperature: 1.3,
            repetition_penalty: Some(1.2),
            no_repeat_ngram_size: Some(2),
            typical_p: Some(0.6),
            epsilon_cutoff: Some(0.01),
            eta_cutoff: Some(0.02),
            ..base.clone()
        },
        SamplingParams {
            top_h: Some(0.5),
            top_n_sigma: Some(1.5),
            xtc: Some(Xtc {
                threshold: 0.1,
                probability: 1.0,
            }),
            mirostat: Some(Mirostat { tau: 2.0, eta: 0.1 }),
            ..base.clone()
        },
        SamplingParams {
            temperature: 0.0,
            repetition_penalty: Some(1.5),
            top_k: Some(2),
            ..base
        },
    ]
}

#[test]
fn the_traces_last_point_is_the_processed_distribution() {
    let logits = logits();
    let context = [1, 3, 1];
    let bans = [(0, Cut::MinNewTokens)];
    for params in chains() {
        for bans in [&bans[..], &[]] {
            let inputs = StepInputs {
                context: &context,
                prompt_len: 1,
                bans,
                xtc_coin: Some(0.0),
                mirostat_mu: Some(3.0),
                ..StepInputs::default()
            };
            let chosen = 2;
            let (processed, trace) = params.trace(&logits, &inputs, chosen);
            assert_eq!(processed, params.process_step(&logits, &inputs));
            let last = trace.last().expect("a point");
            let names: Vec<_> = trace.iter().map(|t| t.point.name()).collect();
            assert_eq!(last.kept, kept(&processed, &logits), "{names:?}");
            assert_eq!(last.mass, mass(&processed, &logits), "{names:?}");
            assert_eq!(last.chosen_prob, processed.probs[chosen as usize]);
            assert_eq!(last.chosen_rank.is_some(), processed.probs[2] > 0.0);
            assert_eq!(names.contains(&"bans"), !bans.is_empty(), "{names:?}");
            // Every stage set runs, greedy skipping the warpers.
            let set = params
                .order
                .iter()
                .filter(|&&s| params.is_set(s) && !(params.is_greedy() && s.is_warper()))
                .count();
            let extra = usize::from(!bans.is_empty()) + usize::from(params.is_greedy());
            assert_eq!(trace.len(), set + extra, "{names:?}");
            // Survivors only shrink.
            for pair in trace.windows(2) {
                assert!(pair[1].kept <= pair[0].kept, "{names:?}");
            }
        }
    }
}

#[test]
fn the_model_row_is_the_whole_vocabulary() {
    let logits = logits();
    let model = trace::model_trace(&logits, 0);
    assert_eq!(model.kept, 10);
    assert!((model.mass - 1.0).abs() < 1e-6, "{}", model.mass);
    assert_eq!(model.chosen_rank, Some(1));
    // Ties rank lower ids first: 1 before 2.
    assert_eq!(trace::model_trace(&logits, 2).chosen_rank, Some(3));
    assert_eq!(trace::model_trace(&logits, 4).chosen_rank, None);
}

/// `params` with one truncation's setting at `v` (μ for mirostat).
fn one_stage(stage: Stage, v: f64) -> (SamplingParams, Option<f32>) {
    let mut p = SamplingParams::default();
    let f = v as f32;
    let mut mu = None;
    match stage {
        Stage::TopK => p.top_k = Some(v as usize),
        Stage::TopP => p.top_p = Some(f),
        Stage::MinP => p.min_p = Some(f),
        Stage::Typical => p.typical_p = Some(f),
        Stage::Epsilon => p.epsilon_cutoff = Some(f),
        Stage::Eta => p.eta_cutoff = Some(f),
        Stage::TopH => p.top_h = Some(f),
        Stage::TopNSigma => p.top_n_sigma = Some(f),
        Stage::Xtc => {
            p.xtc = Some(Xtc {
                threshold: f,
                probability: 1.0,
            })
        }
        Stage::Mirostat => {
            p.mirostat = Some(Mirostat { tau: 1.0, eta: 0.1 });
            mu = Some(f);
        }
        _ => unreachable!("{stage:?} has no threshold"),
    }
    (p, mu)
}

/// Whether the chain of `stage` alone at `v` cuts `c` from `x`.
fn cut_at(stage: Stage, x: &[f32], c: usize, v: f64) -> bool {
    let (params, mirostat_mu) = one_stage(stage, v);
    let inputs = StepInputs {
        xtc_coin: Some(0.0),
        mirostat_mu,
        ..StepInputs::default()
    };
    let out = params.process_step(x, &inputs);
    out.cut[c].is_some()
}

/// The setting's neighbour on the kept side of `v`.
fn kept_side(stage: Stage, t: Threshold) -> Option<f64> {
    let up = |v: f64| match stage {
        Stage::TopK => v + 1.0,
        _ => (v as f32).next_up() as f64,
    };
    match t {
        Threshold::AtMost(v) => Some(up(v)),
        Threshold::AtLeast(v) => Some((v as f32).next_down() as f64),
        Threshold::Below(v) => Some(v),
        _ => None,
    }
}

#[test]
fn each_threshold_cuts_exactly_at_its_value() {
    let stages = [
        Stage::TopK,
        Stage::TopP,
        Stage::MinP,
        Stage::Typical,
        Stage::Epsilon,
        Stage::Eta,
        Stage::TopH,
        Stage::TopNSigma,
        Stage::Xtc,
        Stage::Mirostat,
    ];
    let inputs = [
        logits(),
        logits().iter().map(|v| v / 3.0).collect(),
        vec![0.1, 0.2, 0.2, -0.3, 0.05, 0.0, NEG],
    ];
    let mut checked = 0;
    for x in &inputs {
        for stage in stages {
            for c in (0..x.len()).filter(|&c| x[c] != NEG) {
                let t = threshold::threshold(stage, x, c).expect("a truncation");
                let at = match t {
                    Threshold::AtMost(v) | Threshold::AtLeast(v) => v,
                    Threshold::Below(v) => (v as f32).next_down() as f64,
                    Threshold::Never => {
                        let v = if stage == Stage::TopK { 1.0 } else { 0.5 };
                        assert!(!cut_at(stage, x, c, v), "{stage:?} cut {c} of {x:?}");
                        continue;
                    }
                    Threshold::Always => {
                        assert!(cut_at(stage, x, c, 1.0), "{stage:?} kept {c} of {x:?}");
                        continue;
                    }
                };
                assert!(t.cuts(at));
                assert!(
                    cut_at(stage, x, c, at),
                    "{stage:?} at {at} keeps token {c} of {x:?}, threshold {t:?}"
                );
                let kept = kept_side(stage, t).expect("a side");
                assert!(!t.cuts(kept));
                assert!(
                    !cut_at(stage, x, c, kept),
                    "{stage:?} at {kept} cuts token {c} of {x:?}, threshold {t:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} thresholds checked");
}
