//! Hidden states a forward pass reports besides its logits, for the methods
//! that read inside the model: contrastive search (Su et al. 2022) compares
//! the last layer's states of candidate tokens with the context's; DoLa
//! (Chuang et al. 2023) contrasts the final logits with an early exit's.
//!
//! Layers are numbered as `transformers`' `output_hidden_states` numbers
//! them (`modeling_gpt2.py`, `GPT2Model.forward`): `hidden_states[0]` is the
//! embeddings (`wte[ids] + wpe[positions]`), `hidden_states[i]` the output of
//! block `i − 1`, and `hidden_states[n_layer]` the last block's output after
//! the final layer norm `ln_f`.
//!
//! The logit lens (nostalgebraist 2020, "interpreting GPT: the logit lens")
//! reads every layer through the model's own ending, `ln_f` then the tied
//! head: [`HiddenRequest::lens`] asks the backend for the early exits that way.

use super::Logits;
use crate::config::Gpt2Config;
use crate::{Error, Result};

/// What a pass reports besides the logits of its last `last` positions.
#[derive(Debug, Clone, Copy, Default)]
pub struct HiddenRequest<'a> {
    /// `hidden_states[i]` for each `i` (0..=n_layer) listed, at the last
    /// `positions` new positions of every row.
    pub layers: &'a [usize],
    /// How many of the last new positions `layers` covers (ignored when
    /// `layers` is empty).
    pub positions: usize,
    /// Layers `i` (0..n_layer) whose states at the `last` positions go
    /// through the tied head `wte` with no final layer norm, as DoLa's early
    /// exits do (`lm_head(hidden_states[i])`).
    pub heads: &'a [usize],
    /// The `heads` go through the final layer norm first, as the logit lens
    /// reads them (`lm_head(ln_f(hidden_states[i]))`), instead of straight
    /// into the head.
    pub lens: bool,
}

/// The answer to a [`HiddenRequest`].
#[derive(Debug, Clone)]
pub struct Hidden {
    /// The logits of the last `last` positions, as `forward` returns them.
    pub logits: Logits,
    /// The layers asked for, in the order asked.
    pub layers: Vec<usize>,
    pub rows: usize,
    pub positions: usize,
    pub n_embd: usize,
    /// `[layers, rows, positions, n_embd]`.
    pub states: Vec<f32>,
    /// One per head asked for, in that order: `[rows, last, vocab]`.
    pub heads: Vec<Logits>,
}

impl Hidden {
    /// `hidden_states[layers[k]]` of row `row` at new position `pos` (of the
    /// `positions` reported).
    pub fn state(&self, k: usize, row: usize, pos: usize) -> &[f32] {
        let start = ((k * self.rows + row) * self.positions + pos) * self.n_embd;
        &self.states[start..start + self.n_embd]
    }
}

/// Checks a request against the model and a pass of `n` new positions; every
/// backend calls this after [`super::check_forward`].
pub fn check_hidden(config: &Gpt2Config, want: &HiddenRequest, n: usize) -> Result<()> {
    if let Some(&i) = want.layers.iter().find(|&&i| i > config.n_layer) {
        return Err(Error::input(format!(
            "hidden state {i} asked for, but the model has {} layers (states 0..={})",
            config.n_layer, config.n_layer
        )));
    }
    if let Some(&i) = want.heads.iter().find(|&&i| i >= config.n_layer) {
        return Err(Error::input(format!(
            "an early exit at layer {i} asked for, but the model has {} layers (0..{})",
            config.n_layer, config.n_layer
        )));
    }
    if !want.layers.is_empty() && (want.positions == 0 || want.positions > n) {
        return Err(Error::input(format!(
            "asked for the hidden states of the last {} of {n} new positions",
            want.positions
        )));
    }
    Ok(())
}

/// Layer norm of one row in f32 on the host (`transformers`' `nn.LayerNorm`:
/// biased variance), for backends that finish `hidden_states[n_layer]` there.
pub fn layer_norm_row(x: &[f32], weight: &[f32], bias: &[f32], eps: f32) -> Vec<f32> {
    let c = x.len() as f32;
    let mean = x.iter().sum::<f32>() / c;
    let var = x.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / c;
    let rstd = 1.0 / (var + eps).sqrt();
    x.iter()
        .zip(weight)
        .zip(bias)
        .map(|((&v, &w), &b)| (v - mean) * rstd * w + b)
        .collect()
}
