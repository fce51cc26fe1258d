//! The sampling settings and their checks.

use super::Stage;
use crate::{Error, Result};

/// How to turn a step's logits into the distribution a token is drawn from.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature; 0 means greedy (argmax). Default 1.
    pub temperature: f32,
    /// Keep the `k` most likely tokens (ties with the k-th kept).
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose mass reaches `p`.
    pub top_p: Option<f32>,
    /// Keep tokens with probability at least `min_p` times the largest.
    pub min_p: Option<f32>,
    /// CTRL's penalty θ on every token already in the context.
    pub repetition_penalty: Option<f32>,
    /// Ban tokens that would repeat an n-gram of this size.
    pub no_repeat_ngram_size: Option<usize>,
    /// Locally typical sampling's mass.
    pub typical_p: Option<f32>,
    /// ε-sampling's probability floor.
    pub epsilon_cutoff: Option<f32>,
    /// η-sampling's ε.
    pub eta_cutoff: Option<f32>,
    /// Top-H's share of the entropy.
    pub top_h: Option<f32>,
    /// Top-nσ's n.
    pub top_n_sigma: Option<f32>,
    /// Exclude Top Choices.
    pub xtc: Option<Xtc>,
    /// Don't Repeat Yourself.
    pub dry: Option<Dry>,
    /// Mirostat 2.0.
    pub mirostat: Option<Mirostat>,
    /// OpenAI's presence penalty.
    pub presence_penalty: Option<f32>,
    /// OpenAI's frequency penalty.
    pub frequency_penalty: Option<f32>,
    /// Classifier-free guidance (the unconditional logits come with each step).
    pub guidance: Option<Guidance>,
    /// The order the stages run in ([`Stage::DEFAULT_ORDER`] unless changed).
    pub order: Vec<Stage>,
}

/// XTC's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Xtc {
    /// Tokens at least this likely are the "top choices".
    pub threshold: f32,
    /// The chance that a step excludes them.
    pub probability: f32,
}

/// DRY's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Dry {
    pub multiplier: f32,
    pub base: f32,
    /// Repeats shorter than this go unpenalised.
    pub allowed_length: usize,
    /// How many of the last tokens are searched; 0: the whole context.
    pub penalty_last_n: usize,
    /// Token ids that end a repeated sequence.
    pub breakers: Vec<u32>,
}

/// Classifier-free guidance's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Guidance {
    /// γ: 1 is no guidance, larger pushes away from the negative prompt.
    pub scale: f32,
    /// The unconditional context's start; empty: the prompt's last token
    /// (as `transformers` does without `negative_prompt_ids`).
    pub negative_prompt: Vec<u32>,
}

/// Mirostat 2.0's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mirostat {
    /// Target surprise τ, in bits.
    pub tau: f32,
    /// Learning rate η.
    pub eta: f32,
}

impl Mirostat {
    /// llama.cpp's default learning rate.
    pub const DEFAULT_ETA: f32 = 0.1;
}

impl Xtc {
    /// llama.cpp's and text-generation-webui's default threshold.
    pub const DEFAULT_THRESHOLD: f32 = 0.1;
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_k: None,
            top_p: None,
            min_p: None,
            repetition_penalty: None,
            no_repeat_ngram_size: None,
            typical_p: None,
            epsilon_cutoff: None,
            eta_cutoff: None,
            top_h: None,
            top_n_sigma: None,
            xtc: None,
            dry: None,
            mirostat: None,
            presence_penalty: None,
            frequency_penalty: None,
            guidance: None,
            order: Stage::DEFAULT_ORDER.to_vec(),
        }
    }
}

/// An error unless `ok`; the message names the flag, the range and the value.
fn check(ok: bool, flag: &str, range: &str, value: impl std::fmt::Display) -> Result<()> {
    match ok {
        true => Ok(()),
        false => Err(Error::input(format!("{flag} must be {range}, got {value}"))),
    }
}

/// Checks an optional f32 against a range.
fn check_f32(v: Option<f32>, flag: &str, range: &str, ok: impl Fn(f32) -> bool) -> Result<()> {
    v.map_or(Ok(()), |v| check(v.is_finite() && ok(v), flag, range, v))
}

impl SamplingParams {
    /// Checks every option's range and the order; the messages name the flags.
    pub fn validate(&self) -> Result<()> {
        let t = self.temperature;
        let range = "finite and ≥ 0 (0 means greedy)";
        check(t.is_finite() && t >= 0.0, "--temperature", range, t)?;
        if let Some(k) = self.top_k {
            check(k > 0, "--top-k", "at least 1", k)?;
        }
        check_f32(self.top_p, "--top-p", "in (0, 1]", |p| p > 0.0 && p <= 1.0)?;
        check_f32(self.min_p, "--min-p", "in [0, 1]", |p| {
            (0.0..=1.0).contains(&p)
        })?;
        let theta = "finite and > 0 (1 means none)";
        check_f32(
            self.repetition_penalty,
            "--repetition-penalty",
            theta,
            |v| v > 0.0,
        )?;
        if let Some(n) = self.no_repeat_ngram_size {
            check(n > 0, "--no-repeat-ngram-size", "at least 1", n)?;
        }
        let unit = |p: f32| p > 0.0 && p <= 1.0;
        check_f32(self.typical_p, "--typical-p", "in (0, 1]", unit)?;
        let floor = |e: f32| (0.0..1.0).contains(&e);
        check_f32(self.epsilon_cutoff, "--epsilon-cutoff", "in [0, 1)", floor)?;
        check_f32(self.eta_cutoff, "--eta-cutoff", "in [0, 1)", floor)?;
        check_f32(self.top_h, "--top-h", "in (0, 1]", unit)?;
        check_f32(self.top_n_sigma, "--top-n-sigma", "> 0", |n| n > 0.0)?;
        if let Some(x) = self.xtc {
            let in01 = |p: f32| (0.0..=1.0).contains(&p);
            check_f32(Some(x.threshold), "--xtc-threshold", "in [0, 1]", in01)?;
            check_f32(Some(x.probability), "--xtc-probability", "in [0, 1]", in01)?;
        }
        if let Some(d) = &self.dry {
            let m = "finite and ≥ 0";
            check_f32(Some(d.multiplier), "--dry-multiplier", m, |v| v >= 0.0)?;
            check_f32(Some(d.base), "--dry-base", "finite and ≥ 1", |v| v >= 1.0)?;
            check(
                d.allowed_length > 0,
                "--dry-allowed-length",
                "at least 1",
                0,
            )?;
        }
        if let Some(m) = self.mirostat {
            check_f32(Some(m.tau), "--mirostat-tau", "> 0", |v| v > 0.0)?;
            check_f32(Some(m.eta), "--mirostat-eta", "> 0", |v| v > 0.0)?;
        }
        let openai = |v: f32| (-2.0..=2.0).contains(&v);
        check_f32(
            self.presence_penalty,
            "--presence-penalty",
            "in [-2, 2]",
            openai,
        )?;
        check_f32(
            self.frequency_penalty,
            "--frequency-penalty",
            "in [-2, 2]",
            openai,
        )?;
        let scale = self.guidance.as_ref().map(|g| g.scale);
        check_f32(scale, "--guidance-scale", "finite", |_| true)?;
        self.check_order()
    }

    /// Every stage set is in the order, and mirostat, the draw, comes last.
    fn check_order(&self) -> Result<()> {
        for stage in Stage::DEFAULT_ORDER {
            if self.is_set(stage) && !self.order.contains(&stage) {
                return Err(Error::input(format!(
                    "{} is set but not in --samplers ({}): add it to the list",
                    stage.name(),
                    self.order_names()
                )));
            }
        }
        let last = self.order.iter().rposition(|&s| self.is_set(s));
        let mirostat = self.order.iter().position(|&s| s == Stage::Mirostat);
        if let (Some(m), Some(l)) = (mirostat, last) {
            if self.mirostat.is_some() && m != l {
                return Err(Error::input(
                    "mirostat draws the token, so it must come last in --samplers",
                ));
            }
        }
        Ok(())
    }

    /// The order as `--samplers` writes it.
    pub fn order_names(&self) -> String {
        self.order
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether `stage` does something with these settings.
    pub fn is_set(&self, stage: Stage) -> bool {
        match stage {
            // Scale 1 is no guidance: transformers leaves the processor out.
            Stage::Guidance => self.guidance.as_ref().is_some_and(|g| g.scale != 1.0),
            Stage::RepetitionPenalty => self.repetition_penalty.is_some(),
            Stage::PresenceFrequency => {
                self.presence_penalty.is_some() || self.frequency_penalty.is_some()
            }
            Stage::Dry => self.dry.is_some(),
            Stage::NoRepeatNgram => self.no_repeat_ngram_size.is_some(),
            Stage::Temperature => self.temperature != 1.0 && !self.is_greedy(),
            Stage::TopH => self.top_h.is_some(),
            Stage::TopNSigma => self.top_n_sigma.is_some(),
            Stage::TopK => self.top_k.is_some(),
            Stage::TopP => self.top_p.is_some_and(|p| p < 1.0),
            Stage::MinP => self.min_p.is_some(),
            Stage::Typical => self.typical_p.is_some_and(|p| p < 1.0),
            Stage::Epsilon => self.epsilon_cutoff.is_some_and(|e| e > 0.0),
            Stage::Eta => self.eta_cutoff.is_some_and(|e| e > 0.0),
            Stage::Xtc => self.xtc.is_some(),
            Stage::Mirostat => self.mirostat.is_some(),
        }
    }

    /// Temperature 0: the argmax of the processed logits, no randomness.
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }

    /// Whether a step depends on more than its logits and context: XTC's coin
    /// and mirostat's μ change from draw to draw, guidance needs a second
    /// pass. Speculative decoding cannot verify through them.
    pub fn is_stateful(&self) -> bool {
        self.xtc.is_some() || self.mirostat.is_some() || self.guidance.is_some()
    }
}
