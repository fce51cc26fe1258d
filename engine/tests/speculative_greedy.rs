//! Speculative decoding with a draft model (Leviathan et al. 2022,
//! Algorithm 1), verified greedily: the output is the target's greedy output
//! exactly whatever the draft, the caches roll back consistently to the end
//! of the context, end-of-text and min_new_tokens behave as in greedy, and
//! bad settings are clear errors. Rejection sampling is checked in
//! `speculative_sampling.rs`, prompt lookup in `speculative_prompt_lookup.rs`.

mod common;
#[path = "common/speculative.rs"]
mod speculative_common;

use common::{fixture, ids, model_for};
use engine::backend::block_on;
use engine::backend::Model;
use engine::config::Gpt2Config;
use engine::decoding::{
    greedy, speculative, Drafter, GenerateOptions, Generated, SpeculativeStats, Step, Verify,
};
use speculative_common::random_model;

fn options(max_new_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens,
        min_new_tokens: 0,
        eos_token_id: Some(50256),
        forced: Vec::new(),
        whole_rows: false,
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
        Drafter::Model(draft),
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
            forced: Vec::new(),
            whole_rows: false,
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
            Drafter::Model(draft),
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
