//! The model shape the examples build a random checkpoint of: a preset, with
//! any of its sizes overridden.

use engine::config::Gpt2Config;

/// `--shape` and the sizes that override it.
#[derive(clap::Args)]
pub struct Shape {
    /// The preset to start from: gpt2, distilgpt2, gpt2-medium, gpt2-large or gpt2-xl.
    #[arg(long, default_value = "gpt2", value_parser = preset)]
    shape: Gpt2Config,
    /// Transformer blocks (n_layer).
    #[arg(long, value_name = "L")]
    layers: Option<usize>,
    /// Attention heads (n_head).
    #[arg(long, value_name = "H")]
    heads: Option<usize>,
    /// Width of the residual stream (n_embd).
    #[arg(long, value_name = "C")]
    embd: Option<usize>,
    /// Context length (n_positions).
    #[arg(long, value_name = "P")]
    positions: Option<usize>,
}

impl Shape {
    /// The preset with the overrides, checked.
    pub fn config(&self) -> Result<Gpt2Config, String> {
        let mut c = self.shape.clone();
        c.n_layer = self.layers.unwrap_or(c.n_layer);
        c.n_head = self.heads.unwrap_or(c.n_head);
        c.n_embd = self.embd.unwrap_or(c.n_embd);
        c.n_positions = self.positions.unwrap_or(c.n_positions);
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }
}

fn preset(name: &str) -> Result<Gpt2Config, String> {
    Gpt2Config::preset(name).ok_or_else(|| {
        format!("unknown shape {name}: gpt2, distilgpt2, gpt2-medium, gpt2-large or gpt2-xl")
    })
}
