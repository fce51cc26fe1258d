//! The `gpt2 generate` command line that reproduces a run of the page
//! natively: the settings turned into the command line's flags (CLI.md),
//! every one that differs from the command line's default, and the words
//! quoted for a POSIX shell. The one place the page maps its settings to
//! flags.
//!
//! What it cannot say: the device (the command runs on the CPU, the
//! command line's default; every backend gives the same ids), and where a
//! folder opened from disk lies (the browser gives its name only).

use engine::decoding::{ContrastiveParams, Stage};

use super::{ChainSettings, Settings, Strategy};

/// The Hub the command line uses unless `HF_ENDPOINT` names another.
const HUB: &str = "https://huggingface.co";

impl Settings {
    /// The command's words after `gpt2` (unquoted), for the model named
    /// `model`: the settings' Hub repository, or a folder opened from disk.
    pub fn command_args(&self, model: &str) -> Vec<String> {
        let mut args: Vec<String> = ["generate", "--model", model, "--prompt", &self.prompt]
            .map(String::from)
            .to_vec();
        let mut flag = |name: &str, value: String| {
            args.push(format!("--{name}"));
            if !value.is_empty() {
                args.push(value);
            }
        };
        flag("strategy", self.strategy.name().into());
        // The page's default (24) is not the command line's (32): always said.
        flag("max-new-tokens", self.max_new_tokens.to_string());
        match self.strategy {
            Strategy::Greedy | Strategy::ContrastiveSearch | Strategy::Dola => {}
            Strategy::Beam if self.beams != 4 => flag("num-beams", self.beams.to_string()),
            Strategy::Beam => {}
            Strategy::Sample => self.sampling_flags(false, &mut flag),
            Strategy::Contrastive => {
                let d = ContrastiveParams::default();
                flag("amateur", self.second_for(model));
                if self.alpha != d.alpha {
                    flag("alpha", self.alpha.to_string());
                }
                if self.lambda != d.lambda {
                    flag("lambda", self.lambda.to_string());
                }
            }
            Strategy::Speculative => {
                flag("draft", self.second_for(model));
                if self.gamma != 4 {
                    flag("gamma", self.gamma.to_string());
                }
                // The page verifies by sampling above temperature 0, and
                // runs the chain's processors at 0 too: `--sample` says both.
                let mut sampled = Vec::new();
                self.sampling_flags(true, &mut |name, value| {
                    sampled.push((name.to_string(), value))
                });
                let greedy = self.temperature == 0.0 && sampled.len() == 1;
                if !greedy {
                    flag("sample", String::new());
                    for (name, value) in sampled {
                        flag(&name, value);
                    }
                }
            }
        }
        if !self.forced.is_empty() {
            flag("force", super::forced::format_forced(&self.forced));
        }
        args
    }

    /// The whole command, quoted for a shell: `gpt2 generate ...`, after
    /// `HF_ENDPOINT=...` when the page's Hub is another. `local`: the name
    /// of a folder the model was opened from instead.
    pub fn command_line(&self, local: Option<&str>) -> String {
        let model = local.unwrap_or(&self.model);
        let mut words = Vec::new();
        // The bundled models are on disk: no hub to name.
        if local.is_none() && self.hub != HUB && !engine::loading::is_bundled(model) {
            words.push(format!("HF_ENDPOINT={}", shell_quote(&self.hub)));
        }
        words.push("gpt2".into());
        words.extend(self.command_args(model).iter().map(|w| shell_quote(w)));
        words.join(" ")
    }

    /// The sampling flags: temperature (always for `speculative`, whose
    /// default without `--sample` is 0), top-k, top-p, min-p, the
    /// seed and the chain (without XTC, mirostat and guidance for
    /// speculative decoding, which the page leaves out too).
    fn sampling_flags(&self, speculative: bool, flag: &mut dyn FnMut(&str, String)) {
        if speculative || self.temperature != 1.0 {
            flag("temperature", self.temperature.to_string());
        }
        if self.top_k > 0 {
            flag("top-k", self.top_k.to_string());
        }
        if self.top_p < 1.0 {
            flag("top-p", self.top_p.to_string());
        }
        if self.min_p > 0.0 {
            flag("min-p", self.min_p.to_string());
        }
        chain_flags(&self.chain, speculative, flag);
        // At temperature 0 nothing is drawn: the seed does not matter.
        if self.seed != 0 && self.temperature > 0.0 {
            flag("seed", self.seed.to_string());
        }
    }
}

/// The chain's flags: each stage that is on, its secondary settings where
/// they differ from the command line's defaults (the page's are the same),
/// and the order when it is not the default.
fn chain_flags(c: &ChainSettings, speculative: bool, flag: &mut dyn FnMut(&str, String)) {
    let d = ChainSettings::default();
    let mut float = |name: &str, v: f32, off: f32| {
        if v != off {
            flag(name, v.to_string());
        }
    };
    float("typical-p", c.typical_p, 1.0);
    float("epsilon-cutoff", c.epsilon_cutoff, 0.0);
    float("eta-cutoff", c.eta_cutoff, 0.0);
    float("top-h", c.top_h, 1.0);
    float("top-n-sigma", c.top_n_sigma, 0.0);
    float("repetition-penalty", c.repetition_penalty, 1.0);
    float("presence-penalty", c.presence_penalty, 0.0);
    float("frequency-penalty", c.frequency_penalty, 0.0);
    if c.no_repeat_ngram_size > 0 {
        flag("no-repeat-ngram-size", c.no_repeat_ngram_size.to_string());
    }
    if c.dry_multiplier != 0.0 {
        flag("dry-multiplier", c.dry_multiplier.to_string());
        if c.dry_base != d.dry_base {
            flag("dry-base", c.dry_base.to_string());
        }
        if c.dry_allowed_length != d.dry_allowed_length {
            flag("dry-allowed-length", c.dry_allowed_length.to_string());
        }
        if c.dry_penalty_last_n != d.dry_penalty_last_n {
            flag("dry-penalty-last-n", c.dry_penalty_last_n.to_string());
        }
        if c.dry_sequence_breakers != d.dry_sequence_breakers {
            let json = serde_json::to_string(&c.dry_sequence_breakers).unwrap_or_default();
            flag("dry-sequence-breakers", json);
        }
    }
    if !speculative {
        if c.xtc_probability != 0.0 {
            flag("xtc-probability", c.xtc_probability.to_string());
            if c.xtc_threshold != d.xtc_threshold {
                flag("xtc-threshold", c.xtc_threshold.to_string());
            }
        }
        if c.mirostat_tau != 0.0 {
            flag("mirostat-tau", c.mirostat_tau.to_string());
            if c.mirostat_eta != d.mirostat_eta {
                flag("mirostat-eta", c.mirostat_eta.to_string());
            }
        }
        if c.guidance_scale != 1.0 {
            flag("guidance-scale", c.guidance_scale.to_string());
            // Empty: the command line's default too (the prompt's last token).
            if !c.negative_prompt.is_empty() {
                flag("negative-prompt", c.negative_prompt.clone());
            }
        }
    }
    if c.order != Stage::DEFAULT_ORDER {
        flag("samplers", super::sampling::order_names(&c.order));
    }
}

/// `word` as a POSIX shell reads it back: as it is when it holds only
/// characters no shell treats specially, else in single quotes (a `'` as
/// `'\''`).
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-.,/:=@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
