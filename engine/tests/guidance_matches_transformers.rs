//! Classifier-free guidance (Sanchez et al. 2023) against `transformers`
//! 5.23's `UnbatchedClassifierFreeGuidanceLogitsProcessor`:
//!
//! - on fixed logits (`guidance_chains` of `tests/fixtures/processors.json`,
//!   by `tests/golden/make_processor_fixtures.py`): the conditional and the
//!   unconditional logits through guidance and the rest of the chain, the
//!   same support and probabilities within 1e-5, sampling or greedy;
//! - end to end (`tests/fixtures/guidance.json`, by
//!   `tests/golden/make_guidance_fixtures.py`) on the seeded random
//!   checkpoints, on the test device, identical ids:
//!
//! ```python
//! model.generate(ids, do_sample=False, guidance_scale=G, negative_prompt_ids=neg,  # or no negative prompt
//!                repetition_penalty=θ, no_repeat_ngram_size=n, min_new_tokens=m, max_new_tokens=N,
//!                pad_token_id=50256, eos_token_id=50256)
//! ```
//!
//! and through `gpt2 generate --guidance-scale G --negative-prompt TEXT`.

#[path = "common/cli.rs"]
mod cli;
mod common;

use common::processors::{check_cases, processor_fixture};
use common::{fixtures_dir, ids, model_dir, model_for};
use engine::backend::{block_on, LanguageModel, Model};
use engine::decoding::steps::Step;
use engine::decoding::{sample, GenerateOptions, Guidance, SamplingParams, StepInputs};
use serde_json::Value;

const EOS: u32 = 50256;

fn guidance_fixture() -> Value {
    let path = fixtures_dir().join("guidance.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn guidance_on_fixed_logits_matches_transformers() {
    let worst = check_cases(&processor_fixture(), "guidance_chains");
    eprintln!("guidance chains: max |Δp| vs transformers = {worst:.2e}");
}

/// The engine's settings for a fixture case: greedy, guided.
fn settings(case: &Value) -> (GenerateOptions, SamplingParams) {
    let s = &case["settings"];
    let n = |k: &str| s.get(k).and_then(Value::as_u64).map(|v| v as usize);
    let options = GenerateOptions {
        max_new_tokens: n("max_new_tokens").unwrap(),
        min_new_tokens: n("min_new_tokens").unwrap_or(0),
        eos_token_id: Some(EOS),
        forced: Vec::new(),
        whole_rows: false,
    };
    let negative_prompt = match &case["negative_prompt_ids"] {
        Value::Null => Vec::new(),
        v => ids(v),
    };
    let params = SamplingParams {
        temperature: 0.0,
        repetition_penalty: s
            .get("repetition_penalty")
            .map(|v| v.as_f64().unwrap() as f32),
        no_repeat_ngram_size: n("no_repeat_ngram_size"),
        guidance: Some(Guidance {
            scale: s["guidance_scale"].as_f64().unwrap() as f32,
            negative_prompt,
        }),
        ..SamplingParams::default()
    };
    (options, params)
}

fn generate(
    model: &Model,
    prompt: &[u32],
    options: &GenerateOptions,
    params: &SamplingParams,
    rows: usize,
) -> Vec<Vec<u32>> {
    let out = block_on(sample(model, prompt, options, params, 0, rows, &mut |_| {})).unwrap();
    out.into_iter().map(|g| g.ids).collect()
}

#[test]
fn guided_greedy_search_matches_transformers() {
    let fx = guidance_fixture();
    let mut cases = 0;
    for (name, checkpoint) in fx["checkpoints"].as_object().unwrap() {
        let model = model_for(checkpoint);
        for case in fx["cases"].as_array().unwrap() {
            if case["checkpoint"] != name.as_str() {
                continue;
            }
            let prompt = ids(&case["prompt_ids"]);
            let (options, params) = settings(case);
            let want = ids(&case["new_ids"]);
            let got = generate(&model, &prompt, &options, &params, 1);
            assert_eq!(
                got[0],
                want,
                "{name} {} / {}, {}: ids differ (transformers' smallest top-2 gap {:.2e})",
                case["prompt"],
                case["negative_prompt"],
                case["settings"],
                case["min_top2_gap"].as_f64().unwrap()
            );
            // Several rows: the unconditional row is copied to each, and each
            // follows its own row (greedy: all the same).
            if cases % 4 == 0 {
                let rows = generate(&model, &prompt, &options, &params, 3);
                assert!(
                    rows.iter().all(|r| *r == want),
                    "{name} {}: 3 rows",
                    case["prompt"]
                );
            }
            cases += 1;
            eprintln!(
                "{name} {} / {}: {} ids identical",
                case["prompt"],
                case["negative_prompt"],
                want.len()
            );
        }
    }
    assert_eq!(cases, fx["cases"].as_array().unwrap().len());
}

#[test]
fn a_negative_prompt_past_the_context_is_a_clear_error() {
    let fx = guidance_fixture();
    let model = model_for(&fx["checkpoints"]["odd"]);
    let case = fx["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["settings"]["max_new_tokens"] == 49)
        .unwrap();
    let (mut options, params) = settings(case);
    options.max_new_tokens = 50;
    let prompt = ids(&case["prompt_ids"]);
    let err = block_on(sample(
        &model,
        &prompt,
        &options,
        &params,
        0,
        1,
        &mut |_| {},
    ))
    .unwrap_err();
    assert!(err.is_bad_input());
    assert_eq!(
        err.to_string(),
        "the negative prompt has 16 tokens: with 50 new tokens its context reaches 65 positions, \
         more than the model's 64 (n_positions): shorten the negative prompt or lower --max-new-tokens"
    );
}

/// The processed distribution of one row's step, recomputed from scratch: the
/// conditional and the unconditional context each on a fresh cache.
fn from_scratch(
    model: &Model,
    params: &SamplingParams,
    cond: &[u32],
    uncond: &[u32],
    prompt_len: usize,
) -> Vec<f32> {
    let last = |tokens: &[u32]| {
        let mut cache = model.new_cache(1).unwrap();
        block_on(model.forward(&mut cache, &[tokens], 1))
            .unwrap()
            .last(0)
            .to_vec()
    };
    let (c, u) = (last(cond), last(uncond));
    let inputs = StepInputs {
        context: cond,
        prompt_len,
        unconditional: Some(&u),
        ..StepInputs::default()
    };
    params.process_step(&c, &inputs).scaled
}

/// A streamed step: the row, its token, and each candidate's id and
/// probability after guidance (`scaled_prob`).
type TokenStep = (usize, u32, Vec<(u32, f32)>);

#[test]
fn sampled_rows_keep_their_own_unconditional_context() {
    // Six sampled rows, with a token this model repeats often as end-of-text
    // so that rows finish at different steps and both caches are compacted:
    // every step of every row is the guided distribution of that row's own
    // contexts, recomputed from scratch.
    let fx = guidance_fixture();
    let model = model_for(&fx["checkpoints"]["tiny"]);
    let prompt = [40, 423, 257, 4320];
    let negative = vec![464, 3797];
    let params = SamplingParams {
        top_k: Some(5),
        guidance: Some(Guidance {
            scale: 1.5,
            negative_prompt: negative.clone(),
        }),
        ..SamplingParams::default()
    };
    let options = GenerateOptions {
        max_new_tokens: 8,
        min_new_tokens: 0,
        eos_token_id: Some(24175),
        forced: Vec::new(),
        whole_rows: false,
    };
    let mut steps: Vec<TokenStep> = Vec::new();
    let out = block_on(sample(&model, &prompt, &options, &params, 0, 6, &mut |s| {
        if let Step::Token {
            row,
            chosen,
            candidates,
            ..
        } = s
        {
            steps.push((
                row,
                chosen,
                candidates.iter().map(|c| (c.id, c.scaled_prob)).collect(),
            ));
        }
    }))
    .unwrap();
    let lengths: Vec<usize> = out.iter().map(|g| g.ids.len()).collect();
    let midway = lengths.iter().filter(|&&l| l > 1 && l < 8).count();
    assert!(midway >= 2, "rows should finish midway: {lengths:?}");
    let mut worst = 0f32;
    let mut seen = vec![0; out.len()];
    for (row, chosen, candidates) in steps {
        let t = seen[row];
        seen[row] += 1;
        assert_eq!(out[row].ids[t], chosen);
        let generated = &out[row].ids[..t];
        let cond: Vec<u32> = prompt.iter().chain(generated).copied().collect();
        let uncond: Vec<u32> = negative.iter().chain(generated).copied().collect();
        let want = from_scratch(&model, &params, &cond, &uncond, prompt.len());
        for (id, got) in candidates {
            let d = (got - want[id as usize]).abs();
            assert!(
                d < 1e-4,
                "row {row} step {t} id {id}: {got} vs {} from scratch",
                want[id as usize]
            );
            worst = worst.max(d);
        }
    }
    eprintln!("rows {lengths:?}: guided probabilities vs from scratch, max |Δp| = {worst:.2e}");
}

#[test]
fn the_command_line_guides_greedy_search_as_transformers() {
    let fx = guidance_fixture();
    let case = &fx["cases"][0];
    assert_eq!(case["checkpoint"], "tiny");
    let dir = model_dir("tiny");
    let max = case["settings"]["max_new_tokens"].to_string();
    let mut args = vec![
        "generate",
        "--model",
        dir.path().to_str().unwrap(),
        "--json",
    ];
    args.extend([
        "--prompt",
        case["prompt"].as_str().unwrap(),
        "--max-new-tokens",
        &max,
    ]);
    let scale = case["settings"]["guidance_scale"].to_string();
    let guided = [
        "--strategy",
        "sample",
        "--temperature",
        "0",
        "--guidance-scale",
        &scale,
    ];
    let negative = [
        "--negative-prompt",
        case["negative_prompt"].as_str().unwrap(),
    ];
    let run = |extra: &[&str]| {
        let mut a = args.clone();
        a.extend(extra);
        cli::gpt2(&a)
    };
    let (code, stdout, stderr) = run(&[&guided[..], &negative[..]].concat());
    assert_eq!(code, 0, "{stderr}");
    let out: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(ids(&out["prompt_ids"]), ids(&case["prompt_ids"]));
    assert_eq!(ids(&out["sequences"][0]["ids"]), ids(&case["new_ids"]));
    // A negative prompt or a scale where the strategy ignores them, a negative
    // prompt without a scale, an empty one: exit 2, saying what to do.
    for (extra, needle) in [
        (
            vec!["--strategy", "greedy", "--guidance-scale", "1.5"],
            "--guidance-scale",
        ),
        (
            vec!["--strategy", "beam", "--negative-prompt", "x"],
            "--negative-prompt",
        ),
        (
            vec!["--strategy", "sample", "--negative-prompt", "x"],
            "--negative-prompt needs --guidance-scale",
        ),
        (
            [&guided[..], &["--negative-prompt", ""]].concat(),
            "--negative-prompt is empty",
        ),
    ] {
        let (code, _, stderr) = run(&extra);
        assert_eq!(code, 2, "{extra:?}: {stderr}");
        assert!(stderr.contains(needle), "{extra:?}: {stderr}");
    }
}
