//! The published GPT-2 (`openai-community/gpt2`), when its folder is at hand:
//! `GPT2_DIR=/path/to/gpt2 cargo test --release --test real_gpt2 -- --ignored`.
//! Real weights cannot be downloaded everywhere the tests run, so these are
//! ignored by default; the random-weight golden tests carry correctness there.

use std::path::PathBuf;

use engine::backend::block_on;
use engine::backend::cpu::CpuModel;
use engine::backend::Precision;
use engine::config::Gpt2Config;
use engine::decoding::{greedy, score, GenerateOptions};
use engine::tokenizer::Tokenizer;
use engine::weights::{Gpt2Checkpoint, SafetensorsFile};

fn load() -> (CpuModel, Tokenizer) {
    let dir =
        PathBuf::from(std::env::var("GPT2_DIR").expect("set GPT2_DIR to a folder holding gpt2"));
    let config = Gpt2Config::from_file(&dir.join("config.json")).unwrap();
    let file = SafetensorsFile::open(&dir.join("model.safetensors")).unwrap();
    let ckpt = Gpt2Checkpoint::new(file, &config).unwrap();
    let model = CpuModel::load(&ckpt, &config, Precision::F32).unwrap();
    (
        model,
        Tokenizer::from_file(&dir.join("tokenizer.json")).unwrap(),
    )
}

fn greedy_text(model: &CpuModel, tok: &Tokenizer, prompt: &str, n: usize) -> String {
    let options = GenerateOptions {
        max_new_tokens: n,
        min_new_tokens: 0,
        eos_token_id: Some(50256),
        forced: Vec::new(),
        whole_rows: false,
    };
    let out = block_on(greedy(
        model,
        &tok.encode(prompt).unwrap(),
        &options,
        &mut |_| {},
    ))
    .unwrap();
    tok.decode(&out.ids).unwrap()
}

#[test]
#[ignore = "needs the real gpt2 weights in GPT2_DIR"]
fn greedy_continuations_of_the_published_examples() {
    let (model, tok) = load();
    let want = " soon,\n\nThe Lord of the Rings\n\nThe Lord of the Rings: The Card Game";
    let n = tok.encode(want).unwrap().len();
    assert_eq!(greedy_text(&model, &tok, "See you", n), want);
    assert_eq!(
        greedy_text(&model, &tok, "I have a dream", 5),
        " of being a doctor."
    );
}

#[test]
#[ignore = "needs the real gpt2 weights in GPT2_DIR"]
fn scores_of_the_published_examples() {
    let (model, tok) = load();
    for (word, want) in [
        ("alligator", -31.04),
        ("crocodile", -35.55),
        ("asdf", -42.27),
    ] {
        let text = format!("<|endoftext|>See you later, {word}.<|endoftext|>");
        let total: f32 = block_on(score(&model, &tok.encode(&text).unwrap()))
            .unwrap()
            .iter()
            .sum();
        assert!((total - want).abs() < 0.01, "{word}: {total} vs {want}");
    }
}
