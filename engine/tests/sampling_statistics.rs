//! Sampling draws what it claims: the RNG's pinned stream, chi-square tests of
//! `Rng::categorical` and of `sample`'s first token against the processed
//! distribution (bins with expected count < 5 pooled; critical value at
//! p = 0.001 from the Wilson–Hilferty approximation), reproducibility, greedy
//! at temperature 0, several rows that stop independently, and bad options.

mod common;
#[path = "common/stats.rs"]
mod stats;

use common::fixed::fixed;
use common::{fixture, ids, model_for};
use engine::backend::{block_on, LanguageModel};
use engine::decoding::steps::Cut;
use engine::decoding::{sample, GenerateOptions, Generated, Rng, SamplingParams, Step};
use stats::assert_fits;

fn random_logits(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let (u, v) = (1.0 - rng.next_f64(), rng.next_f64());
            (2.0 * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect()
}

#[test]
fn categorical_draws_fit_the_processed_distribution() {
    let logits = random_logits(1000, 7);
    let chains = [
        SamplingParams::default(),
        SamplingParams {
            temperature: 0.7,
            top_k: Some(50),
            ..Default::default()
        },
        SamplingParams {
            top_p: Some(0.9),
            ..Default::default()
        },
        SamplingParams {
            temperature: 1.3,
            min_p: Some(0.05),
            repetition_penalty: Some(1.3),
            ..Default::default()
        },
    ];
    for (c, params) in chains.iter().enumerate() {
        let probs = params.process(&logits, &[1, 2, 3]).probs;
        let mut rng = Rng::new(100 + c as u64);
        let mut counts = vec![0u64; probs.len()];
        for _ in 0..20_000 {
            counts[rng.categorical(&probs).expect("a positive weight")] += 1;
        }
        assert_fits(&format!("categorical {params:?}"), &counts, &probs);
    }
}

const EOS: u32 = 50256;

fn options(max_new_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens,
        min_new_tokens: 0,
        eos_token_id: Some(EOS),
        forced: Vec::new(),
        whole_rows: false,
    }
}

fn run<M: LanguageModel>(
    model: &M,
    prompt: &[u32],
    options: &GenerateOptions,
    params: &SamplingParams,
    seed: u64,
    rows: usize,
) -> (Vec<Generated>, Vec<Step>) {
    let mut steps = Vec::new();
    let out = block_on(sample(
        model,
        prompt,
        options,
        params,
        seed,
        rows,
        &mut |s| steps.push(s),
    ))
    .unwrap();
    (out, steps)
}

#[test]
fn first_token_fits_the_models_distribution() {
    let fx = fixture("tiny");
    let model = model_for(&fx);
    let prompt = ids(&fx["next"][1]["prompt_ids"]);
    let mut cache = model.new_cache(1).unwrap();
    let logits = block_on(model.forward(&mut cache, &[&prompt], 1)).unwrap();
    for params in [
        SamplingParams {
            temperature: 0.7,
            top_k: Some(40),
            ..Default::default()
        },
        SamplingParams {
            temperature: 1.5,
            top_p: Some(0.9),
            min_p: Some(0.1),
            ..Default::default()
        },
    ] {
        let processed = params.process(logits.last(0), &prompt);
        let mut counts = vec![0u64; processed.probs.len()];
        for seed in 0..20 {
            let (out, steps) = run(&model, &prompt, &options(1), &params, seed, 100);
            assert_eq!((out.len(), steps.len()), (100, 100));
            for g in &out {
                counts[g.ids[0] as usize] += 1;
                assert_eq!(g.score, processed.logprob(g.ids[0]));
            }
        }
        assert_fits(
            &format!("first token {params:?}"),
            &counts,
            &processed.probs,
        );
    }
}

#[test]
fn same_seed_same_output_and_rows_differ() {
    let fx = fixture("tiny");
    let model = model_for(&fx);
    let prompt = ids(&fx["next"][0]["prompt_ids"]);
    let params = SamplingParams {
        temperature: 1.2,
        top_p: Some(0.95),
        repetition_penalty: Some(1.2),
        ..Default::default()
    };
    let a = run(&model, &prompt, &options(12), &params, 9, 3);
    let b = run(&model, &prompt, &options(12), &params, 9, 3);
    assert_eq!(a, b, "same seed, different output");
    assert_eq!(a.0.len(), 3);
    assert!(a
        .0
        .iter()
        .all(|g| g.ids.len() == 12 && g.score.is_finite() && g.score < 0.0));
    assert_ne!(a.0[0].ids, a.0[1].ids, "rows drew the same tokens");
    let c = run(&model, &prompt, &options(12), &params, 10, 3);
    assert_ne!(a.0, c.0, "another seed gave the same output");
    // One event per row per step, in row order, the chosen token among the candidates.
    for (i, step) in a.1.iter().enumerate() {
        let Step::Token {
            row,
            chosen,
            candidates,
            logits,
            ..
        } = step
        else {
            panic!("{step:?}")
        };
        assert_eq!((*row, *chosen), (i % 3, a.0[i % 3].ids[i / 3]));
        // Sampling reads each row whole: the step carries the row's logits.
        let vocab = model.config().vocab_size;
        assert_eq!(logits.as_ref().map(|l| l.len()), Some(vocab), "step {i}");
        assert!(candidates.iter().any(|c| c.id == *chosen && c.prob > 0.0));
        assert!(candidates.len() >= 20);
    }
}

#[test]
fn temperature_zero_is_greedy() {
    let fx = fixture("tiny");
    let model = model_for(&fx);
    let params = SamplingParams {
        temperature: 0.0,
        top_k: Some(3),
        ..Default::default()
    };
    for case in fx["greedy"]
        .as_array()
        .unwrap()
        .iter()
        .take(3)
        .chain(fx["greedy"].as_array().unwrap().last())
    {
        let prompt = ids(&case["prompt_ids"]);
        let options = GenerateOptions {
            max_new_tokens: case["max_new_tokens"].as_u64().unwrap() as usize,
            min_new_tokens: case["min_new_tokens"].as_u64().unwrap() as usize,
            eos_token_id: Some(EOS),
            forced: Vec::new(),
            whole_rows: false,
        };
        // transformers' greedy ids (the golden fixture), for every row.
        let want = ids(&case["new_ids"]);
        for rows in [1, 2] {
            let (out, _) = run(&model, &prompt, &options, &params, 1, rows);
            assert!(
                out.iter().all(|g| g.ids == want),
                "{rows} rows: {out:?} vs transformers' greedy {want:?}"
            );
        }
    }
}

#[test]
fn invalid_options_are_clear_errors() {
    let fx = fixture("tiny");
    let model = model_for(&fx);
    let err = |params: &SamplingParams, rows: usize| {
        let e = block_on(sample(
            &model,
            &[1, 2],
            &options(4),
            params,
            0,
            rows,
            &mut |_| {},
        ))
        .unwrap_err();
        assert!(e.is_bad_input());
        e.to_string()
    };
    let top_p = SamplingParams {
        top_p: Some(0.0),
        ..Default::default()
    };
    assert_eq!(err(&top_p, 1), "--top-p must be in (0, 1], got 0");
    assert_eq!(
        err(&SamplingParams::default(), 0),
        "--num-return-sequences must be at least 1, got 0"
    );
    let e = block_on(sample(
        &model,
        &[],
        &options(4),
        &SamplingParams::default(),
        0,
        1,
        &mut |_| {},
    ))
    .unwrap_err();
    assert!(e.to_string().contains("prompt is empty"), "{e}");
}

#[test]
fn rows_stop_at_end_of_text_independently() {
    // Uniform over 0..7, or end-of-text (7) with probability e / (7 + e).
    let model = fixed(vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    let options = GenerateOptions {
        max_new_tokens: 30,
        min_new_tokens: 3,
        eos_token_id: Some(7),
        forced: Vec::new(),
        whole_rows: false,
    };
    let (out, steps) = run(&model, &[1, 2], &options, &SamplingParams::default(), 5, 8);
    let lengths: Vec<usize> = out.iter().map(|g| g.ids.len()).collect();
    println!(
        "row lengths {lengths:?}, rows per forward {:?}",
        model.rows_seen.borrow()
    );
    for g in &out {
        let eos_at = g.ids.iter().position(|&t| t == 7);
        assert!(
            eos_at.is_none_or(|i| i >= 3 && i == g.ids.len() - 1),
            "{:?}",
            g.ids
        );
        assert!(eos_at.is_some() || g.ids.len() == 30);
    }
    assert!(
        lengths.iter().any(|&l| l != lengths[0]),
        "every row stopped at once: {lengths:?}"
    );
    assert_eq!(
        steps.len(),
        lengths.iter().sum::<usize>(),
        "one event per row per step"
    );
    // The cache is compacted: each forward runs only the rows still going.
    let seen = model.rows_seen.borrow();
    assert_eq!(seen[0], 1, "the prompt runs once");
    for (s, &r) in seen.iter().enumerate().skip(1) {
        assert_eq!(r, lengths.iter().filter(|&&l| l > s).count(), "forward {s}");
    }
    // Before min_new_tokens end-of-text is cut, and reported so.
    let Step::Token { candidates, .. } = &steps[0] else {
        panic!()
    };
    let eos = candidates.iter().find(|c| c.id == 7).unwrap();
    assert_eq!((eos.prob, eos.cut), (0.0, Some(Cut::MinNewTokens)));
    assert!(eos.raw_prob > 0.2);
}
