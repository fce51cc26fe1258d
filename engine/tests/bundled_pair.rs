//! The bundled pair (`models/bundled` and `models/bundled-draft`, trained by
//! `tools/train_tiny.py` on the King James Bible) behaves as trained models
//! do, on the chapters held out of its training (`models/heldout.txt`):
//! a perplexity under a stated bound, a draft the target accepts at γ = 4,
//! contrastive decoding that repeats itself less than greedy, and samples the
//! target prefers to the same tokens shuffled. Found by name, as
//! `--model bundled` finds them: no download.

mod common;

use engine::backend::{block_on, LanguageModel, Precision};
use engine::config::Gpt2Config;
use engine::decoding::rng::SplitMix64;
use engine::decoding::{
    contrastive, greedy, metrics, sample, score, speculative, ContrastiveParams, Drafter,
    GenerateOptions, SamplingParams, Verify,
};
use engine::hub::{self, NoProgress};
use engine::loading::LoadedModel;
use engine::tokenizer::Tokenizer;
use engine::weights::SafetensorsFile;

/// Held-out perplexity the target must stay under: 23.7 measured on these
/// windows (the model card gives 35.1 over the whole held-out split, whose
/// later books are harder); the bound leaves room for another device's
/// rounding, not for a worse model (the draft scores 37.0 here).
const PERPLEXITY_BOUND: f64 = 28.0;
/// Windows of the held-out text scored for the perplexity.
const WINDOWS: usize = 24;
/// Prompts taken from the held-out chapters, and new tokens per run.
const PROMPTS: usize = 8;
const NEW_TOKENS: usize = 48;

fn load(name: &str) -> LoadedModel {
    let files = hub::resolve(name, &NoProgress).unwrap();
    let config = Gpt2Config::from_file(&files.config).unwrap();
    let tokenizer = Tokenizer::from_file(&files.tokenizer).unwrap();
    let weights = SafetensorsFile::open(&files.weights).unwrap();
    block_on(engine::loading::load(
        &config,
        tokenizer,
        weights,
        &common::test_device(),
        Precision::F32,
    ))
    .unwrap()
}

/// The held-out chapters: verses one per line, chapters apart by a blank line.
fn held_out_chapters() -> Vec<String> {
    let path = hub::bundled::folder("bundled")
        .unwrap()
        .parent()
        .unwrap()
        .join("heldout.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split("\n\n")
        .map(|c| c.trim().to_string() + "\n")
        .filter(|c| c.len() > 1)
        .collect()
}

/// The first 10 tokens of each of the first held-out chapters.
fn prompts(tokenizer: &Tokenizer) -> Vec<Vec<u32>> {
    held_out_chapters()
        .iter()
        .take(PROMPTS)
        .map(|c| tokenizer.encode(c).unwrap()[..10].to_vec())
        .collect()
}

fn options() -> GenerateOptions {
    GenerateOptions {
        max_new_tokens: NEW_TOKENS,
        min_new_tokens: NEW_TOKENS,
        eos_token_id: Some(50256),
        forced: Vec::new(),
        whole_rows: false,
    }
}

#[test]
fn held_out_perplexity_is_under_the_bound() {
    let target = load("bundled");
    let positions = target.model.config().n_positions;
    // The held-out stream as training saw its documents: each chapter ended by <|endoftext|>.
    let mut stream = Vec::new();
    for chapter in held_out_chapters() {
        stream.extend(target.tokenizer.encode(&chapter).unwrap());
        stream.push(50256);
    }
    let (mut total, mut count) = (0.0f64, 0usize);
    for window in stream.chunks(positions).take(WINDOWS) {
        let logprobs = block_on(score(&target.model, window)).unwrap();
        total -= logprobs.iter().map(|&l| l as f64).sum::<f64>();
        count += logprobs.len();
    }
    let perplexity = (total / count as f64).exp();
    println!("held-out perplexity over {count} tokens: {perplexity:.2}");
    assert!(
        perplexity < PERPLEXITY_BOUND,
        "held-out perplexity {perplexity:.2} ≥ {PERPLEXITY_BOUND} over {count} tokens"
    );
}

#[test]
fn the_draft_is_accepted_at_least_half_the_time_at_gamma_4() {
    let target = load("bundled");
    let draft = load("bundled-draft");
    let (mut drafted, mut accepted) = (0, 0);
    for prompt in prompts(&target.tokenizer) {
        let (out, stats) = block_on(speculative(
            &target.model,
            Drafter::Model(&draft.model),
            &prompt,
            &options(),
            4,
            Verify::Greedy,
            &mut |_| {},
        ))
        .unwrap();
        let plain = block_on(greedy(&target.model, &prompt, &options(), &mut |_| {})).unwrap();
        assert_eq!(out.ids, plain.ids, "speculative vs greedy after {prompt:?}");
        drafted += stats.drafted;
        accepted += stats.accepted;
    }
    let rate = accepted as f64 / drafted as f64;
    println!("acceptance at γ = 4: {accepted}/{drafted} = {rate:.3}");
    assert!(
        rate >= 0.5,
        "acceptance {accepted}/{drafted} = {rate:.3} < 0.5"
    );
}

#[test]
fn contrastive_decoding_repeats_fewer_4_grams_than_greedy() {
    let expert = load("bundled");
    let amateur = load("bundled-draft");
    let params = ContrastiveParams::default();
    let (mut greedy_repeats, mut contrastive_repeats) = (0, 0);
    for prompt in prompts(&expert.tokenizer) {
        let plain = block_on(greedy(&expert.model, &prompt, &options(), &mut |_| {})).unwrap();
        let contrasted = block_on(contrastive(
            &expert.model,
            &amateur.model,
            &prompt,
            &options(),
            &params,
            &mut |_| {},
        ))
        .unwrap();
        assert_eq!(plain.ids.len(), contrasted.ids.len());
        greedy_repeats += metrics::repeated_4grams(&plain.ids);
        contrastive_repeats += metrics::repeated_4grams(&contrasted.ids);
    }
    println!(
        "repeated 4-grams over {PROMPTS} prompts × {NEW_TOKENS} tokens: greedy {greedy_repeats}, \
         contrastive {contrastive_repeats}"
    );
    assert!(
        contrastive_repeats < greedy_repeats,
        "contrastive repeated {contrastive_repeats} 4-grams, greedy {greedy_repeats}"
    );
}

#[test]
fn samples_at_temperature_0_7_score_above_the_same_tokens_shuffled() {
    let target = load("bundled");
    let params = SamplingParams {
        temperature: 0.7,
        ..SamplingParams::default()
    };
    let mut rng = SplitMix64::new(7);
    for (i, prompt) in prompts(&target.tokenizer).into_iter().enumerate() {
        let out = block_on(sample(
            &target.model,
            &prompt,
            &options(),
            &params,
            i as u64,
            1,
            &mut |_| {},
        ))
        .unwrap()
        .remove(0);
        let mut shuffled = out.ids.clone();
        // Fisher–Yates, seeded.
        for j in (1..shuffled.len()).rev() {
            shuffled.swap(j, (rng.next_u64() % (j as u64 + 1)) as usize);
        }
        let logprob = |new: &[u32]| -> f64 {
            let ids: Vec<u32> = prompt.iter().chain(new).copied().collect();
            let all = block_on(score(&target.model, &ids)).unwrap();
            all[prompt.len() - 1..].iter().map(|&l| l as f64).sum()
        };
        let (sampled, mixed) = (logprob(&out.ids), logprob(&shuffled));
        let text = target.tokenizer.decode(&out.ids).unwrap_or_default();
        println!("prompt {i}: sampled {sampled:.1}, shuffled {mixed:.1}: {text:?}");
        assert!(
            sampled > mixed,
            "prompt {i}: the sample's log-probability {sampled:.1} is not above its shuffle's {mixed:.1}"
        );
    }
}

#[test]
fn only_the_bundled_models_are_files_over_4_mib() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let listed = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(&root)
        .output()
        .expect("git ls-files: git is needed to list the committed files");
    assert!(listed.status.success(), "git ls-files failed");
    let mut large = Vec::new();
    for path in listed.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        let path = String::from_utf8_lossy(path).to_string();
        let size = std::fs::metadata(root.join(&path)).map_or(0, |m| m.len());
        if size > 4 << 20 && !path.starts_with("models/") {
            large.push(format!("{path} ({size} bytes)"));
        }
    }
    assert!(
        large.is_empty(),
        "files over 4 MiB outside models/: {large:?}"
    );
}
