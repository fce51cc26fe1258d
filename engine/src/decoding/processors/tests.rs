//! The chain's rules: the order, what greedy skips, where bans go, what
//! `scaled` holds, and the stateful stages' inputs. Each processor's numbers
//! are checked against its reference in `engine/tests`.

use super::*;

fn logits() -> Vec<f32> {
    vec![3.0, 2.5, 2.0, 1.0, 0.5, -1.0, -2.0, -4.0]
}

fn support(p: &Processed) -> Vec<usize> {
    (0..p.probs.len()).filter(|&i| p.probs[i] > 0.0).collect()
}

#[test]
fn greedy_runs_the_processors_but_no_warper() {
    let params = SamplingParams {
        temperature: 0.0,
        typical_p: Some(0.2),
        top_k: Some(1),
        presence_penalty: Some(2.0),
        ..SamplingParams::default()
    };
    // Token 0 was generated: the presence penalty (a processor) moves the argmax.
    let inputs = StepInputs {
        context: &[7, 0],
        prompt_len: 1,
        ..StepInputs::default()
    };
    let out = params.process_step(&logits(), &inputs);
    assert_eq!(support(&out), vec![1]);
    assert!(out
        .cut
        .iter()
        .all(|c| matches!(c, None | Some(Cut::Greedy))));
}

#[test]
fn the_order_changes_what_is_cut() {
    // min-p at 0.5 before temperature 4 keeps tokens 0-1; after it (flatter
    // probabilities), tokens 0-4.
    let before = SamplingParams {
        temperature: 4.0,
        min_p: Some(0.5),
        order: vec![Stage::MinP, Stage::Temperature],
        ..SamplingParams::default()
    };
    let after = SamplingParams {
        order: vec![Stage::Temperature, Stage::MinP],
        ..before.clone()
    };
    assert_eq!(support(&before.process(&logits(), &[])), vec![0, 1]);
    assert_eq!(support(&after.process(&logits(), &[])), vec![0, 1, 2, 3, 4]);
}

#[test]
fn bans_come_before_the_first_warper_and_scaled_keeps_them() {
    let params = SamplingParams {
        top_p: Some(0.5),
        ..SamplingParams::default()
    };
    let banned = params.process_with_bans(&logits(), &[], &[(0, Cut::MinNewTokens)]);
    assert_eq!(banned.cut[0], Some(Cut::MinNewTokens));
    // Top-p saw the distribution without token 0: tokens 1 and 2 make its mass.
    assert_eq!(support(&banned), vec![1, 2]);
    assert!(banned.scaled[0] > 0.4, "scaled {:?}", banned.scaled);
}

#[test]
fn every_stage_set_must_be_in_the_order_and_mirostat_last() {
    let missing = SamplingParams {
        top_k: Some(3),
        order: vec![Stage::Temperature],
        ..SamplingParams::default()
    };
    let err = missing.validate().unwrap_err().to_string();
    assert!(err.contains("top_k is set but not in --samplers"), "{err}");
    let mirostat = SamplingParams {
        top_k: Some(3),
        mirostat: Some(Mirostat { tau: 3.0, eta: 0.1 }),
        order: vec![Stage::Mirostat, Stage::TopK],
        ..SamplingParams::default()
    };
    let err = mirostat.validate().unwrap_err().to_string();
    assert!(err.contains("must come last"), "{err}");
}

#[test]
fn xtc_applies_only_when_the_coin_says_so() {
    let params = SamplingParams {
        xtc: Some(Xtc {
            threshold: 0.1,
            probability: 0.5,
        }),
        ..SamplingParams::default()
    };
    let with = |coin| {
        let inputs = StepInputs {
            xtc_coin: Some(coin),
            ..StepInputs::default()
        };
        params.process_step(&logits(), &inputs)
    };
    assert_eq!(support(&with(0.5)), (0..8).collect::<Vec<_>>());
    // p ≈ .41, .25, .15, .06, ...: tokens 0-2 are above 0.1; only 2 stays of them.
    let cut = with(0.49);
    assert_eq!(support(&cut), vec![2, 3, 4, 5, 6, 7]);
    assert_eq!(cut.cut[0], Some(Cut::Xtc));
}

#[test]
fn mirostat_cuts_by_surprise_and_moves_mu_toward_tau() {
    let m = Mirostat { tau: 2.0, eta: 0.5 };
    let params = SamplingParams {
        mirostat: Some(m),
        ..SamplingParams::default()
    };
    let inputs = StepInputs {
        mirostat_mu: Some(2.0),
        ..StepInputs::default()
    };
    // Surprise ≤ 2 bits: p ≥ 0.25, tokens 0 and 1.
    let out = params.process_step(&logits(), &inputs);
    assert_eq!(support(&out), vec![0, 1]);
    assert_eq!(mirostat::initial_mu(&m), 4.0);
    // A token of probability 1/8 is 3 bits of surprise, one over τ.
    assert!((mirostat::update(4.0, &m, 0.125) - 3.5).abs() < 1e-6);
}

#[test]
fn presence_and_frequency_count_generated_tokens_only() {
    let params = SamplingParams {
        temperature: 0.0,
        presence_penalty: Some(0.5),
        frequency_penalty: Some(0.25),
        ..SamplingParams::default()
    };
    let x = vec![1.0f32; 4];
    let inputs = StepInputs {
        context: &[3, 3, 2, 2, 2],
        prompt_len: 2,
        ..StepInputs::default()
    };
    let mut shifted = x.clone();
    penalties::presence_frequency(&mut shifted, &inputs.context[2..], 0.5, 0.25);
    assert_eq!(shifted, vec![1.0, 1.0, 1.0 - 0.75 - 0.5, 1.0]);
    let out = params.process_step(&x, &inputs);
    assert_eq!(support(&out), vec![0]);
}

#[test]
fn top_n_sigma_keeps_the_same_tokens_at_any_temperature() {
    let at = |temperature| {
        let params = SamplingParams {
            temperature,
            top_n_sigma: Some(1.0),
            ..SamplingParams::default()
        };
        support(&params.process(&logits(), &[]))
    };
    assert_eq!(at(1.0), at(0.3));
    assert_eq!(at(1.0), at(2.5));
    // Mean 0.25, σ 2.25: logits ≥ 3 − 2.25 stay.
    assert_eq!(at(1.0), vec![0, 1, 2, 3]);
}

#[test]
fn scaled_has_the_shifts_but_none_of_the_cuts() {
    // Token 2 completes a repeated bigram; end-of-text (7) is banned.
    let params = SamplingParams {
        temperature: 2.0,
        repetition_penalty: Some(1.5),
        no_repeat_ngram_size: Some(2),
        top_k: Some(3),
        ..SamplingParams::default()
    };
    let context = [1, 2, 1];
    let out = params.process_with_bans(&logits(), &context, &[(7, Cut::MinNewTokens)]);
    let mut shifted = logits();
    penalties::repetition_penalty(&mut shifted, &context, 1.5);
    let expected = softmax(&shifted.iter().map(|v| v / 2.0).collect::<Vec<_>>());
    assert_eq!(out.scaled, expected);
    assert_eq!(out.cut[2], Some(Cut::NoRepeatNgram));
    assert_eq!(out.cut[7], Some(Cut::MinNewTokens));
}
