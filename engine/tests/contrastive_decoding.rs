//! Contrastive decoding (Li et al. 2022) against a straightforward PyTorch
//! implementation on two `transformers` models (fixture by
//! `tests/golden/make_contrastive_fixtures.py`: expert = the "odd" checkpoint,
//! amateur = 1 layer, 2 heads, 32 wide, same vocabulary).

mod common;

use common::{ids, model_for};
use engine::backend::block_on;
use engine::backend::Model;
use engine::config::Gpt2Config;
use engine::decoding::{contrastive, greedy, ContrastiveParams, GenerateOptions, Step};
use engine::weights::random::RandomCheckpoint;
use serde_json::Value;

const TOLERANCE: f32 = 1e-4;

fn fixture() -> Value {
    let path = common::fixtures_dir().join("contrastive.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn random_model(config: Gpt2Config, seed: u64) -> Model {
    common::load_bytes(
        RandomCheckpoint::new(config.clone(), seed).safetensors_bytes(),
        &config,
    )
}

fn f32_of(v: &Value) -> f32 {
    v.as_f64().unwrap() as f32
}

/// Runs contrastive decoding and returns its output with the chosen tokens'
/// (expert, amateur) log-probabilities from the step events.
fn run(
    expert: &Model,
    amateur: &Model,
    prompt: &[u32],
    options: &GenerateOptions,
    params: &ContrastiveParams,
) -> (Vec<u32>, f32, Vec<(f32, f32)>) {
    let mut steps = Vec::new();
    let mut on_step = |step: Step| {
        let Step::Contrastive { chosen, candidates } = step else {
            panic!("not a contrastive step: {step:?}")
        };
        let c = candidates
            .iter()
            .find(|c| c.id == chosen)
            .expect("chosen among candidates");
        assert!(c.plausible && c.score.is_finite(), "{c:?}");
        assert!(candidates.len() >= 20 && candidates.len() <= 21);
        // Every reported candidate that beats the chosen one's score is implausible.
        for other in &candidates {
            assert!(other.score <= c.score, "{other:?} beats chosen {c:?}");
        }
        steps.push((c.expert_logprob, c.amateur_logprob));
    };
    let out = block_on(contrastive(
        expert,
        amateur,
        prompt,
        options,
        params,
        &mut on_step,
    ))
    .unwrap();
    (out.ids, out.score, steps)
}

#[test]
fn contrastive_matches_the_pytorch_reference() {
    let fx = fixture();
    let expert = model_for(&fx["expert"]);
    let amateur = model_for(&fx["amateur"]);
    let mut worst = 0f32;
    for case in fx["cases"].as_array().unwrap() {
        let prompt = ids(&case["prompt_ids"]);
        let options = GenerateOptions {
            max_new_tokens: case["max_new_tokens"].as_u64().unwrap() as usize,
            min_new_tokens: case["min_new_tokens"].as_u64().unwrap() as usize,
            eos_token_id: Some(case["eos_token_id"].as_u64().unwrap() as u32),
            forced: Vec::new(),
            whole_rows: false,
        };
        let params = ContrastiveParams {
            alpha: f32_of(&case["alpha"]),
            lambda: f32_of(&case["lambda"]),
            amateur_temperature: f32_of(&case["amateur_temperature"]),
        };
        let (got, score, steps) = run(&expert, &amateur, &prompt, &options, &params);
        let want = ids(&case["new_ids"]);
        assert_eq!(
            got, want,
            "{params:?} {options:?} {prompt:?} (reference's smallest score gap {}, cut margin {})",
            case["min_score_gap"], case["min_cut_margin"]
        );
        for (i, (&(e, a), w)) in steps
            .iter()
            .zip(case["steps"].as_array().unwrap())
            .enumerate()
        {
            let d = (e - f32_of(&w[0])).abs().max((a - f32_of(&w[1])).abs());
            assert!(
                d < TOLERANCE,
                "{params:?} {prompt:?} step {i}: |Δ logprob| = {d:e}"
            );
            worst = worst.max(d);
        }
        let d = (score - f32_of(&case["score"])).abs();
        assert!(
            d < 1e-3,
            "{params:?} {prompt:?}: score {score} vs {}",
            case["score"]
        );
    }
    println!("largest |Δ log-prob| against the reference: {worst:e}");
}

#[test]
fn lambda_zero_is_greedy_on_the_expert() {
    let fx = fixture();
    let expert = model_for(&fx["expert"]);
    let amateur = model_for(&fx["amateur"]);
    let options = GenerateOptions {
        max_new_tokens: 20,
        min_new_tokens: 0,
        eos_token_id: Some(50256),
        forced: Vec::new(),
        whole_rows: false,
    };
    for alpha in [0.0, 0.1, 1.0] {
        let params = ContrastiveParams {
            alpha,
            lambda: 0.0,
            amateur_temperature: 0.7,
        };
        for case in fx["cases"].as_array().unwrap().iter().take(3) {
            let prompt = ids(&case["prompt_ids"]);
            let (got, score, _) = run(&expert, &amateur, &prompt, &options, &params);
            let want = block_on(greedy(&expert, &prompt, &options, &mut |_| {})).unwrap();
            assert_eq!(got, want.ids, "alpha {alpha}, prompt {prompt:?}");
            assert!(
                (score - want.score).abs() < 1e-4,
                "{score} vs {}",
                want.score
            );
        }
    }
}

#[test]
fn bad_models_and_parameters_are_clear_errors() {
    let fx = fixture();
    let expert = model_for(&fx["expert"]);
    let mut config = Gpt2Config::new(1, 2, 16, 32);
    config.vocab_size = 1000;
    let small = random_model(config, 3);
    let options = GenerateOptions {
        max_new_tokens: 4,
        min_new_tokens: 0,
        eos_token_id: None,
        forced: Vec::new(),
        whole_rows: false,
    };
    let params = ContrastiveParams::default();
    let err = block_on(contrastive(
        &expert,
        &small,
        &[1, 2],
        &options,
        &params,
        &mut |_| {},
    ))
    .unwrap_err();
    assert!(err.is_bad_input());
    assert_eq!(
        err.to_string().split(':').next().unwrap(),
        "the amateur's vocabulary (1000) differs from the expert's (50257)"
    );
    for bad in [
        ContrastiveParams {
            alpha: -0.1,
            ..params.clone()
        },
        ContrastiveParams {
            lambda: f32::NAN,
            ..params.clone()
        },
        ContrastiveParams {
            amateur_temperature: -1.0,
            ..params.clone()
        },
    ] {
        let err = block_on(contrastive(
            &expert,
            &expert,
            &[1, 2],
            &options,
            &bad,
            &mut |_| {},
        ))
        .unwrap_err();
        assert!(err.is_bad_input(), "{err}");
    }
    let err = block_on(contrastive(
        &expert,
        &expert,
        &[],
        &options,
        &params,
        &mut |_| {},
    ))
    .unwrap_err();
    assert!(err.to_string().contains("prompt is empty"), "{err}");
}
