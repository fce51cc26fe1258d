//! The candle backend against Hugging Face `transformers` on seeded random
//! checkpoints (fixtures by `tests/golden/make_fixtures.py`; transformers 5.23,
//! torch 2.15, eager attention, f32):
//!
//! ```python
//! model = GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
//! lp = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)          # next / score
//! model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=24)   # greedy
//! ```

mod common;

use common::{fixture, ids, model_for};
use engine::backend::{block_on, LanguageModel};
use engine::decoding::{greedy, log_softmax, next_token_logprobs, score, GenerateOptions, Step};

const TOLERANCE: f32 = 1e-4;
const CHECKPOINTS: [&str; 5] = ["tiny", "odd", "odd_f16", "odd_bf16", "heads12"];

#[test]
fn next_token_logprobs_match_transformers() {
    for name in CHECKPOINTS {
        let fx = fixture(name);
        let model = model_for(&fx);
        let mut worst = 0f32;
        for case in fx["next"].as_array().unwrap() {
            let prompt = ids(&case["prompt_ids"]);
            let mut cache = model.new_cache(1).unwrap();
            let logits = block_on(model.forward(&mut cache, &[&prompt], 1)).unwrap();
            let lp = log_softmax(logits.last(0));
            let mut max_diff = 0f32;
            for pair in case["top"]
                .as_array()
                .unwrap()
                .iter()
                .chain(case["probes"].as_array().unwrap())
            {
                let (id, want) = (
                    pair[0].as_u64().unwrap() as usize,
                    pair[1].as_f64().unwrap() as f32,
                );
                max_diff = max_diff.max((lp[id] - want).abs());
            }
            assert!(
                max_diff < TOLERANCE,
                "{name} {prompt:?}: max |Δ logprob| = {max_diff:e}"
            );
            worst = worst.max(max_diff);
            // The ranking itself: the engine's top 20 ids are transformers' top 20.
            let top = block_on(next_token_logprobs(&model, &prompt, 20)).unwrap();
            let want: Vec<u32> = case["top"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[0].as_u64().unwrap() as u32)
                .collect();
            let got: Vec<u32> = top.iter().map(|c| c.id).collect();
            assert_eq!(got, want, "{name} {prompt:?}: top-20 order");
        }
        eprintln!("{name}: next-token max |Δ logprob| vs transformers = {worst:.2e}");
    }
}

#[test]
fn text_scores_match_transformers() {
    for name in CHECKPOINTS {
        let fx = fixture(name);
        let model = model_for(&fx);
        let mut worst = 0f32;
        for case in fx["score"].as_array().unwrap() {
            let ids = ids(&case["ids"]);
            let got = block_on(score(&model, &ids)).unwrap();
            let want: Vec<f32> = case["token_logprobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(got.len(), want.len());
            let max_diff = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                max_diff < TOLERANCE,
                "{name} {ids:?}: max |Δ token logprob| = {max_diff:e}"
            );
            worst = worst.max(max_diff);
            let total: f32 = got.iter().sum();
            let want_total = case["total_logprob"].as_f64().unwrap() as f32;
            assert!(
                (total - want_total).abs() < 1e-3,
                "{name}: total {total} vs {want_total}"
            );
        }
        eprintln!("{name}: score max |Δ token logprob| vs transformers = {worst:.2e}");
    }
}

#[test]
fn greedy_ids_match_transformers_exactly() {
    for name in CHECKPOINTS {
        let fx = fixture(name);
        let model = model_for(&fx);
        for case in fx["greedy"].as_array().unwrap() {
            let prompt = ids(&case["prompt_ids"]);
            let options = GenerateOptions {
                max_new_tokens: case["max_new_tokens"].as_u64().unwrap() as usize,
                min_new_tokens: case["min_new_tokens"].as_u64().unwrap() as usize,
                eos_token_id: Some(50256),
                forced: Vec::new(),
                whole_rows: false,
            };
            let mut streamed = Vec::new();
            let mut on_step = |step: Step| {
                if let Step::Token { chosen, .. } = step {
                    streamed.push(chosen)
                }
            };
            let out = block_on(greedy(&model, &prompt, &options, &mut on_step)).unwrap();
            let want = ids(&case["new_ids"]);
            assert_eq!(
                out.ids, want,
                "{name} {prompt:?} (transformers' smallest top-2 gap {})",
                case["min_top2_gap"]
            );
            assert_eq!(streamed, want, "tokens reported by the step events");
        }
    }
}
