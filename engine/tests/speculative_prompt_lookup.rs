//! Speculative decoding with prompt lookup as the draft: the n-grams proposed
//! are the ones transformers' `PromptLookupCandidateGenerator` proposes (on
//! hand-made contexts, and round by round in `generate(...,
//! prompt_lookup_num_tokens=γ, max_matching_ngram_size=N)`), greedy output is
//! transformers' and greedy's, and with sampling the output is distributed as
//! the target's own sampling (a copied token has q = 1: accepted with
//! probability p(x), else drawn from p without x). Fixture:
//! `tests/fixtures/prompt_lookup.json`, written by
//! `tests/golden/make_prompt_lookup_fixtures.py` (transformers 5.23.0).

mod common;
#[path = "common/speculative.rs"]
mod speculative_common;

use common::{fixtures_dir, ids, model_for};
use engine::backend::{block_on, Model};
use engine::config::Gpt2Config;
use engine::decoding::{
    greedy, prompt_lookup, run, speculative, DraftSource, Drafter, GenerateOptions, SamplingParams,
    SpeculativeParams, Step, Strategy, Verify,
};
use serde_json::Value;
use speculative_common::{chi_square, first_counts, random_model, VOCAB};

fn prompt_lookup_fixture() -> Value {
    let path = fixtures_dir().join("prompt_lookup.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn count(v: &Value) -> usize {
    v.as_u64().unwrap() as usize
}

#[test]
fn lookups_match_transformers_candidate_generator() {
    let fx = prompt_lookup_fixture();
    for case in fx["lookups"].as_array().unwrap() {
        let context = ids(&case["context"]);
        let eos = case["eos_token_id"].as_u64().map(|e| e as u32);
        let (prompt_len, min_new) = (count(&case["prompt_len"]), count(&case["min_new_tokens"]));
        // transformers' MinNewTokensLengthLogitsProcessor, asked about each candidate.
        let banned = |seq: &[u32], x: u32| Some(x) == eos && seq.len() - prompt_len < min_new;
        let got = prompt_lookup(
            &context,
            count(&case["max_matching_ngram_size"]),
            count(&case["num_output_tokens"]),
            eos,
            &banned,
        );
        assert_eq!(got, ids(&case["candidates"]), "{case}");
    }
}

#[test]
fn greedy_rounds_match_transformers_prompt_lookup() {
    let fx = prompt_lookup_fixture();
    for case in fx["cases"].as_array().unwrap() {
        let model = model_for(&fx["checkpoints"][case["checkpoint"].as_str().unwrap()]);
        let prompt = ids(&case["prompt_ids"]);
        let s = &case["settings"];
        let options = GenerateOptions {
            max_new_tokens: count(&s["max_new_tokens"]),
            min_new_tokens: count(&s["min_new_tokens"]),
            eos_token_id: Some(s["eos_token_id"].as_u64().unwrap() as u32),
            forced: Vec::new(),
            whole_rows: false,
        };
        let (gamma, n) = (
            count(&case["gamma"]),
            count(&case["max_matching_ngram_size"]),
        );
        // (the drafts the target verified, tokens emitted)
        let mut rounds: Vec<(Vec<u32>, usize)> = Vec::new();
        let mut on_step = |step: Step| {
            let Step::Speculative { drafted, .. } = step else {
                panic!("not a speculative step: {step:?}")
            };
            assert!(
                drafted.iter().all(|d| d.q == 1.0),
                "q of a copy: {drafted:?}"
            );
            let accepted = drafted.iter().filter(|d| d.accepted).count();
            rounds.push((drafted.iter().map(|d| d.id).collect(), accepted + 1));
        };
        let drafter: Drafter<Model> = Drafter::PromptLookup {
            max_matching_ngram_size: n,
            no_repeat_ngram_size: None,
        };
        let (got, stats) = block_on(speculative(
            &model,
            drafter,
            &prompt,
            &options,
            gamma,
            Verify::Greedy,
            &mut on_step,
        ))
        .unwrap();
        let want = ids(&case["new_ids"]);
        let label = format!(
            "{} {:?} γ {gamma} N {n} {s}",
            case["checkpoint"], case["prompt"]
        );
        assert_eq!(got.ids, want, "{label}: ids vs transformers");
        let plain = block_on(greedy(&model, &prompt, &options, &mut |_| {})).unwrap();
        assert_eq!(got.ids, plain.ids, "{label}: ids vs greedy");
        assert!((got.score - plain.score).abs() < 1e-3, "{label}: score");

        // Round by round: what transformers' generator proposed, within what
        // the round may still emit (transformers drafts past max_new_tokens
        // and crops what it keeps; the engine drafts no more than it can
        // keep). A step reports the drafts up to the first rejected one; the
        // lookup on the round's context gives them all.
        let theirs = case["rounds"].as_array().unwrap();
        assert_eq!(rounds.len(), theirs.len(), "{label}: rounds");
        let (mut len, mut drafted) = (prompt.len(), 0);
        for (r, ((verified, emitted), t)) in rounds.iter().zip(theirs).enumerate() {
            assert_eq!(count(&t["input_len"]), len, "{label}: round {r}'s input");
            let made = len - prompt.len();
            let room = (options.max_new_tokens - made - 1).min(gamma);
            let mut candidates = ids(&t["candidates"]);
            candidates.truncate(room);
            let context: Vec<u32> = prompt.iter().chain(&got.ids[..made]).copied().collect();
            let banned = |seq: &[u32], x: u32| {
                Some(x) == options.eos_token_id && seq.len() - prompt.len() < options.min_new_tokens
            };
            let copied = prompt_lookup(&context, n, room, options.eos_token_id, &banned);
            assert_eq!(copied, candidates, "{label}: round {r}'s draft");
            assert!(
                candidates.starts_with(verified),
                "{label}: round {r}'s steps"
            );
            drafted += candidates.len();
            len += emitted;
        }
        assert_eq!(stats.drafted, drafted, "{label}: drafted");
        assert_eq!((stats.target_passes, stats.draft_passes), (rounds.len(), 0));
        println!(
            "{label}: {} rounds, {drafted} drafted, acceptance {:.3}",
            rounds.len(),
            stats.acceptance_rate()
        );
    }
}

/// A prompt whose 2-gram [3, 1] recurs, so that the first round copies [4, 1, 5].
const PROMPT: [u32; 7] = [3, 1, 4, 1, 5, 3, 1];

#[test]
fn prompt_lookup_sampling_keeps_the_targets_distribution() {
    let mut config = Gpt2Config::new(2, 2, 16, 16);
    config.vocab_size = VOCAB;
    let target = random_model(config, 11);
    let options = GenerateOptions {
        max_new_tokens: 4,
        min_new_tokens: 0,
        eos_token_id: None,
        forced: Vec::new(),
        whole_rows: false,
    };
    // Top-k cuts tokens a copy may propose; the repetition penalty and the
    // n-gram ban read the context, and the ban stops copies (size 2 would
    // stop them all: a copy after a match repeats a 2-gram).
    let chains = [
        SamplingParams {
            temperature: 1.3,
            top_k: Some(7),
            ..SamplingParams::default()
        },
        SamplingParams {
            repetition_penalty: Some(1.5),
            no_repeat_ngram_size: Some(3),
            ..SamplingParams::default()
        },
    ];
    for sampling in chains {
        let (p1, p12) = first_two_law(&target, &sampling);
        let mut joint = vec![0u64; VOCAB * VOCAB];
        let (mut drafted, mut accepted, mut runs) = (0, 0, 0u64);
        for batch in 0..12u64 {
            let strategy = Strategy::Speculative(SpeculativeParams {
                gamma: 3,
                draft: DraftSource::PromptLookup {
                    max_matching_ngram_size: 2,
                },
                sampling: sampling.clone(),
                seed: 0x5eed + batch * 1000,
                num_return_sequences: 1000,
            });
            let outcome = block_on(run(
                &strategy,
                &target,
                None::<&Model>,
                &PROMPT,
                &options,
                &mut |_| {},
            ))
            .unwrap();
            for s in &outcome.sequences {
                joint[s.ids[0] as usize * VOCAB + s.ids[1] as usize] += 1;
                runs += 1;
            }
            let stats = outcome.speculative.unwrap();
            (drafted, accepted) = (drafted + stats.drafted, accepted + stats.accepted);
        }
        let (s1, df1, c1) = chi_square(&first_counts(&joint), &p1, runs);
        let (s2, df2, c2) = chi_square(&joint, &p12, runs);
        println!(
            "{sampling:?}, {runs} runs: first token χ² = {s1:.2} (df {df1}, critical {c1:.2}); \
             (first, second) χ² = {s2:.2} (df {df2}, critical {c2:.2}); \
             {accepted} of {drafted} copies accepted"
        );
        assert!(s1 < c1, "first token: χ² {s1} ≥ {c1}");
        assert!(s2 < c2, "first two tokens: χ² {s2} ≥ {c2}");
        assert!(
            accepted > 0 && accepted < drafted,
            "{accepted} of {drafted}"
        );
    }
}

/// The target's law of the first two tokens after [`PROMPT`] under `sampling`:
/// (p(t1), p(t1) p(t2 | t1)).
fn first_two_law(target: &Model, sampling: &SamplingParams) -> (Vec<f64>, Vec<f64>) {
    use engine::backend::LanguageModel;
    let dist = |context: &[u32]| -> Vec<f64> {
        let mut cache = target.new_cache(1).unwrap();
        let logits = block_on(target.forward(&mut cache, &[context], 1)).unwrap();
        let probs = sampling.process(logits.last(0), context).probs;
        probs.iter().map(|&p| p as f64).collect()
    };
    let p1 = dist(&PROMPT);
    let mut p12 = vec![0.0; VOCAB * VOCAB];
    for t1 in 0..VOCAB {
        let context: Vec<u32> = PROMPT.iter().copied().chain([t1 as u32]).collect();
        for (t2, p) in dist(&context).into_iter().enumerate() {
            p12[t1 * VOCAB + t2] = p1[t1] * p;
        }
    }
    (p1, p12)
}

#[test]
fn prompt_lookup_needs_no_second_model_and_checks_its_size() {
    let target = model_for(&common::fixture("odd"));
    let options = GenerateOptions {
        max_new_tokens: 8,
        min_new_tokens: 0,
        eos_token_id: Some(50256),
        forced: Vec::new(),
        whole_rows: false,
    };
    let params = |n| SpeculativeParams {
        gamma: 4,
        draft: DraftSource::PromptLookup {
            max_matching_ngram_size: n,
        },
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
        seed: 0,
        num_return_sequences: 1,
    };
    let strategy = Strategy::Speculative(params(3));
    assert_eq!(strategy.second_model(), None);
    let run_with = |s: &Strategy| {
        block_on(run(
            s,
            &target,
            None::<&Model>,
            &[1, 2, 1],
            &options,
            &mut |_| {},
        ))
    };
    assert_eq!(run_with(&strategy).unwrap().sequences[0].ids.len(), 8);
    let err = run_with(&Strategy::Speculative(params(0))).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    assert_eq!(
        err.to_string(),
        "--max-matching-ngram-size must be at least 1, got 0"
    );
    // A draft model still needs one.
    let model_draft = Strategy::Speculative(SpeculativeParams {
        draft: DraftSource::Model,
        ..params(2)
    });
    let err = run_with(&model_draft).unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("draft"),
        "{err}"
    );
}
