//! The samplers whose draws carry their own randomness or state, drawn through
//! the sample runner over a model with fixed logits: XTC's coin (the fraction
//! of steps with the top choices removed is the probability, and the tokens
//! follow the mixture) and mirostat v2 (μ from 2τ, fed back from each chosen
//! token; the draws follow the truncated, renormalised distribution). Seeded,
//! chi-square and binomial tests at p = 0.001 (`common/stats.rs`). And the
//! runner gives the penalties each row's own context.

mod common;
#[path = "common/stats.rs"]
mod stats;

use std::collections::BTreeMap;

use common::fixed::{fixed, Fixed};
use engine::backend::block_on;
use engine::decoding::processors::mirostat;
use engine::decoding::steps::Cut;
use engine::decoding::{
    sample, Dry, GenerateOptions, Mirostat, SamplingParams, Step, StepInputs, Xtc,
};
use stats::{assert_binomial, assert_fits, critical, pearson};

/// The events of `rows` rows sampled for 40 steps with `seed`.
fn draws(model: &Fixed, params: &SamplingParams, seed: u64, rows: usize) -> Vec<Step> {
    let options = GenerateOptions {
        max_new_tokens: 40,
        min_new_tokens: 0,
        eos_token_id: None,
        forced: Vec::new(),
        whole_rows: false,
    };
    let mut steps = Vec::new();
    block_on(sample(
        model,
        &[1, 2],
        &options,
        params,
        seed,
        rows,
        &mut |s| steps.push(s),
    ))
    .unwrap();
    steps
}

fn inputs(mu: Option<f32>, coin: Option<f64>) -> StepInputs<'static> {
    StepInputs {
        xtc_coin: coin,
        mirostat_mu: mu,
        ..Default::default()
    }
}

#[test]
fn xtc_coin_and_draws_fit_the_mixture() {
    // p ≈ 0.27, 0.20, 0.15, 0.11, 0.08, ...: four tokens at or above 0.1.
    let row: Vec<f32> = (0..12).map(|i| 2.0 - 0.3 * i as f32).collect();
    let model = fixed(row.clone());
    let probability = 0.4;
    let params = SamplingParams {
        xtc: Some(Xtc {
            threshold: 0.1,
            probability,
        }),
        ..Default::default()
    };
    let applied = params.process_step(&row, &inputs(None, Some(0.0)));
    let plain = params.process_step(&row, &inputs(None, Some(0.999)));
    let removed: Vec<usize> = (0..row.len())
        .filter(|&i| applied.cut[i] == Some(Cut::Xtc))
        .collect();
    assert_eq!(
        removed,
        vec![0, 1, 2],
        "XTC keeps the least likely of the four"
    );
    assert!(plain.cut.iter().all(|c| c.is_none()));
    let steps: Vec<Step> = (0..10)
        .flat_map(|seed| draws(&model, &params, seed, 50))
        .collect();
    let (mut on, mut off, mut all) = (vec![0u64; 12], vec![0u64; 12], vec![0u64; 12]);
    for s in &steps {
        let Step::Token {
            chosen, candidates, ..
        } = s
        else {
            panic!("{s:?}")
        };
        let xtc = candidates.iter().any(|c| c.cut == Some(Cut::Xtc));
        if xtc {
            let cut: Vec<usize> = candidates
                .iter()
                .filter(|c| c.cut == Some(Cut::Xtc))
                .map(|c| c.id as usize)
                .collect();
            assert_eq!(cut, removed, "a step with XTC applied");
        }
        let c = *chosen as usize;
        (if xtc { &mut on } else { &mut off })[c] += 1;
        all[c] += 1;
    }
    let n = steps.len() as u64;
    assert_binomial("XTC applied", on.iter().sum(), n, probability as f64);
    assert_fits("XTC applied: draws", &on, &applied.probs);
    assert_fits("XTC not applied: draws", &off, &plain.probs);
    let p = probability;
    let mixture: Vec<f32> = (0..12)
        .map(|i| p * applied.probs[i] + (1.0 - p) * plain.probs[i])
        .collect();
    assert_fits("XTC: all draws against the mixture", &all, &mixture);
}

#[test]
fn mirostat_draws_follow_the_truncation_and_mu_follows_the_draws() {
    let row: Vec<f32> = (0..16).map(|i| 3.0 - 0.4 * i as f32).collect();
    let model = fixed(row.clone());
    let m = Mirostat { tau: 2.5, eta: 0.2 };
    let params = SamplingParams {
        temperature: 0.9,
        mirostat: Some(m),
        ..Default::default()
    };
    let rows = 50;
    // The draws grouped by the support μ left (one distribution each).
    let mut groups: BTreeMap<usize, (Vec<u64>, Vec<f32>)> = BTreeMap::new();
    let mut worst_mu = 0f32;
    for seed in 0..10 {
        // μ per row: 2τ at the first step, then fed back from the chosen token.
        let mut mu: Vec<Option<f32>> = vec![None; rows];
        for s in &draws(&model, &params, seed, rows) {
            let Step::Token {
                row: r,
                chosen,
                candidates,
                mirostat_mu,
                ..
            } = s
            else {
                panic!("{s:?}")
            };
            let before = mirostat_mu.expect("a mirostat step reports μ");
            let want = mu[*r].unwrap_or(mirostat::initial_mu(&m));
            worst_mu = worst_mu.max((before - want).abs());
            assert!(
                (before - want).abs() < 1e-5,
                "seed {seed} row {r}: μ {before}, expected {want}"
            );
            let processed = params.process_step(&row, &inputs(Some(before), None));
            let chosen_p = candidates.iter().find(|c| c.id == *chosen).unwrap().prob;
            assert_eq!(chosen_p, processed.probs[*chosen as usize]);
            mu[*r] = Some(mirostat::update(before, &m, chosen_p));
            let k = processed.probs.iter().filter(|&&p| p > 0.0).count();
            let g = groups
                .entry(k)
                .or_insert_with(|| (vec![0; row.len()], processed.probs.clone()));
            assert_eq!(g.1, processed.probs, "one distribution per support size");
            g.0[*chosen as usize] += 1;
        }
    }
    let (mut stat, mut df) = (0.0, 0);
    for (k, (counts, probs)) in &groups {
        let n: u64 = counts.iter().sum();
        let (s, d) = pearson(counts, probs);
        println!("mirostat support {k}: {n} draws, χ² = {s:.1} with {d} df");
        (stat, df) = (stat + s, df + d);
    }
    println!(
        "mirostat: χ² = {stat:.1} with {df} df (critical {:.1}), max |Δμ| = {worst_mu:e}",
        critical(df)
    );
    assert!(
        df >= 3 && stat < critical(df),
        "χ² = {stat:.1} with {df} df"
    );
}

/// The runner hands every step the row's own context and the prompt's length:
/// each event's probabilities are `process_step` of the fixed logits with the
/// prompt plus the tokens that row chose so far (presence/frequency count only
/// those; DRY and the repetition penalty see the prompt too).
#[test]
fn penalties_see_each_rows_context() {
    let row: Vec<f32> = (0..10).map(|i| 1.0 - 0.1 * i as f32).collect();
    let model = fixed(row.clone());
    let params = SamplingParams {
        presence_penalty: Some(0.7),
        frequency_penalty: Some(0.4),
        repetition_penalty: Some(1.1),
        dry: Some(Dry {
            multiplier: 0.8,
            base: 1.75,
            allowed_length: 2,
            penalty_last_n: 0,
            breakers: vec![9],
        }),
        ..Default::default()
    };
    let prompt = [1u32, 2, 3, 1, 2];
    let options = GenerateOptions {
        max_new_tokens: 30,
        min_new_tokens: 0,
        eos_token_id: None,
        forced: Vec::new(),
        whole_rows: false,
    };
    let mut steps = Vec::new();
    block_on(sample(&model, &prompt, &options, &params, 3, 4, &mut |s| {
        steps.push(s)
    }))
    .unwrap();
    let mut context: Vec<Vec<u32>> = vec![prompt.to_vec(); 4];
    for s in &steps {
        let Step::Token {
            row: r,
            chosen,
            candidates,
            ..
        } = s
        else {
            panic!("{s:?}")
        };
        let inputs = StepInputs {
            context: &context[*r],
            prompt_len: prompt.len(),
            ..Default::default()
        };
        let want = params.process_step(&row, &inputs);
        for c in candidates {
            assert_eq!(c.prob, want.probs[c.id as usize], "row {r}, token {}", c.id);
        }
        context[*r].push(*chosen);
    }
    assert!(context.iter().all(|c| c.len() == prompt.len() + 30));
}
