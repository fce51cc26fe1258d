//! The command line's flags (see the README for the contract).

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    Generate(GenerateArgs),
}

/// Which model, on which device.
#[derive(Args)]
pub struct ModelArgs {
    /// A local folder (config.json, model.safetensors, tokenizer.json) or a Hub
    /// name: gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2, owner/repo.
    #[arg(long)]
    pub model: String,
    /// Where to run the model.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
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

#[derive(Clone, Copy, ValueEnum)]
pub enum Strategy {
    /// The most likely token at every step.
    Greedy,
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
}
