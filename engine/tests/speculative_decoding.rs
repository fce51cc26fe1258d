//! Speculative decoding (Leviathan et al. 2022, Algorithm 1): greedy
//! verification reproduces the target's greedy output exactly whatever the
//! draft, and rejection sampling reproduces the target's own distribution
//! (chi-square tests over many seeded runs on tiny models).

mod common;

use common::{fixture, ids, model_for};
use engine::backend::block_on;
use engine::backend::Model;
use engine::config::Gpt2Config;
use engine::decoding::rng::SplitMix64;
use engine::decoding::{
    greedy, speculative, GenerateOptions, Generated, SpeculativeStats, Step, Verify,
};
use engine::weights::random::RandomCheckpoint;

fn random_model(config: Gpt2Config, seed: u64) -> Model {
    common::load_bytes(
        RandomCheckpoint::new(config.clone(), seed).safetensors_bytes(),
        &config,
    )
}

fn options(max_new_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens,
        min_new_tokens: 0,
        eos_token_id: Some(50256),
    }
}

/// Runs greedy speculative decoding and checks that the rounds' events add up
/// to the output: each round emits its accepted drafts, then `added`.
fn run_greedy(
    target: &Model,
    draft: &Model,
    prompt: &[u32],
    options: &GenerateOptions,
    gamma: usize,
) -> (Generated, SpeculativeStats) {
    let mut from_steps = Vec::new();
    let mut on_step = |step: Step| {
        let Step::Speculative {
            drafted,
            added,
            resampled,
        } = step
        else {
            panic!("not a speculative step: {step:?}")
        };
        let accepted = drafted.iter().take_while(|d| d.accepted).count();
        assert!(drafted.len() <= gamma);
        assert!(accepted == drafted.len() || (resampled && accepted + 1 == drafted.len()));
        from_steps.extend(drafted.iter().filter(|d| d.accepted).map(|d| d.id));
        from_steps.push(added);
    };
    let verify = Verify::Greedy;
    let (out, stats) = block_on(speculative(
        target,
        draft,
        prompt,
        options,
        gamma,
        verify,
        &mut on_step,
    ))
    .unwrap();
    assert_eq!(from_steps, out.ids, "step events vs output");
    (out, stats)
}

/// The target and three drafts: itself, a close one (the same weights
/// rounded to f16) and an unrelated small one.
fn models() -> (Model, Vec<(&'static str, Model)>) {
    let target = model_for(&fixture("odd"));
    let drafts = vec![
        ("itself", model_for(&fixture("odd"))),
        ("f16 copy", model_for(&fixture("odd_f16"))),
        ("small", random_model(Gpt2Config::new(1, 2, 32, 64), 7)),
    ];
    (target, drafts)
}

#[test]
fn greedy_verification_is_the_targets_greedy_output() {
    let (target, drafts) = models();
    let fx = fixture("odd");
    let prompts: Vec<Vec<u32>> = fx["greedy"].as_array().unwrap()[..3]
        .iter()
        .map(|c| ids(&c["prompt_ids"]))
        .collect();
    let opts = options(24);
    for prompt in &prompts {
        let want = block_on(greedy(&target, prompt, &opts, &mut |_| {})).unwrap();
        for (name, draft) in &drafts {
            for gamma in [1, 2, 4, 7] {
                let (got, stats) = run_greedy(&target, draft, prompt, &opts, gamma);
                assert_eq!(
                    got.ids, want.ids,
                    "draft {name}, gamma {gamma}, prompt {prompt:?}"
                );
                assert!((got.score - want.score).abs() < 1e-3);
                let rate = stats.acceptance_rate();
                println!("draft {name:8} gamma {gamma}: acceptance {rate:.3}, {stats:?}");
                if *name == "itself" {
                    assert_eq!(rate, 1.0, "a draft that is the target is always right");
                    // γ + 1 tokens a pass.
                    assert_eq!(stats.target_passes, want.ids.len().div_ceil(gamma + 1));
                }
            }
        }
    }
}

#[test]
fn long_runs_roll_the_caches_back_consistently() {
    let (target, mut drafts) = models();
    // A draft with a shorter context than the target: the last rounds go without it.
    drafts.push(("short", random_model(Gpt2Config::new(1, 2, 32, 24), 8)));
    let prompt = [464, 2068, 7586, 21831];
    let opts = options(64 - prompt.len());
    let want = block_on(greedy(&target, &prompt, &opts, &mut |_| {})).unwrap();
    assert_eq!(want.ids.len(), 60, "greedy runs to the end of the context");
    for (name, draft) in &drafts[1..] {
        for gamma in [3, 5] {
            let (got, stats) = run_greedy(&target, draft, &prompt, &opts, gamma);
            assert_eq!(got.ids, want.ids, "draft {name}, gamma {gamma}");
            println!(
                "to the end, draft {name:8} gamma {gamma}: acceptance {:.3}, {stats:?}",
                stats.acceptance_rate()
            );
        }
    }
}

#[test]
fn end_of_text_and_min_new_tokens_as_greedy() {
    let (target, drafts) = models();
    let prompt = [40, 423, 257, 4320];
    let plain = block_on(greedy(&target, &prompt, &options(24), &mut |_| {})).unwrap();
    // Make a token greedy picks (first at step ≥ 4) the end-of-text token.
    let (at, &eos) = plain
        .ids
        .iter()
        .enumerate()
        .find(|&(i, x)| i >= 3 && !plain.ids[..i].contains(x))
        .unwrap();
    for min_new_tokens in [0, at + 3] {
        let opts = GenerateOptions {
            max_new_tokens: 24,
            min_new_tokens,
            eos_token_id: Some(eos),
        };
        let want = block_on(greedy(&target, &prompt, &opts, &mut |_| {})).unwrap();
        if min_new_tokens == 0 {
            assert_eq!(want.ids.len(), at + 1);
        }
        for (name, draft) in &drafts {
            for gamma in [2, 7] {
                let (got, _) = run_greedy(&target, draft, &prompt, &opts, gamma);
                assert_eq!(got.ids, want.ids, "draft {name}, gamma {gamma}, {opts:?}");
            }
        }
    }
}

#[test]
fn bad_gamma_and_vocabularies_are_clear_errors() {
    let target = model_for(&fixture("odd"));
    let mut config = Gpt2Config::new(1, 2, 16, 32);
    config.vocab_size = 1000;
    let small = random_model(config, 3);
    let run = |draft: &Model, gamma| {
        block_on(speculative(
            &target,
            draft,
            &[1, 2],
            &options(4),
            gamma,
            Verify::Greedy,
            &mut |_| {},
        ))
        .unwrap_err()
    };
    let err = run(&target, 0);
    assert!(
        err.is_bad_input() && err.to_string().contains("--gamma must be at least 1"),
        "{err}"
    );
    let err = run(&target, 1 << 40);
    assert!(
        err.is_bad_input() && err.to_string().contains("more than the limit of 64"),
        "{err}"
    );
    let err = run(&small, 2);
    assert!(err.is_bad_input());
    assert_eq!(
        err.to_string().split(':').next().unwrap(),
        "the draft's vocabulary (1000) differs from the target's (50257)"
    );
}

// ---- Rejection sampling: distribution tests on tiny models ----

const VOCAB: usize = 10;
const TEMPERATURE: f32 = 1.5;
const PROMPT: [u32; 3] = [3, 1, 4];

fn tiny(layers: usize, heads: usize, embd: usize, seed: u64) -> Model {
    let mut config = Gpt2Config::new(layers, heads, embd, 16);
    config.vocab_size = VOCAB;
    random_model(config, seed)
}

/// Uniform draws in [0, 1) for the tests, from splitmix64's stream.
struct Uniform(SplitMix64);

impl Uniform {
    fn next_f64(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The sampling distribution: softmax at a temperature, with a penalty on
/// tokens already in the context (so a wrong context would show).
fn probs(logits: &[f32], context: &[u32]) -> Vec<f32> {
    let scaled: Vec<f64> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            let seen = context.contains(&(i as u32));
            (l as f64 - if seen { 1.0 } else { 0.0 }) / TEMPERATURE as f64
        })
        .collect();
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = scaled.iter().map(|&s| (s - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|&x| (x / sum) as f32).collect()
}

/// The target's own next-token distribution after `context`.
fn target_dist(target: &Model, context: &[u32]) -> Vec<f64> {
    use engine::backend::LanguageModel;
    let mut cache = target.new_cache(1).unwrap();
    let logits = block_on(target.forward(&mut cache, &[context], 1)).unwrap();
    probs(logits.last(0), context)
        .iter()
        .map(|&p| p as f64)
        .collect()
}

/// Pearson's statistic with bins of expected count < 5 pooled; returns
/// (statistic, degrees of freedom, critical value at p = 0.001).
fn chi_square(observed: &[u64], p: &[f64], n: u64) -> (f64, usize, f64) {
    let mut bins: Vec<(f64, f64)> = Vec::new(); // (expected, observed)
    let mut pooled = (0.0, 0.0);
    for (&o, &p) in observed.iter().zip(p) {
        let e = p * n as f64;
        assert!(
            e > 0.0 || o == 0,
            "a token of probability 0 was drawn {o} times"
        );
        if e < 5.0 {
            pooled = (pooled.0 + e, pooled.1 + o as f64);
        } else {
            bins.push((e, o as f64));
        }
    }
    if pooled.0 > 0.0 {
        if pooled.0 < 5.0 {
            // Still too small: merge into the smallest bin.
            let i = (0..bins.len())
                .min_by(|&a, &b| bins[a].0.total_cmp(&bins[b].0))
                .unwrap();
            bins[i] = (bins[i].0 + pooled.0, bins[i].1 + pooled.1);
        } else {
            bins.push(pooled);
        }
    }
    let stat = bins.iter().map(|&(e, o)| (o - e) * (o - e) / e).sum();
    let df = bins.len() - 1;
    // Wilson–Hilferty: χ²_k quantile ≈ k (1 − 2/(9k) + z √(2/(9k)))³, z = Φ⁻¹(0.999).
    let k = df as f64;
    let z = 3.090_232_306;
    let critical = k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3);
    (stat, df, critical)
}

/// Many seeded sampling runs; returns the (first, second) token counts, joint.
fn sample_runs(
    target: &Model,
    draft: &Model,
    gamma: usize,
    runs: usize,
) -> (Vec<u64>, SpeculativeStats) {
    let mut joint = vec![0u64; VOCAB * VOCAB];
    let mut total = SpeculativeStats::default();
    let mut rng = Uniform(SplitMix64::new(0x5eed));
    let opts = GenerateOptions {
        max_new_tokens: gamma + 1,
        min_new_tokens: 0,
        eos_token_id: None,
    };
    for _ in 0..runs {
        let mut uniform = || rng.next_f64();
        let verify = Verify::Sample {
            probs: &probs,
            uniform: &mut uniform,
        };
        let (out, stats) = block_on(speculative(
            target,
            draft,
            &PROMPT,
            &opts,
            gamma,
            verify,
            &mut |_| {},
        ))
        .unwrap();
        assert_eq!(out.ids.len(), gamma + 1);
        joint[out.ids[0] as usize * VOCAB + out.ids[1] as usize] += 1;
        total.drafted += stats.drafted;
        total.accepted += stats.accepted;
        total.target_passes += stats.target_passes;
        total.draft_passes += stats.draft_passes;
    }
    (joint, total)
}

#[test]
fn rejection_sampling_keeps_the_targets_distribution() {
    let target = tiny(2, 2, 16, 11);
    // (name, draft, runs): the unrelated draft exercises rejections and gets more runs.
    let drafts = [
        ("small", tiny(1, 1, 8, 12), 20_000),
        ("itself", tiny(2, 2, 16, 11), 8_000),
    ];
    // The target's own law of the first two tokens: p(t1) and p(t1) p(t2 | t1).
    let p1 = target_dist(&target, &PROMPT);
    let mut p12 = vec![0.0; VOCAB * VOCAB];
    for t1 in 0..VOCAB {
        let context: Vec<u32> = PROMPT.iter().copied().chain([t1 as u32]).collect();
        for (t2, p) in target_dist(&target, &context).into_iter().enumerate() {
            p12[t1 * VOCAB + t2] = p1[t1] * p;
        }
    }
    println!(
        "target p(t1) = {:?}",
        p1.iter()
            .map(|p| (p * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
    for (name, draft, runs) in &drafts {
        let gamma = 3;
        let (joint, stats) = sample_runs(&target, draft, gamma, *runs);
        let first: Vec<u64> = (0..VOCAB)
            .map(|a| joint[a * VOCAB..][..VOCAB].iter().sum())
            .collect();
        let n = *runs as u64;
        let (s1, df1, c1) = chi_square(&first, &p1, n);
        // The second token: the joint law of (t1, t2) (which holds the conditional given t1).
        let (s2, df2, c2) = chi_square(&joint, &p12, n);
        let rate = stats.acceptance_rate();
        println!(
            "draft {name}, gamma {gamma}, {runs} runs: first token χ² = {s1:.2} (df {df1}, critical {c1:.2}); \
             (first, second) χ² = {s2:.2} (df {df2}, critical {c2:.2}); acceptance {rate:.3}; {stats:?}"
        );
        assert!(s1 < c1, "first token: χ² {s1} ≥ {c1}");
        assert!(s2 < c2, "first two tokens: χ² {s2} ≥ {c2}");
        if *name == "itself" {
            assert!(
                rate > 0.999,
                "a draft that is the target: acceptance {rate}"
            );
        } else {
            assert!(rate > 0.0 && rate < 1.0, "acceptance {rate}");
        }
    }
}

#[test]
fn sampling_holds_end_of_text_back_until_min_new_tokens() {
    let target = tiny(2, 2, 16, 11);
    let draft = tiny(1, 1, 8, 12);
    // Token 8 is the target's favourite first token (p ≈ 0.67): make it end-of-text.
    let eos = 8;
    let opts = GenerateOptions {
        max_new_tokens: 8,
        min_new_tokens: 3,
        eos_token_id: Some(eos),
    };
    let mut rng = Uniform(SplitMix64::new(7));
    let mut ended = 0;
    for _ in 0..500 {
        let mut uniform = || rng.next_f64();
        let verify = Verify::Sample {
            probs: &probs,
            uniform: &mut uniform,
        };
        let (out, _) = block_on(speculative(
            &target,
            &draft,
            &PROMPT,
            &opts,
            4,
            verify,
            &mut |_| {},
        ))
        .unwrap();
        assert!(
            out.ids.len() >= 3 && !out.ids[..3].contains(&eos),
            "{:?}",
            out.ids
        );
        if let Some(i) = out.ids.iter().position(|&x| x == eos) {
            assert_eq!(
                i + 1,
                out.ids.len(),
                "nothing after end-of-text: {:?}",
                out.ids
            );
            ended += 1;
        }
        assert!(out.score.is_finite() && out.score < 0.0);
    }
    assert!(ended > 0, "end-of-text never came after min_new_tokens");
}
