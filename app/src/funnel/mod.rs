//! The sampler chain stage by stage for one token step: the whole vocabulary
//! through each point of the chain in order (tokens left, the model's
//! probability mass left, entropy, the chosen token's rank and probability),
//! and for each truncation the setting at which the chosen token would be
//! cut. The engine traces its own chain ([`SamplingParams::trace`]) on the
//! step's kept logits, under the current settings: it follows the sliders
//! with no forward pass, as the chart does (see [`crate::bars`]).

use engine::decoding::processors::trace::model_trace;
use engine::decoding::processors::{Point, StageTrace, Threshold};
use engine::decoding::SamplingParams;

use crate::bars::TokenStep;

/// A step's funnel.
#[derive(Debug, Clone, PartialEq)]
pub struct Funnel {
    /// The model's own distribution: the top of the funnel.
    pub model: StageTrace,
    /// Each point of the chain, in order.
    pub stages: Vec<StageTrace>,
    /// Traced under other settings than the run's.
    pub recomputed: bool,
}

/// The funnel of `step` under the `current` settings (the run's when
/// `None`); `None` when the step kept no logits.
pub fn funnel(step: &TokenStep<'_>, current: Option<&SamplingParams>) -> Option<Funnel> {
    let logits = step.logits?;
    let params = current.or(step.used)?;
    let (_, stages) = params.trace(logits, &step.inputs(), step.chosen);
    Some(Funnel {
        model: model_trace(logits, step.chosen),
        stages,
        recomputed: Some(params) != step.used,
    })
}

/// The threshold as `data-cut-when`: `at_most`, `at_least`, `below`,
/// `never`, `always`.
pub fn cut_when(t: Threshold) -> &'static str {
    match t {
        Threshold::AtMost(_) => "at_most",
        Threshold::AtLeast(_) => "at_least",
        Threshold::Below(_) => "below",
        Threshold::Never => "never",
        Threshold::Always => "always",
    }
}

/// The threshold's value as `data-cut-at`, when it has one.
pub fn cut_at(t: Threshold) -> Option<f64> {
    match t {
        Threshold::AtMost(v) | Threshold::AtLeast(v) | Threshold::Below(v) => Some(v),
        Threshold::Never | Threshold::Always => None,
    }
}

/// The funnel row's "would be cut" cell, in words.
pub fn threshold_text(point: Point, threshold: Option<Threshold>, chosen_was_kept: bool) -> String {
    let Point::Stage(stage) = point else {
        return match point {
            Point::Bans => "a ban: no setting".into(),
            Point::Greedy => "greedy keeps the argmax only".into(),
            _ => String::new(),
        };
    };
    let Some(t) = threshold else {
        return match (stage.cuts(), chosen_was_kept) {
            (true, false) => "cut earlier".into(),
            (true, true) => "a ban: no setting".into(),
            (false, _) => "reshapes, cuts nothing".into(),
        };
    };
    let setting = Threshold::setting(stage).unwrap_or_default();
    let text = match t {
        Threshold::AtMost(v) => format!("cut at {setting} ≤ {}", number(v)),
        Threshold::AtLeast(v) => format!("cut at {setting} ≥ {}", number(v)),
        Threshold::Below(v) => format!("cut when μ < {} bits", number(v)),
        Threshold::Never => "never cut: the most likely stays".into(),
        Threshold::Always => "cut at any value".into(),
    };
    match point {
        Point::Stage(engine::decoding::Stage::Xtc) if !matches!(t, Threshold::Never) => {
            format!("{text}, when XTC applies (coin < probability)")
        }
        _ => text,
    }
}

/// A setting's value, short: integers as they are, four significant digits
/// otherwise.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{v:.0}")
    } else if v.abs() >= 1e-3 && v.abs() < 1e6 {
        let digits = (3 - v.abs().log10().floor() as i32).max(0) as usize;
        format!("{v:.digits$}")
    } else {
        format!("{v:.3e}")
    }
}

#[cfg(test)]
mod tests;
