//! The command line's flags (see the README for the contract).

use clap::{Args, Parser, Subcommand, ValueEnum};
use engine::backend::Precision;
use engine::decoding::DraftSource;

#[derive(Parser)]
#[command(
    name = "gpt2",
    version,
    about = "GPT-2 next-token distributions, text scores and generation"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// The most likely next tokens after a prompt.
    Next(NextArgs),
    /// The log-probability of every token of a text.
    Score(ScoreArgs),
    /// Continue a prompt with a decoding strategy.
    Generate(Box<GenerateArgs>),
    /// Prefill and decode speed of decoding strategies, for a model and device.
    Bench(Box<BenchArgs>),
    /// Serve the models over a WebSocket, for the page or any remote client.
    Serve(ServeArgs),
}

/// `gpt2 serve`'s flags.
#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A second model (contrastive's amateur, speculative's draft), on the
    /// same device.
    #[arg(long)]
    pub second: Option<String>,
    /// The port to listen on (0: any free port; the ready line says which).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// The address to listen on. Anything but the loopback lets other
    /// machines reach the server: only they and the token stand in the way.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// A page origin allowed to connect, e.g. https://example.org or
    /// http://localhost:* (any port); repeat for more. Replaces the default,
    /// http://127.0.0.1:* and http://localhost:*. Clients that send no Origin
    /// (not browsers) are always allowed; all must show the token.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
}

/// Which model, on which device.
#[derive(Args)]
pub struct ModelArgs {
    /// A local folder (config.json, model.safetensors, tokenizer.json), a Hub
    /// name (gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2, owner/repo),
    /// or the small pair shipped with the project: bundled, bundled-draft.
    #[arg(long)]
    pub model: String,
    /// Where to run the model (cuda: the first visible NVIDIA GPU; pick
    /// another with CUDA_VISIBLE_DEVICES).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// Number format of the weights: f32 (the reference, exact to
    /// transformers), or f16 / bf16 (half the bytes per token; on the CPU the
    /// arithmetic stays f32).
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,
    /// Print JSON instead of text for people.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DeviceArg {
    Cpu,
    Wgpu,
    Cuda,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DtypeArg {
    F32,
    F16,
    Bf16,
}

impl DtypeArg {
    pub fn precision(self) -> Precision {
        match self {
            DtypeArg::F32 => Precision::F32,
            DtypeArg::F16 => Precision::F16,
            DtypeArg::Bf16 => Precision::Bf16,
        }
    }
}

/// The text to start from, as text or as token ids.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct PromptArgs {
    /// The prompt, tokenized with the model's tokenizer.
    #[arg(long)]
    pub prompt: Option<String>,
    /// The prompt as comma-separated token ids, used as given.
    #[arg(long, value_delimiter = ',')]
    pub prompt_ids: Option<Vec<u32>>,
}

#[derive(Args)]
pub struct NextArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// How many candidates to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

#[derive(Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text to score; write <|endoftext|> first to score its first word too.
    #[arg(long, group = "input", required = true)]
    pub text: Option<String>,
    /// The text as comma-separated token ids.
    #[arg(long, group = "input", value_delimiter = ',')]
    pub ids: Option<Vec<u32>>,
}

/// The decoding methods, as the engine names them.
pub use engine::decoding::Method as Strategy;

/// The sampling processors, applied in the order of `--samplers` (the
/// README lists the default order).
#[derive(Args)]
pub struct SamplingArgs {
    /// Divide the logits by T (0 means greedy).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Keep the K most likely tokens (contrastive-search: the K candidates).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Keep the smallest set of tokens whose probability reaches P.
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Keep tokens at least P times as likely as the most likely one.
    #[arg(long)]
    pub min_p: Option<f32>,
    /// Penalise tokens already present (CTRL's θ; 1 means none; also dola).
    #[arg(long)]
    pub repetition_penalty: Option<f32>,
    /// Seed of the random draws.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Locally typical sampling: keep the tokens closest to the expected
    /// surprise until their mass reaches P, in (0, 1].
    #[arg(long)]
    pub typical_p: Option<f32>,
    /// ε-sampling: cut tokens with probability below E, in [0, 1).
    #[arg(long)]
    pub epsilon_cutoff: Option<f32>,
    /// η-sampling: cut tokens below min(E, √E·exp(−entropy)), E in [0, 1).
    #[arg(long)]
    pub eta_cutoff: Option<f32>,
    /// Top-H: keep the likeliest tokens while their entropy is within H of
    /// the whole's, H in (0, 1].
    #[arg(long)]
    pub top_h: Option<f32>,
    /// Top-nσ: keep logits ≥ max − N·σ, N > 0.
    #[arg(long)]
    pub top_n_sigma: Option<f32>,
    /// XTC: at each step, with this probability, cut every token above
    /// --xtc-threshold but the least likely of them.
    #[arg(long)]
    pub xtc_probability: Option<f32>,
    /// XTC: the probability that makes a token a top choice (default 0.1).
    #[arg(long)]
    pub xtc_threshold: Option<f32>,
    /// DRY: penalty multiplier (turns DRY on).
    #[arg(long)]
    pub dry_multiplier: Option<f32>,
    /// DRY: penalty base (default 1.75).
    #[arg(long)]
    pub dry_base: Option<f32>,
    /// DRY: repeats shorter than this are not penalised (default 2).
    #[arg(long)]
    pub dry_allowed_length: Option<usize>,
    /// DRY: how many of the last tokens to search (default 0: all).
    #[arg(long)]
    pub dry_penalty_last_n: Option<usize>,
    /// DRY: strings that end a repeated sequence, as a JSON list (default
    /// ["\n", ":", "\"", "*"]).
    #[arg(long)]
    pub dry_sequence_breakers: Option<String>,
    /// Mirostat 2.0: target surprise τ in bits (turns mirostat on).
    #[arg(long)]
    pub mirostat_tau: Option<f32>,
    /// Mirostat 2.0: learning rate η (default 0.1).
    #[arg(long)]
    pub mirostat_eta: Option<f32>,
    /// Lower every token already generated by A, in [-2, 2].
    #[arg(long)]
    pub presence_penalty: Option<f32>,
    /// Lower every token by B per time it was generated, in [-2, 2].
    #[arg(long)]
    pub frequency_penalty: Option<f32>,
    /// Classifier-free guidance's scale (1: none).
    #[arg(long)]
    pub guidance_scale: Option<f32>,
    /// Classifier-free guidance: the text to steer away from (default: the
    /// prompt's last token alone).
    #[arg(long)]
    pub negative_prompt: Option<String>,
    /// The samplers' order, comma-separated (e.g. top_k,top_p,temperature).
    #[arg(long)]
    pub samplers: Option<String>,
}

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// The decoding strategy.
    #[arg(long, value_enum)]
    pub strategy: Strategy,
    /// Most tokens to add.
    #[arg(long, default_value_t = 32)]
    pub max_new_tokens: usize,
    /// End-of-text is not chosen before this many new tokens.
    #[arg(long, default_value_t = 0)]
    pub min_new_tokens: usize,
    /// Print every decoding step (candidates, beams, drafts) too.
    #[arg(long)]
    pub steps: bool,
    /// greedy, sample: take these tokens at these steps (from 0), a branch
    /// of the run: `step:id,step:id,...`.
    #[arg(long, value_delimiter = ',', value_parser = parse_force)]
    pub force: Vec<(usize, u32)>,
    /// beam, sample: how many sequences to return.
    #[arg(long)]
    pub num_return_sequences: Option<usize>,
    /// beam: how many beams.
    #[arg(long)]
    pub num_beams: Option<usize>,
    /// beam: finished hypotheses score sum_logprobs / length^F.
    #[arg(long)]
    pub length_penalty: Option<f32>,
    /// beam: stop as soon as num_beams hypotheses are finished.
    #[arg(long)]
    pub early_stopping: bool,
    /// beam: diverse beam search with G groups of num_beams/G beams.
    #[arg(long)]
    pub num_beam_groups: Option<usize>,
    /// beam: subtract D per earlier group's beam that chose a token at the same step.
    #[arg(long)]
    pub diversity_penalty: Option<f32>,
    /// beam, sample: never repeat an n-gram of this size.
    #[arg(long)]
    pub no_repeat_ngram_size: Option<usize>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// contrastive: the amateur model (a folder or Hub name).
    #[arg(long)]
    pub amateur: Option<String>,
    /// contrastive: plausibility cut, keep p_expert ≥ A·max p_expert.
    #[arg(long)]
    pub alpha: Option<f32>,
    /// contrastive: weight of the amateur's log-probability.
    #[arg(long)]
    pub lambda: Option<f32>,
    /// contrastive: temperature of the amateur.
    #[arg(long)]
    pub amateur_temperature: Option<f32>,
    /// speculative: the draft model (a folder or Hub name), or prompt-lookup
    /// (n-grams copied from the context, no second model).
    #[arg(long)]
    pub draft: Option<String>,
    /// speculative with --draft prompt-lookup: the longest n-gram looked up
    /// (then shorter ones down to 1; default 2).
    #[arg(long)]
    pub max_matching_ngram_size: Option<usize>,
    /// speculative: tokens drafted per target pass.
    #[arg(long)]
    pub gamma: Option<usize>,
    /// speculative: verify by sampling (with the sampling options) instead of greedily.
    #[arg(long)]
    pub sample: bool,
    /// contrastive-search: weight α of the degeneration penalty, in [0, 1]
    /// (default 0.6; the candidates are --top-k, default 4).
    #[arg(long)]
    pub penalty_alpha: Option<f32>,
    /// dola: the premature layers to contrast with the last: low, high
    /// (default) or layer numbers such as 0,2,4 (0 is the embeddings).
    #[arg(long)]
    pub dola_layers: Option<String>,
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The strategies to time, comma-separated. The speculative prediction
    /// (Leviathan et al., eq. 1) needs greedy in the list too.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "greedy")]
    pub strategies: Vec<Strategy>,
    /// Prompt length in tokens (a fixed English text, repeated).
    #[arg(long, default_value_t = 32)]
    pub prompt_tokens: usize,
    /// Tokens generated per run (end-of-text is held off until then).
    #[arg(long, default_value_t = 64)]
    pub new_tokens: usize,
    /// Timed runs per strategy; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Untimed runs before them (the first run on a GPU compiles and allocates).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// beam: how many beams.
    #[arg(long, default_value_t = 4)]
    pub num_beams: usize,
    /// sample: temperature.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// sample: keep the K most likely tokens (transformers' default, 50).
    #[arg(long, default_value_t = 50)]
    pub top_k: usize,
    /// sample: seed of the first run (run i uses seed + i).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// speculative: the draft model (a folder or Hub name), or prompt-lookup.
    #[arg(long)]
    pub draft: Option<String>,
    /// speculative with --draft prompt-lookup: the longest n-gram looked up.
    #[arg(long)]
    pub max_matching_ngram_size: Option<usize>,
    /// speculative: tokens drafted per target pass (verified greedily).
    #[arg(long, default_value_t = 4)]
    pub gamma: usize,
    /// contrastive: the amateur model (a folder or Hub name).
    #[arg(long)]
    pub amateur: Option<String>,
    /// contrastive: plausibility cut.
    #[arg(long, default_value_t = 0.1)]
    pub alpha: f32,
    /// contrastive: weight of the amateur's log-probability.
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f32,
    /// Also time every GPU kernel of greedy decode steps (wgpu, where the
    /// adapter has timestamp queries): time and GB/s per kernel kind.
    #[arg(long)]
    pub profile: bool,
}

/// What `--draft` names: prompt lookup (`prompt-lookup`), or a model (any
/// other value: a folder or Hub name; write `./prompt-lookup` for a folder of
/// that name). `--max-matching-ngram-size` only goes with prompt lookup.
pub fn draft_source(draft: Option<&str>, max_ngram: Option<usize>) -> engine::Result<DraftSource> {
    match draft {
        Some(DraftSource::PROMPT_LOOKUP) => Ok(DraftSource::PromptLookup {
            max_matching_ngram_size: max_ngram
                .unwrap_or(DraftSource::DEFAULT_MAX_MATCHING_NGRAM_SIZE),
        }),
        _ if max_ngram.is_some() => Err(engine::Error::input(
            "--max-matching-ngram-size goes with --draft prompt-lookup only",
        )),
        _ => Ok(DraftSource::Model),
    }
}

/// One `--force` entry, `step:id`.
fn parse_force(text: &str) -> Result<(usize, u32), String> {
    let bad = || format!("{text:?} is not step:id (e.g. 3:262, the step counted from 0)");
    let (step, id) = text.trim().split_once(':').ok_or_else(bad)?;
    Ok((
        step.trim().parse().map_err(|_| bad())?,
        id.trim().parse().map_err(|_| bad())?,
    ))
}
