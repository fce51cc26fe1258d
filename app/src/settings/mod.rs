//! The page's settings — model, strategy, sliders, prompt — and their form in
//! the URL's query string, so that a view can be shared by its address. The
//! sampler chain's own settings are in [`sampling`], the other methods' in
//! [`methods`].

use engine::decoding::{
    BeamParams, ContrastiveParams, DraftSource, EarlyStopping, SamplingParams, SpeculativeParams,
    Strategy as Decoding,
};
use engine::loading::{is_bundled, BUNDLED_DRAFT, BUNDLED_TARGET};
use engine::tokenizer::Tokenizer;

pub mod command;
mod device;
pub mod forced;
pub mod lanes;
#[cfg(test)]
mod method_tests;
pub mod methods;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod properties;
pub mod sampling;
#[cfg(test)]
mod tests;

pub use device::{server_address, token_from_fragment, DeviceChoice, DEFAULT_SERVER};
pub use methods::MethodSettings;
pub use sampling::ChainSettings;

/// The decoding strategies the page offers, as the engine names them.
pub use engine::decoding::Method as Strategy;

/// Everything the user can set; the URL's query string holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Hub repository of the model (the expert, the target).
    pub model: String,
    /// Hub repository of the amateur (contrastive) or draft (speculative)
    /// model; `prompt-lookup` drafts from the context instead (as `--draft`).
    pub second: String,
    /// Base address of the Hub (or of a mirror with the same layout).
    pub hub: String,
    pub device: DeviceChoice,
    /// The address of `gpt2 serve` (`ws://HOST:PORT`, as its `ready` line
    /// prints it), used when `device` is [`DeviceChoice::Server`]. Its token
    /// is never a setting: the page takes it from the URL's fragment.
    pub server: String,
    pub strategy: Strategy,
    pub prompt: String,
    /// Softmax temperature; 0 means greedy.
    pub temperature: f32,
    /// 0: no top-k cut (contrastive search: its k, 0 for the engine's default).
    pub top_k: usize,
    /// 1: no top-p cut.
    pub top_p: f32,
    /// 0: no min-p cut.
    pub min_p: f32,
    pub beams: usize,
    pub max_new_tokens: usize,
    pub seed: u64,
    /// Contrastive plausibility threshold α.
    pub alpha: f32,
    /// Contrastive amateur weight λ.
    pub lambda: f32,
    /// Speculative draft length γ.
    pub gamma: usize,
    /// Run the fixed greedy benchmark once the model is loaded (`?bench=1`).
    pub bench: bool,
    /// The rest of the sampler chain: its other stages and their order.
    pub chain: ChainSettings,
    /// Contrastive search, DoLa, diverse beam search and prompt lookup.
    pub methods: MethodSettings,
    /// The branch: `(step, id)` choices forced on greedy or sampling
    /// ([`forced`]); empty for the run as the strategy makes it.
    pub forced: Vec<(usize, u32)>,
    /// The compare lanes after lane 0 (these settings), each its own
    /// settings ([`lanes`]); empty for one run.
    pub lanes: Vec<Settings>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: "gpt2".into(),
            second: "distilgpt2".into(),
            hub: "https://huggingface.co".into(),
            device: DeviceChoice::WebGpu,
            server: DEFAULT_SERVER.into(),
            strategy: Strategy::Greedy,
            prompt: "See you".into(),
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            beams: 4,
            max_new_tokens: 24,
            seed: 0,
            alpha: 0.1,
            lambda: 1.0,
            gamma: 4,
            bench: false,
            chain: ChainSettings::default(),
            methods: MethodSettings::default(),
            forced: Vec::new(),
            lanes: Vec::new(),
        }
    }
}

/// The models the page offers in its picker (any Hub repo works through
/// `?model=`): the bundled target, served with the page, then the Hub's.
pub const MODELS: [&str; 4] = [BUNDLED_TARGET, "distilgpt2", "gpt2", "gpt2-medium"];

/// Whether the page starts on the bundled target while `settings`' model
/// downloads: one of the picker's Hub models, fetched into this browser (a
/// link to any other repository, a folder or a server loads just that).
pub fn starts_on_bundled(settings: &Settings) -> bool {
    settings.device != DeviceChoice::Server
        && MODELS.contains(&settings.model.as_str())
        && !is_bundled(&settings.model)
}

/// Most new tokens a run may ask for.
pub const MAX_NEW_TOKENS: usize = 512;

impl Settings {
    /// The second model (amateur or draft) beside the main model `main`: the
    /// settings' own, except that the bundled target's default partner is
    /// the bundled draft.
    pub fn second_for(&self, main: &str) -> String {
        if is_bundled(main) && self.second == Settings::default().second {
            BUNDLED_DRAFT.to_string()
        } else {
            self.second.clone()
        }
    }

    /// Settings from a query string (`?model=gpt2&top_p=0.9`, with or without
    /// the `?`), defaults for what is absent, and a message for each value
    /// that could not be used.
    pub fn from_query(query: &str) -> (Settings, Vec<String>) {
        let mut s = Settings::default();
        let mut problems = Vec::new();
        for (key, value) in parse_query(query) {
            if let Err(why) = s.set(&key, &value) {
                problems.push(format!("?{key}={value}: {why}; the default is used"));
            }
        }
        (s, problems)
    }

    /// Sets one field from its query-string form.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        if let Some(lane) = lanes::lane_of_key(key) {
            return self.set_lane(lane, value);
        }
        match key {
            "model" if !value.trim().is_empty() => self.model = value.trim().into(),
            "second" if !value.trim().is_empty() => self.second = value.trim().into(),
            // Trailing slashes and spaces in any order go (`/ ` alone is empty),
            // so that the address written back reads the same.
            "hub" if !hub_base(value).is_empty() => self.hub = hub_base(value).into(),
            "model" | "second" | "hub" => return Err("is empty".into()),
            "device" => {
                self.device = DeviceChoice::parse(value)
                    .ok_or_else(|| "must be webgpu, cpu or server".to_string())?
            }
            "server" => self.server = server_address(value)?,
            "strategy" => {
                self.strategy = Strategy::parse(value).ok_or_else(|| {
                    let names: Vec<&str> = Strategy::ALL.iter().map(|m| m.name()).collect();
                    format!("must be one of {}", names.join(", "))
                })?
            }
            "prompt" => self.prompt = value.into(),
            "temperature" => self.temperature = within(num(value)?, 0.0, 5.0)?,
            "top_k" => self.top_k = within(num(value)?, 0, 50_257)?,
            "top_p" => {
                let p: f32 = num(value)?;
                if !(p > 0.0 && p <= 1.0) {
                    return Err("must be in (0, 1]".into());
                }
                self.top_p = p;
            }
            "min_p" => self.min_p = within(num(value)?, 0.0, 1.0)?,
            "beams" => self.beams = within(num(value)?, 1, 16)?,
            "max_new_tokens" => self.max_new_tokens = within(num(value)?, 1, MAX_NEW_TOKENS)?,
            "seed" => self.seed = num(value)?,
            "alpha" => self.alpha = within(num(value)?, 0.0, 1.0)?,
            "lambda" => self.lambda = within(num(value)?, 0.0, 10.0)?,
            "gamma" => self.gamma = within(num(value)?, 1, 16)?,
            "force" => self.forced = forced::parse_forced(value)?,
            "bench" => {
                self.bench = match value.trim() {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err("must be 1 or 0".into()),
                }
            }
            _ if self.chain.set(key, value)? => {}
            _ if self.methods.set(key, value)? => {}
            _ => return Err("unknown setting".into()),
        }
        Ok(())
    }

    /// The query string (with its `?`) holding every setting that differs
    /// from the default, the model always.
    pub fn to_query(&self) -> String {
        let d = Settings::default();
        let mut pairs: Vec<(&str, String)> = vec![("model", self.model.clone())];
        let mut add = |key, differs: bool, value: String| {
            if differs {
                pairs.push((key, value));
            }
        };
        add("second", self.second != d.second, self.second.clone());
        add("hub", self.hub != d.hub, self.hub.clone());
        add("device", self.device != d.device, self.device.name().into());
        add("server", self.server != d.server, self.server.clone());
        add(
            "strategy",
            self.strategy != d.strategy,
            self.strategy.name().into(),
        );
        add("prompt", self.prompt != d.prompt, self.prompt.clone());
        add(
            "temperature",
            self.temperature != d.temperature,
            self.temperature.to_string(),
        );
        add("top_k", self.top_k != d.top_k, self.top_k.to_string());
        add("top_p", self.top_p != d.top_p, self.top_p.to_string());
        add("min_p", self.min_p != d.min_p, self.min_p.to_string());
        add("beams", self.beams != d.beams, self.beams.to_string());
        add(
            "max_new_tokens",
            self.max_new_tokens != d.max_new_tokens,
            self.max_new_tokens.to_string(),
        );
        add("seed", self.seed != d.seed, self.seed.to_string());
        add("alpha", self.alpha != d.alpha, self.alpha.to_string());
        add("lambda", self.lambda != d.lambda, self.lambda.to_string());
        add("gamma", self.gamma != d.gamma, self.gamma.to_string());
        add(
            "force",
            self.forced != d.forced,
            forced::format_forced(&self.forced),
        );
        pairs.extend(self.chain.query_pairs());
        pairs.extend(self.methods.query_pairs());
        if self.bench != d.bench {
            pairs.push(("bench", "1".into()));
        }
        let lane_keys: Vec<String> = (1..self.lane_count()).map(lanes::lane_key).collect();
        for (key, lane) in lane_keys.iter().zip(&self.lanes) {
            pairs.push((key.as_str(), lane.lane_query()));
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("?{body}")
    }

    /// The processors of sampling (and of speculative verification): a slider
    /// at its "off" end turns its stage off. The tokenizer turns DRY's
    /// breakers and the negative prompt into ids (without one, both are
    /// empty); speculative decoding gets the chain without XTC, mirostat and
    /// guidance, which it cannot verify through.
    pub fn sampling(&self, tokenizer: Option<&Tokenizer>) -> engine::Result<SamplingParams> {
        let mut params = SamplingParams {
            temperature: self.temperature,
            top_k: (self.top_k > 0).then_some(self.top_k),
            top_p: (self.top_p < 1.0).then_some(self.top_p),
            min_p: (self.min_p > 0.0).then_some(self.min_p),
            ..SamplingParams::default()
        };
        let stateless = self.strategy == Strategy::Speculative;
        self.chain.apply(&mut params, tokenizer, stateless)?;
        Ok(params)
    }

    /// Beam search as `transformers` runs it by default, with this many beams
    /// in this many groups (diverse beam search above one).
    pub fn beam(&self) -> BeamParams {
        BeamParams {
            num_beams: self.beams,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
            num_return_sequences: 1,
            no_repeat_ngram_size: None,
            num_beam_groups: self.methods.num_beam_groups,
            diversity_penalty: self.methods.diversity_penalty,
        }
    }

    /// The engine's strategy for these settings (see [`Self::sampling`] for
    /// the tokenizer). Speculative decoding verifies by sampling when the
    /// temperature is above 0 (the engine's rule).
    pub fn decoding(&self, tokenizer: Option<&Tokenizer>) -> engine::Result<Decoding> {
        Ok(match self.strategy {
            Strategy::Greedy => Decoding::Greedy,
            Strategy::Beam => Decoding::Beam(self.beam()),
            Strategy::Sample => Decoding::Sample {
                sampling: self.sampling(tokenizer)?,
                seed: self.seed,
                num_return_sequences: 1,
            },
            Strategy::Contrastive => Decoding::Contrastive(self.contrastive()),
            Strategy::Speculative => Decoding::Speculative(SpeculativeParams {
                gamma: self.gamma,
                draft: match self.second.as_str() {
                    DraftSource::PROMPT_LOOKUP => DraftSource::PromptLookup {
                        max_matching_ngram_size: self.methods.max_matching_ngram_size,
                    },
                    _ => DraftSource::Model,
                },
                sampling: self.sampling(tokenizer)?,
                seed: self.seed,
                num_return_sequences: 1,
            }),
            Strategy::ContrastiveSearch => {
                Decoding::ContrastiveSearch(self.methods.contrastive_search(self.top_k))
            }
            Strategy::Dola => Decoding::Dola(self.methods.dola(self.chain.repetition_penalty)),
        })
    }

    /// Why these settings cannot run, in the engine's words (its checks of
    /// every parameter and of the rules between them), or `None`. With the
    /// loaded model's `n_layer`, DoLa's layers are checked against it too
    /// (without, when a run starts).
    pub fn problem(&self, n_layer: Option<usize>) -> Option<String> {
        let check = || -> engine::Result<()> {
            let decoding = self.decoding(None)?;
            decoding.validate()?;
            if !self.forced.is_empty() && decoding.sampling().is_none() {
                return Err(engine::Error::input(format!(
                    "a branch (force={}) applies to greedy and sampling: pick one of them, \
                     or go back to the run without forced choices",
                    forced::format_forced(&self.forced)
                )));
            }
            if let (Decoding::Dola(params), Some(n_layer)) = (&decoding, n_layer) {
                params.layers.candidates(n_layer)?;
            }
            Ok(())
        };
        check().err().map(|e| e.to_string())
    }

    /// Contrastive decoding's α and λ.
    pub fn contrastive(&self) -> ContrastiveParams {
        ContrastiveParams {
            alpha: self.alpha,
            lambda: self.lambda,
            amateur_temperature: 1.0,
        }
    }
}

/// A number from its query-string form.
fn num<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.trim().parse().map_err(|_| "not a number".to_string())
}

/// `v` if it is in [lo, hi] (NaN is not).
fn within<T: PartialOrd + std::fmt::Display>(v: T, lo: T, hi: T) -> Result<T, String> {
    if v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(format!("must be between {lo} and {hi}"))
    }
}

/// The Hub's base address as written, without surrounding spaces or trailing `/`.
fn hub_base(value: &str) -> &str {
    value
        .trim_start()
        .trim_end_matches(|c: char| c == '/' || c.is_whitespace())
}

/// `key=value` pairs of a query string, percent-decoded (`+` is a space;
/// an invalid escape is kept as it is).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    let query = query.trim_start_matches('?');
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}
