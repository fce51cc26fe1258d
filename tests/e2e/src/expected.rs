//! What the page must show, computed natively by the engine on the CPU from the
//! mirrored files, loaded as `gpt2` loads a model folder; and, where it is
//! built, what the `gpt2` command line itself prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use engine::backend::{block_on, Device, LanguageModel, Model};
use engine::config::Gpt2Config;
use engine::decoding::{
    beam_search, contrastive, greedy, logit_lens, next_token_logprobs, run, sample, score,
    BeamParams, Candidate, ContrastiveParams, EarlyStopping, GenerateOptions, LensLayer, Outcome,
    SamplingParams, Step, Strategy,
};
use engine::tokenizer::Tokenizer;
use engine::weights::{Gpt2Checkpoint, SafetensorsFile};
use serde_json::Value;

/// A mirrored model loaded natively on the CPU.
pub struct Native {
    dir: PathBuf,
    model: Model,
    tokenizer: Tokenizer,
}

impl Native {
    /// Loads the model folder `dir` (config, tokenizer, weights).
    pub fn load(dir: &Path) -> Native {
        let fail = |what: &str, e: engine::Error| -> ! {
            panic!("loading {} natively: {what}: {e}", dir.display())
        };
        let config = Gpt2Config::from_file(&dir.join("config.json"))
            .unwrap_or_else(|e| fail("config.json", e));
        let tokenizer = Tokenizer::from_file(&dir.join("tokenizer.json"))
            .unwrap_or_else(|e| fail("tokenizer.json", e));
        let file = SafetensorsFile::open(&dir.join("model.safetensors"))
            .unwrap_or_else(|e| fail("model.safetensors", e));
        let checkpoint =
            Gpt2Checkpoint::new(file, &config).unwrap_or_else(|e| fail("checkpoint", e));
        let model = block_on(Model::load(&checkpoint, &config, &Device::Cpu))
            .unwrap_or_else(|e| fail("model", e));
        Native {
            dir: dir.to_path_buf(),
            model,
            tokenizer,
        }
    }

    /// The prompt's token ids.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.tokenizer
            .encode(text)
            .unwrap_or_else(|e| panic!("tokenizing {text:?}: {e}"))
    }

    /// `gpt2 generate`'s options: stop after end-of-text, no minimum length.
    fn options(&self, max_new_tokens: usize) -> GenerateOptions {
        GenerateOptions {
            max_new_tokens,
            min_new_tokens: 0,
            eos_token_id: Some(self.model.config().eos_token_id),
            forced: Vec::new(),
            // As the page runs: every step's whole row (greedy's too).
            whole_rows: true,
        }
    }

    /// `gpt2 generate --strategy greedy`'s new ids.
    pub fn greedy(&self, prompt: &str, max_new_tokens: usize) -> Vec<u32> {
        let ids = self.encode(prompt);
        let options = self.options(max_new_tokens);
        block_on(greedy(&self.model, &ids, &options, &mut |_| {}))
            .unwrap_or_else(|e| panic!("greedy decoding natively: {e}"))
            .ids
    }

    /// `gpt2 generate --strategy greedy --force ...`'s new ids: greedy with
    /// the `forced` `(step, id)` choices taken instead.
    pub fn greedy_forced(
        &self,
        prompt: &str,
        max_new_tokens: usize,
        forced: &[(usize, u32)],
    ) -> Vec<u32> {
        let options = GenerateOptions {
            forced: forced.to_vec(),
            ..self.options(max_new_tokens)
        };
        let mut on_step = |_| {};
        let second: Option<&Model> = None;
        let prompt = self.encode(prompt);
        let outcome = block_on(run(
            &Strategy::Greedy,
            &self.model,
            second,
            &prompt,
            &options,
            &mut on_step,
        ))
        .unwrap_or_else(|e| panic!("greedy with --force natively: {e}"));
        outcome.sequences[0].ids.clone()
    }

    /// Greedy's new ids after the token ids `ids` (a prompt given as ids).
    pub fn greedy_after(&self, ids: &[u32], max_new_tokens: usize) -> Vec<u32> {
        let options = self.options(max_new_tokens);
        block_on(greedy(&self.model, ids, &options, &mut |_| {}))
            .unwrap_or_else(|e| panic!("greedy decoding natively: {e}"))
            .ids
    }

    /// `gpt2 generate --strategy sample`'s new ids under `params` and `seed`,
    /// with every step (one sequence, as the page runs it).
    pub fn sample(
        &self,
        prompt: &str,
        max_new_tokens: usize,
        params: &SamplingParams,
        seed: u64,
    ) -> (Vec<u32>, Vec<Step>) {
        let ids = self.encode(prompt);
        let options = self.options(max_new_tokens);
        let mut steps = Vec::new();
        let mut on_step = |step| steps.push(step);
        let mut out = block_on(sample(
            &self.model,
            &ids,
            &options,
            params,
            seed,
            1,
            &mut on_step,
        ))
        .unwrap_or_else(|e| panic!("sampling natively: {e}"));
        (out.remove(0).ids, steps)
    }

    /// `gpt2 generate --strategy beam --num-beams K`'s best sequence (length
    /// penalty 1, no early stopping, as the command line's defaults).
    pub fn beam(&self, prompt: &str, max_new_tokens: usize, num_beams: usize) -> Vec<u32> {
        let ids = self.encode(prompt);
        let params = BeamParams {
            num_beams,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
            num_return_sequences: 1,
            no_repeat_ngram_size: None,
            num_beam_groups: 1,
            diversity_penalty: 0.0,
        };
        let options = self.options(max_new_tokens);
        let mut best = block_on(beam_search(
            &self.model,
            &ids,
            &options,
            &params,
            &mut |_| {},
        ))
        .unwrap_or_else(|e| panic!("beam search natively: {e}"));
        best.remove(0).ids
    }

    /// `gpt2 generate --strategy contrastive --amateur DIR`'s new ids (the
    /// engine's defaults: α 0.1, λ 1), and each step's chosen token with
    /// the expert's own favourite.
    pub fn contrastive(
        &self,
        amateur: &Native,
        prompt: &str,
        max_new_tokens: usize,
    ) -> (Vec<u32>, Vec<(u32, u32)>) {
        let ids = self.encode(prompt);
        let options = self.options(max_new_tokens);
        let mut steps = Vec::new();
        let mut on_step = |step| {
            if let Step::Contrastive { chosen, candidates } = step {
                let top = candidates
                    .iter()
                    .max_by(|a, b| a.expert_logprob.total_cmp(&b.expert_logprob))
                    .map_or(chosen, |c| c.id);
                steps.push((chosen, top));
            }
        };
        let out = block_on(contrastive(
            &self.model,
            &amateur.model,
            &ids,
            &options,
            &ContrastiveParams::default(),
            &mut on_step,
        ))
        .unwrap_or_else(|e| panic!("contrastive decoding natively: {e}"));
        (out.ids, steps)
    }

    /// `strategy` run by the engine's one runner, as the page runs it (no
    /// second model: prompt lookup drafts from the text), with every step.
    pub fn run(
        &self,
        prompt: &str,
        max_new_tokens: usize,
        strategy: &Strategy,
    ) -> (Outcome, Vec<Step>) {
        let ids = self.encode(prompt);
        let options = self.options(max_new_tokens);
        let mut steps = Vec::new();
        let mut on_step = |step| steps.push(step);
        let second: Option<&Model> = None;
        let outcome = block_on(run(
            strategy,
            &self.model,
            second,
            &ids,
            &options,
            &mut on_step,
        ))
        .unwrap_or_else(|e| panic!("{} natively: {e}", strategy.method().name()));
        (outcome, steps)
    }

    /// The total log-probability of `text` after `<|endoftext|>`, as the page's
    /// scoring panel defines it: every token of the text is scored.
    pub fn score_total(&self, text: &str) -> f64 {
        let eos = self.model.config().eos_token_id;
        let ids: Vec<u32> = std::iter::once(eos).chain(self.encode(text)).collect();
        let logprobs = block_on(score(&self.model, &ids))
            .unwrap_or_else(|e| panic!("scoring {text:?} natively: {e}"));
        logprobs.iter().map(|&l| l as f64).sum()
    }

    /// `gpt2 score --text TEXT`'s ids and per-token log-probabilities
    /// (`log p(ids[i+1] | ids[..=i])`; the first token has none).
    pub fn score_text(&self, text: &str) -> (Vec<u32>, Vec<f32>) {
        let ids = self.encode(text);
        let logprobs = block_on(score(&self.model, &ids))
            .unwrap_or_else(|e| panic!("scoring {text:?} natively: {e}"));
        (ids, logprobs)
    }

    /// `log p(ids[i+1] | ids[..=i])` for every token of `ids` after the first.
    pub fn score_ids(&self, ids: &[u32]) -> Vec<f32> {
        block_on(score(&self.model, ids))
            .unwrap_or_else(|e| panic!("scoring {ids:?} natively: {e}"))
    }

    /// The `top` most likely tokens after `ids`, most likely first.
    pub fn next_tokens(&self, ids: &[u32], top: usize) -> Vec<Candidate> {
        block_on(next_token_logprobs(&self.model, ids, top))
            .unwrap_or_else(|e| panic!("the next token after {ids:?} natively: {e}"))
    }

    /// The logit lens of the position after `ids`: every layer's top `top`.
    pub fn logit_lens(&self, ids: &[u32], top: usize) -> Vec<LensLayer> {
        block_on(logit_lens(&self.model, ids, top))
            .unwrap_or_else(|e| panic!("the logit lens after {ids:?} natively: {e}"))
    }

    /// What `target/release/gpt2 score --text TEXT --json` prints as
    /// `token_logprobs`, when that binary is built.
    pub fn score_by_the_command_line(&self, text: &str) -> Option<Vec<f32>> {
        let json = self.command_line(&["score", "--text", text, "--json"])?;
        let logprobs = json["token_logprobs"]
            .as_array()
            .unwrap_or_else(|| panic!("no token_logprobs in gpt2 score's output: {json}"));
        Some(
            logprobs
                .iter()
                .map(|v| v.as_f64().expect("a log-probability") as f32)
                .collect(),
        )
    }

    /// What `target/release/gpt2 generate --strategy greedy --json` prints as
    /// ids, when that binary is built.
    pub fn greedy_by_the_command_line(
        &self,
        prompt: &str,
        max_new_tokens: usize,
    ) -> Option<Vec<u32>> {
        self.greedy_ids_by_the_command_line(prompt, max_new_tokens, &[])
    }

    /// What `target/release/gpt2 generate --strategy greedy --force F --json`
    /// prints as ids (`F` as `force=` writes it), when that binary is built.
    pub fn greedy_forced_by_the_command_line(
        &self,
        prompt: &str,
        max_new_tokens: usize,
        force: &str,
    ) -> Option<Vec<u32>> {
        self.greedy_ids_by_the_command_line(prompt, max_new_tokens, &["--force", force])
    }

    /// `gpt2 generate --strategy greedy --json` with `extra` flags: its ids.
    fn greedy_ids_by_the_command_line(
        &self,
        prompt: &str,
        max_new_tokens: usize,
        extra: &[&str],
    ) -> Option<Vec<u32>> {
        let max = max_new_tokens.to_string();
        let mut args = vec![
            "generate",
            "--prompt",
            prompt,
            "--strategy",
            "greedy",
            "--json",
            "--max-new-tokens",
            &max,
        ];
        args.extend_from_slice(extra);
        self.command_line(&args)
            .map(|json| first_sequence_ids(&json))
    }

    /// `target/release/gpt2 COMMAND --model DIR ARGS...`'s JSON output, when
    /// that binary is built.
    fn command_line(&self, args: &[&str]) -> Option<Value> {
        let binary = crate::repo_root().join("target/release/gpt2");
        if !binary.is_file() {
            return None;
        }
        let output = Command::new(&binary)
            .arg(args[0])
            .arg("--model")
            .arg(&self.dir)
            .args(&args[1..])
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", binary.display()));
        assert!(
            output.status.success(),
            "{} {} failed: {}",
            binary.display(),
            args[0],
            String::from_utf8_lossy(&output.stderr)
        );
        Some(
            serde_json::from_slice(&output.stdout)
                .unwrap_or_else(|e| panic!("gpt2 {} --json printed no JSON ({e})", args[0])),
        )
    }
}

/// The ids of the first sequence of `gpt2 generate --json`'s output.
pub fn first_sequence_ids(json: &Value) -> Vec<u32> {
    json["sequences"][0]["ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no sequences[0].ids in gpt2's output: {json}"))
        .iter()
        .map(|v| v.as_u64().expect("an id") as u32)
        .collect()
}
