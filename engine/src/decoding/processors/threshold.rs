//! Where a truncation would cut a token: the value of the stage's setting at
//! which the token, given the stage's input, goes. Each answer comes from the
//! processor's own rule (the predicates its file exposes), so it is exact in
//! the processor's f32 arithmetic:
//!
//! - closed forms: top-k cuts at `k ≤` the number of strictly larger logits;
//!   XTC at `threshold ≤` the probability of the next token in rank (the
//!   token is then a top choice that is not the least likely one); mirostat
//!   when `μ <` the token's surprise `−log₂ p`;
//! - the others (top-p: about the mass of the more likely tokens; min-p:
//!   about `p / max p`; typical-p: about the mass of the more typical tokens;
//!   ε: just above `p`; η: about `max(p, p² e^{2H})`; top-nσ: about
//!   `(max − logit) / σ`; top-H: about the cumulative entropy through the
//!   token over the entropy) by bisection over the f32 values of the
//!   setting's range, with the processor's predicate: the rule is monotone in
//!   its setting, and the f32 roundings of the closed forms (transformers'
//!   `1 − p` from the decimal, the products) would miss by an ulp.
//!
//! The most likely token is never cut by these ([`Threshold::Never`]); a
//! token outside top-H's 100 candidates always is ([`Threshold::Always`]).

use super::epsilon_eta::{eta_floor, floor_cuts};
use super::top_h::TopH;
use super::top_n_sigma::Spread;
use super::truncation::{ascending, min_p_cuts, nucleus_cuts, nucleus_floor};
use super::typical::Typical;
use super::{softmax, Stage};
use crate::decoding::select::{argmax, by_value_then_index};
use crate::decoding::{entropy, log_softmax};

/// The setting's values at which a stage cuts a token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// Cut at this value of the setting and below, kept above.
    AtMost(f64),
    /// Cut at this value and above, kept below.
    AtLeast(f64),
    /// Cut below this value, kept at it and above (mirostat's μ).
    Below(f64),
    /// Kept at every value of the setting.
    Never,
    /// Cut at every value of the setting.
    Always,
}

impl Threshold {
    /// Whether the setting at `value` cuts the token.
    pub fn cuts(self, value: f64) -> bool {
        match self {
            Threshold::AtMost(v) => value <= v,
            Threshold::AtLeast(v) => value >= v,
            Threshold::Below(v) => value < v,
            Threshold::Never => false,
            Threshold::Always => true,
        }
    }

    /// The setting a stage's threshold is on, as the URL and the flags
    /// name it (`mirostat_mu` is the run's μ, not a setting).
    pub fn setting(stage: Stage) -> Option<&'static str> {
        match stage {
            Stage::Xtc => Some("xtc_threshold"),
            Stage::Mirostat => Some("mirostat_mu"),
            s if s.cuts() && s != Stage::NoRepeatNgram => Some(s.name()),
            _ => None,
        }
    }
}

/// Where `stage` would cut token `c`, given the stage's input logits `x`;
/// `None` for stages that cut by no setting (shifts, the n-gram ban).
pub(super) fn threshold(stage: Stage, x: &[f32], c: usize) -> Option<Threshold> {
    let probs = softmax(x);
    let p = probs[c];
    let best = argmax(&probs);
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let tiny = f32::from_bits(1);
    let below_one = 1.0f32.next_down();
    Some(match stage {
        Stage::TopK => match x.iter().filter(|&&v| v > x[c]).count() {
            0 => Threshold::Never,
            larger => Threshold::AtMost(larger as f64),
        },
        Stage::TopP => {
            let order = ascending(x);
            if order.last() == Some(&c) {
                return Some(Threshold::Never);
            }
            let upto = order.iter().position(|&i| i == c)?;
            let cumulative: f64 = order[..=upto].iter().map(|&i| probs[i] as f64).sum();
            search(Cuts::Low, tiny, 1.0, |v| {
                nucleus_cuts(cumulative, nucleus_floor(v))
            })
        }
        Stage::MinP if c == best => Threshold::Never,
        Stage::MinP => search(Cuts::High, 0.0, 1.0, |v| min_p_cuts(p, v * probs[best])),
        Stage::Typical => {
            let t = Typical::new(x)?;
            search(Cuts::Low, tiny, 1.0, |v| t.cuts(c, t.limit(v)))
        }
        Stage::Epsilon => search(Cuts::High, 0.0, below_one, |v| floor_cuts(p, x[c], max, v)),
        Stage::Eta => {
            let h = entropy(&log_softmax(x));
            search(Cuts::High, 0.0, below_one, |v| {
                floor_cuts(p, x[c], max, eta_floor(v, h))
            })
        }
        Stage::TopNSigma => {
            let spread = Spread::of(x)?;
            search(Cuts::Low, tiny, f32::MAX, |v| x[c] < spread.floor(v))
        }
        Stage::TopH => {
            let h = TopH::new(x);
            match h.top.iter().position(|&i| i == c) {
                None => Threshold::Always,
                Some(rank) => search(Cuts::Low, tiny, 1.0, |v| !h.keeps(rank, v)),
            }
        }
        Stage::Xtc => {
            // The token ranked just after `c`: the largest probability below it.
            let next = (0..probs.len())
                .filter(|&i| by_value_then_index(&probs, c, i).is_lt())
                .max_by(|&a, &b| by_value_then_index(&probs, b, a));
            match next.map(|i| probs[i]) {
                Some(q) if q > 0.0 => Threshold::AtMost(q as f64),
                _ => Threshold::Never,
            }
        }
        Stage::Mirostat if c == best => Threshold::Never,
        Stage::Mirostat => match -p.log2() {
            s if s.is_finite() => Threshold::Below(s as f64),
            _ => Threshold::Always,
        },
        _ => return None,
    })
}

/// Which end of a setting's range cuts.
#[derive(Clone, Copy)]
enum Cuts {
    /// Small values cut (top-p, typical-p, top-nσ, top-H).
    Low,
    /// Large values cut (min-p, ε, η).
    High,
}

/// The boundary of `cuts`, monotone over `[lo, hi]` (both ≥ 0, so their f32
/// bit patterns are in the order of their values), found by bisection.
fn search(end: Cuts, lo: f32, hi: f32, cuts: impl Fn(f32) -> bool) -> Threshold {
    let (cut_end, kept_end) = match end {
        Cuts::Low => (lo, hi),
        Cuts::High => (hi, lo),
    };
    if !cuts(cut_end) {
        return Threshold::Never;
    }
    if cuts(kept_end) {
        return Threshold::Always;
    }
    // Invariant: `cut` cuts, `kept` does not.
    let (mut cut, mut kept) = (cut_end.to_bits(), kept_end.to_bits());
    while cut.abs_diff(kept) > 1 {
        let mid = cut.min(kept) + cut.abs_diff(kept) / 2;
        if cuts(f32::from_bits(mid)) {
            cut = mid;
        } else {
            kept = mid;
        }
    }
    let value = f32::from_bits(cut) as f64;
    match end {
        Cuts::Low => Threshold::AtMost(value),
        Cuts::High => Threshold::AtLeast(value),
    }
}
