//! Greedy decode steps with every GPU kernel timed: what `gpt2 bench
//! --profile` and the page's `?bench=1` report, computed once here.

use serde::Serialize;

use super::{KernelTime, KvCache, LanguageModel, Model};
use crate::decoding::steps::STEP_CANDIDATES;
use crate::Result;

/// One kernel kind's share of a decode token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelProfile {
    /// `linear`, `attention`, `logits`, `summary`, ...
    pub kind: &'static str,
    pub seconds_per_token: f64,
    pub dispatches_per_token: f64,
    /// Share of the GPU time of every kind.
    pub share: f64,
    /// Bytes its dispatches read and wrote over their time; `None` when the
    /// timestamps measured no time.
    pub gb_per_second: Option<f64>,
}

/// The GPU time of `tokens` greedy decode steps, per kernel kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GreedyProfile {
    pub tokens: usize,
    pub gpu_seconds_per_token: f64,
    /// Slowest first.
    pub kernels: Vec<KernelProfile>,
}

impl GreedyProfile {
    /// Per token, from the totals of `tokens` steps.
    pub fn from_totals(totals: &[KernelTime], tokens: usize) -> GreedyProfile {
        let per = tokens.max(1) as f64;
        let total: f64 = totals.iter().map(|k| k.seconds).sum();
        let mut kernels: Vec<KernelProfile> = totals
            .iter()
            .map(|k| KernelProfile {
                kind: k.kind,
                seconds_per_token: k.seconds / per,
                dispatches_per_token: k.dispatches as f64 / per,
                share: if total > 0.0 { k.seconds / total } else { 0.0 },
                gb_per_second: (k.seconds > 0.0).then(|| k.bytes as f64 / k.seconds / 1e9),
            })
            .collect();
        kernels.sort_by(|a, b| b.seconds_per_token.total_cmp(&a.seconds_per_token));
        GreedyProfile {
            tokens,
            gpu_seconds_per_token: total / per,
            kernels,
        }
    }
}

/// Greedy decoding of `new_tokens` (at least 2) after `prompt` on `model`,
/// each step reading back what greedy reads (the top candidates), with every
/// dispatch of the decode steps timed; `None` where the model's device cannot
/// time kernels (not wgpu, or no timestamp queries).
pub async fn profile_greedy(
    model: &Model,
    prompt: &[u32],
    new_tokens: usize,
) -> Result<Option<GreedyProfile>> {
    if !model.start_profiling() {
        return Ok(None);
    }
    let run = async {
        let mut cache = model.new_cache(1)?;
        cache.reserve(prompt.len() + new_tokens)?;
        let k = STEP_CANDIDATES + 1;
        let top = model.forward_top(&mut cache, &[prompt], 1, k, &[]).await?;
        let mut next = top.last(0).ids[0];
        model.take_profile(); // the prompt's pass is not decoding
        let steps = new_tokens.saturating_sub(1).max(1);
        for _ in 0..steps {
            let top = model.forward_top(&mut cache, &[&[next]], 1, k, &[]).await?;
            next = top.last(0).ids[0];
        }
        Ok(GreedyProfile::from_totals(&model.take_profile(), steps))
    };
    let profile = run.await;
    model.stop_profiling();
    profile.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_shares_are_per_token_and_slowest_first() {
        let totals = [
            KernelTime {
                kind: "attention",
                seconds: 0.002,
                bytes: 1_000_000,
                dispatches: 8,
            },
            KernelTime {
                kind: "linear",
                seconds: 0.006,
                bytes: 60_000_000,
                dispatches: 16,
            },
            KernelTime {
                kind: "summary",
                seconds: 0.0,
                bytes: 400,
                dispatches: 4,
            },
        ];
        let p = GreedyProfile::from_totals(&totals, 4);
        let names: Vec<&str> = p.kernels.iter().map(|k| k.kind).collect();
        assert_eq!(names, ["linear", "attention", "summary"]);
        let linear = &p.kernels[0];
        assert!(
            (linear.seconds_per_token - 0.0015).abs() < 1e-12,
            "{linear:?}"
        );
        assert!((linear.dispatches_per_token - 4.0).abs() < 1e-9);
        assert!((linear.share - 0.75).abs() < 1e-9);
        assert!((linear.gb_per_second.unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(p.kernels[2].gb_per_second, None, "no time: no bandwidth");
        assert!((p.gpu_seconds_per_token - 0.002).abs() < 1e-12);
    }
}
