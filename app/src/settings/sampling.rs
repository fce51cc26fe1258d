//! The sampler chain's settings beyond temperature, top-k, top-p and min-p:
//! every other stage of [`engine::decoding::processors`], their order, and
//! their form in the URL (keys as the command line's flags, with
//! underscores). Each stage is off at its default; a slider at its "off" end
//! turns it off.

use engine::decoding::{Dry, Guidance, Mirostat, SamplingParams, Stage, Xtc};
use engine::tokenizer::Tokenizer;

use super::{num, within};

/// The chain's settings as the page holds them (plain values, an "off" value
/// for each stage).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSettings {
    /// Locally typical sampling's mass; 1: off.
    pub typical_p: f32,
    /// ε-sampling's floor; 0: off.
    pub epsilon_cutoff: f32,
    /// η-sampling's ε; 0: off.
    pub eta_cutoff: f32,
    /// Top-H's share of the entropy; 1: off.
    pub top_h: f32,
    /// Top-nσ's n; 0: off.
    pub top_n_sigma: f32,
    /// CTRL's repetition penalty θ; 1: off.
    pub repetition_penalty: f32,
    /// Ban repeated n-grams of this size; 0: off.
    pub no_repeat_ngram_size: usize,
    /// OpenAI's presence penalty; 0: off.
    pub presence_penalty: f32,
    /// OpenAI's frequency penalty; 0: off.
    pub frequency_penalty: f32,
    /// DRY's multiplier; 0: off (and DRY's other settings unused).
    pub dry_multiplier: f32,
    pub dry_base: f32,
    pub dry_allowed_length: usize,
    /// 0: the whole context.
    pub dry_penalty_last_n: usize,
    /// Strings that end a repeated sequence (mapped to token ids by
    /// [`Dry::breaker_ids`], as the command line does).
    pub dry_sequence_breakers: Vec<String>,
    /// XTC's chance per step; 0: off.
    pub xtc_probability: f32,
    pub xtc_threshold: f32,
    /// Mirostat 2.0's target surprise τ (bits); 0: off.
    pub mirostat_tau: f32,
    pub mirostat_eta: f32,
    /// Classifier-free guidance's scale; 1: off.
    pub guidance_scale: f32,
    /// The text guidance steers away from; empty: the prompt's last token.
    pub negative_prompt: String,
    /// The stages' order: always every stage, once.
    pub order: Vec<Stage>,
}

impl Default for ChainSettings {
    fn default() -> Self {
        ChainSettings {
            typical_p: 1.0,
            epsilon_cutoff: 0.0,
            eta_cutoff: 0.0,
            top_h: 1.0,
            top_n_sigma: 0.0,
            repetition_penalty: 1.0,
            no_repeat_ngram_size: 0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            dry_multiplier: 0.0,
            dry_base: Dry::DEFAULT_BASE,
            dry_allowed_length: Dry::DEFAULT_ALLOWED_LENGTH,
            dry_penalty_last_n: 0,
            dry_sequence_breakers: Dry::DEFAULT_BREAKERS.map(String::from).to_vec(),
            xtc_probability: 0.0,
            xtc_threshold: Xtc::DEFAULT_THRESHOLD,
            mirostat_tau: 0.0,
            mirostat_eta: Mirostat::DEFAULT_ETA,
            guidance_scale: 1.0,
            negative_prompt: String::new(),
            order: Stage::DEFAULT_ORDER.to_vec(),
        }
    }
}

/// A value in (0, 1].
fn unit(v: f32) -> Result<f32, String> {
    match v > 0.0 && v <= 1.0 {
        true => Ok(v),
        false => Err("must be in (0, 1]".into()),
    }
}

/// A value in [0, 1).
fn floor(v: f32) -> Result<f32, String> {
    match (0.0..1.0).contains(&v) {
        true => Ok(v),
        false => Err("must be in [0, 1)".into()),
    }
}

impl ChainSettings {
    /// Sets one field from its query-string form; `Ok(false)` when `key` is
    /// not one of the chain's.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        match key {
            "typical_p" => self.typical_p = unit(num(value)?)?,
            "epsilon_cutoff" => self.epsilon_cutoff = floor(num(value)?)?,
            "eta_cutoff" => self.eta_cutoff = floor(num(value)?)?,
            "top_h" => self.top_h = unit(num(value)?)?,
            "top_n_sigma" => self.top_n_sigma = within(num(value)?, 0.0, 10.0)?,
            "repetition_penalty" => {
                let theta: f32 = num(value)?;
                if !(theta > 0.0 && theta <= 10.0) {
                    return Err("must be in (0, 10]".into());
                }
                self.repetition_penalty = theta;
            }
            "no_repeat_ngram_size" => self.no_repeat_ngram_size = within(num(value)?, 0, 32)?,
            "presence_penalty" => self.presence_penalty = within(num(value)?, -2.0, 2.0)?,
            "frequency_penalty" => self.frequency_penalty = within(num(value)?, -2.0, 2.0)?,
            "dry_multiplier" => self.dry_multiplier = within(num(value)?, 0.0, 10.0)?,
            "dry_base" => self.dry_base = within(num(value)?, 1.0, 10.0)?,
            "dry_allowed_length" => self.dry_allowed_length = within(num(value)?, 1, 64)?,
            "dry_penalty_last_n" => self.dry_penalty_last_n = within(num(value)?, 0, 4096)?,
            "dry_sequence_breakers" => {
                self.dry_sequence_breakers = serde_json::from_str(value).map_err(|_| {
                    r#"must be a JSON list of strings, such as ["\n", ":"]"#.to_string()
                })?
            }
            "xtc_probability" => self.xtc_probability = within(num(value)?, 0.0, 1.0)?,
            "xtc_threshold" => self.xtc_threshold = within(num(value)?, 0.0, 1.0)?,
            "mirostat_tau" => self.mirostat_tau = within(num(value)?, 0.0, 20.0)?,
            "mirostat_eta" => self.mirostat_eta = unit(num(value)?)?,
            "guidance_scale" => self.guidance_scale = within(num(value)?, 0.0, 10.0)?,
            "negative_prompt" => self.negative_prompt = value.into(),
            "samplers" => self.order = parse_order(value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The query-string pairs of the settings that differ from the default.
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let d = ChainSettings::default();
        let mut pairs = Vec::new();
        let mut add = |key, differs: bool, value: String| {
            if differs {
                pairs.push((key, value));
            }
        };
        let floats = [
            ("typical_p", self.typical_p, d.typical_p),
            ("epsilon_cutoff", self.epsilon_cutoff, d.epsilon_cutoff),
            ("eta_cutoff", self.eta_cutoff, d.eta_cutoff),
            ("top_h", self.top_h, d.top_h),
            ("top_n_sigma", self.top_n_sigma, d.top_n_sigma),
            (
                "repetition_penalty",
                self.repetition_penalty,
                d.repetition_penalty,
            ),
            (
                "presence_penalty",
                self.presence_penalty,
                d.presence_penalty,
            ),
            (
                "frequency_penalty",
                self.frequency_penalty,
                d.frequency_penalty,
            ),
            ("dry_multiplier", self.dry_multiplier, d.dry_multiplier),
            ("dry_base", self.dry_base, d.dry_base),
            ("xtc_probability", self.xtc_probability, d.xtc_probability),
            ("xtc_threshold", self.xtc_threshold, d.xtc_threshold),
            ("mirostat_tau", self.mirostat_tau, d.mirostat_tau),
            ("mirostat_eta", self.mirostat_eta, d.mirostat_eta),
            ("guidance_scale", self.guidance_scale, d.guidance_scale),
        ];
        for (key, v, default) in floats {
            add(key, v != default, v.to_string());
        }
        let counts = [
            (
                "no_repeat_ngram_size",
                self.no_repeat_ngram_size,
                d.no_repeat_ngram_size,
            ),
            (
                "dry_allowed_length",
                self.dry_allowed_length,
                d.dry_allowed_length,
            ),
            (
                "dry_penalty_last_n",
                self.dry_penalty_last_n,
                d.dry_penalty_last_n,
            ),
        ];
        for (key, v, default) in counts {
            add(key, v != default, v.to_string());
        }
        let breakers = &self.dry_sequence_breakers;
        let json = serde_json::to_string(breakers).unwrap_or_default();
        add(
            "dry_sequence_breakers",
            *breakers != d.dry_sequence_breakers,
            json,
        );
        add(
            "negative_prompt",
            self.negative_prompt != d.negative_prompt,
            self.negative_prompt.clone(),
        );
        add("samplers", self.order != d.order, order_names(&self.order));
        pairs
    }

    /// Sets the chain's stages in `params` (a slider at its "off" end leaves
    /// its stage off). The tokenizer turns DRY's breakers and the negative
    /// prompt into ids; without one (no model loaded) both are empty.
    /// `stateless`: leave out XTC, mirostat and guidance (speculative
    /// decoding cannot verify through them).
    pub fn apply(
        &self,
        params: &mut SamplingParams,
        tokenizer: Option<&Tokenizer>,
        stateless: bool,
    ) -> engine::Result<()> {
        let on = |v: f32, off: f32| (v != off).then_some(v);
        params.typical_p = on(self.typical_p, 1.0);
        params.epsilon_cutoff = on(self.epsilon_cutoff, 0.0);
        params.eta_cutoff = on(self.eta_cutoff, 0.0);
        params.top_h = on(self.top_h, 1.0);
        params.top_n_sigma = on(self.top_n_sigma, 0.0);
        params.repetition_penalty = on(self.repetition_penalty, 1.0);
        params.no_repeat_ngram_size =
            (self.no_repeat_ngram_size > 0).then_some(self.no_repeat_ngram_size);
        params.presence_penalty = on(self.presence_penalty, 0.0);
        params.frequency_penalty = on(self.frequency_penalty, 0.0);
        params.dry = match on(self.dry_multiplier, 0.0) {
            Some(multiplier) => Some(Dry {
                multiplier,
                base: self.dry_base,
                allowed_length: self.dry_allowed_length,
                penalty_last_n: self.dry_penalty_last_n,
                breakers: match tokenizer {
                    Some(t) => Dry::breaker_ids(&self.dry_sequence_breakers, t)?,
                    None => Vec::new(),
                },
            }),
            None => None,
        };
        params.order = self.order.clone();
        if stateless {
            return Ok(());
        }
        params.xtc = on(self.xtc_probability, 0.0).map(|probability| Xtc {
            threshold: self.xtc_threshold,
            probability,
        });
        params.mirostat = on(self.mirostat_tau, 0.0).map(|tau| Mirostat {
            tau,
            eta: self.mirostat_eta,
        });
        params.guidance = match on(self.guidance_scale, 1.0) {
            Some(scale) => Some(Guidance {
                scale,
                negative_prompt: match (tokenizer, self.negative_prompt.is_empty()) {
                    (Some(t), false) => t.encode(&self.negative_prompt)?,
                    _ => Vec::new(),
                },
            }),
            None => None,
        };
        Ok(())
    }

    /// Moves `stage` one place earlier (`up`) or later in the order.
    pub fn move_stage(&mut self, stage: Stage, up: bool) {
        let Some(i) = self.order.iter().position(|&s| s == stage) else {
            return;
        };
        let j = match up {
            true => i.checked_sub(1),
            false => (i + 1 < self.order.len()).then_some(i + 1),
        };
        if let Some(j) = j {
            self.order.swap(i, j);
        }
    }
}

/// The order as `samplers=` writes it.
pub fn order_names(order: &[Stage]) -> String {
    order.iter().map(|s| s.name()).collect::<Vec<_>>().join(",")
}

/// A comma-separated order; the stages it leaves out follow in the default
/// order, so the page always holds every stage.
fn parse_order(list: &str) -> Result<Vec<Stage>, String> {
    let mut order = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let stage = Stage::parse(name)
            .ok_or_else(|| format!("{name:?} is not a sampler (they are {})", Stage::names()))?;
        if order.contains(&stage) {
            return Err(format!("lists {name} twice"));
        }
        order.push(stage);
    }
    for stage in Stage::DEFAULT_ORDER {
        if !order.contains(&stage) {
            order.push(stage);
        }
    }
    Ok(order)
}
