//! The bars of one greedy or sampling step. Under the settings the run used
//! they are the engine's own candidates for the step: what the run did. Once
//! a slider has moved they are recomputed from the step's raw logits under
//! the current settings, with no forward pass: what those settings would do
//! at this step, the run's chosen token marked cut only if they would cut it.
//! XTC uses the step's own coin and mirostat the run's μ at the step, so a
//! redraw is what the new settings would have done with the same draws
//! (see [`redraw_notes`] for what it means when the run had none).

use engine::decoding::processors::mirostat;
use engine::decoding::steps::{Cut, StepCandidate};
use engine::decoding::{SamplingParams, StepInputs};

/// How many tokens the chart shows.
pub const CHART_TOKENS: usize = 12;

/// One bar of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub id: u32,
    /// Probability under the model alone.
    pub raw: f32,
    /// Probability after temperature, before truncation.
    pub scaled: f32,
    /// Probability in the distribution sampled from (0 when cut).
    pub prob: f32,
    /// What cut the token, if anything did.
    pub cut: Option<Cut>,
    /// The token the run chose at this step.
    pub chosen: bool,
}

/// One token step, as the chart needs it.
pub struct TokenStep<'a> {
    pub chosen: u32,
    /// The engine's candidates, by raw probability.
    pub candidates: &'a [StepCandidate],
    /// The raw logits, when the run read the whole row.
    pub logits: Option<&'a [f32]>,
    /// The prompt and the tokens before the step (the penalties read it).
    pub context: &'a [u32],
    /// How much of `context` is the prompt.
    pub prompt_len: usize,
    /// The distribution the run chose from.
    pub used: Option<&'a SamplingParams>,
    /// XTC's coin at this step, when the run had XTC on.
    pub xtc_coin: Option<f64>,
    /// Mirostat's μ before this step, when the run had mirostat on.
    pub mirostat_mu: Option<f32>,
    /// Guidance's unconditional logits, when the run kept them.
    pub unconditional: Option<&'a [f32]>,
}

impl TokenStep<'_> {
    /// What a redraw processes the logits with besides them: the step's own
    /// XTC coin (0, "it applies", when the run drew none) and μ (2τ, its
    /// first value, when the run kept none).
    pub fn inputs(&self) -> StepInputs<'_> {
        StepInputs {
            context: self.context,
            prompt_len: self.prompt_len,
            bans: &[],
            xtc_coin: Some(self.xtc_coin.unwrap_or(0.0)),
            mirostat_mu: self.mirostat_mu,
            unconditional: self.unconditional,
        }
    }
}

/// A step's chart, and whether it was recomputed under other settings than
/// the run's.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub bars: Vec<Bar>,
    pub recomputed: bool,
}

/// The chart of `step` under the `current` settings (`None`: the current
/// strategy chooses no token from one distribution), `n` bars plus the
/// chosen token's.
pub fn chart(step: &TokenStep<'_>, current: Option<&SamplingParams>, n: usize) -> Chart {
    match (current, step.logits) {
        (Some(params), Some(logits)) if Some(params) != step.used => Chart {
            bars: bars(logits, &step.inputs(), params, step.chosen, n),
            recomputed: true,
        },
        _ => Chart {
            bars: top_bars(step.candidates, step.chosen, n),
            recomputed: false,
        },
    }
}

/// Candidates (sorted by raw probability) as bars: the `n` first, and the
/// chosen token.
fn top_bars(candidates: &[StepCandidate], chosen: u32, n: usize) -> Vec<Bar> {
    candidates
        .iter()
        .enumerate()
        .filter(|(i, c)| *i < n || c.id == chosen)
        .map(|(_, c)| Bar {
            id: c.id,
            raw: c.raw_prob,
            scaled: c.scaled_prob,
            prob: c.prob,
            cut: c.cut,
            chosen: c.id == chosen,
        })
        .collect()
}

/// The chart of a step recomputed: the `n` most likely tokens under the model
/// (the chosen one always included), each with what `params` make of it.
/// `inputs` hold the prompt and the tokens before the step, XTC's coin, μ.
pub fn bars(
    logits: &[f32],
    inputs: &StepInputs,
    params: &SamplingParams,
    chosen: u32,
    n: usize,
) -> Vec<Bar> {
    let processed = params.process_step(logits, inputs);
    // `step_candidates` adds the most likely kept tokens: keep the raw top n
    // (and the chosen token) only, so the chart keeps its rows when sliders move.
    top_bars(&processed.step_candidates(n, chosen), chosen, n)
}

/// What a redraw under `params` means for the stages that depend on more
/// than the step's logits: XTC's coin, mirostat's μ, guidance's second row.
pub fn redraw_notes(step: &TokenStep<'_>, params: &SamplingParams) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(x) = &params.xtc {
        notes.push(match step.xtc_coin {
            Some(coin) => format!(
                "XTC: this step's coin was {coin:.3}; XTC applies when it is below the probability ({}).",
                x.probability
            ),
            None => "XTC: the run drew no coin at this step, so the bars show XTC as if it applied.".into(),
        });
    }
    if let Some(m) = &params.mirostat {
        notes.push(match step.mirostat_mu {
            Some(mu) => format!(
                "Mirostat: μ is the run's at this step ({mu:.3} bits); under the new τ and η later steps would have moved it otherwise."
            ),
            None => format!(
                "Mirostat: the run kept no μ, so the bars use its first value, 2τ = {:.3} bits.",
                mirostat::initial_mu(m)
            ),
        });
    }
    if params.guidance.is_some() && step.unconditional.is_none() {
        notes.push("Guidance: the run kept no unconditional logits for this step, so the bars leave guidance out.".into());
    }
    notes
}

/// The name of a cut as the page and its tests show it ("" for none).
pub fn cut_name(cut: Option<Cut>) -> &'static str {
    cut.map_or("", Cut::name)
}

#[cfg(test)]
mod tests;
