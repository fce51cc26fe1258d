//! Speed figures, as plain arithmetic: a run's prefill and decode tokens/s
//! from its timed forward passes (counted as `gpt2 bench` counts them), the
//! benchmark's GPU time per kernel kind from timestamp queries, and the text
//! a person copies to report them.

use engine::backend::KernelProfile;
use engine::benchmark::median;

/// One forward pass, timed on the page's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PassTime {
    /// The cache was empty: the pass read the prompt.
    pub prefill: bool,
    pub seconds: f64,
}

/// A run's speed. Prefill is the time of the passes that read the prompt
/// (those of both models, for the two-model strategies); decode speed is the
/// new tokens after the first over the rest of the run's time, since the
/// first new token comes out of the prefill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed {
    /// Prompt tokens per second of prefill; `None` when nothing was timed.
    pub prefill_tps: Option<f64>,
    /// New tokens after the first per second after the prefill; `None`
    /// with fewer than two new tokens.
    pub decode_tps: Option<f64>,
}

impl Speed {
    /// The speed of a run of `seconds` in all that read `prompt_tokens` and
    /// produced `new_tokens` in `passes`.
    pub fn of_run(
        prompt_tokens: usize,
        new_tokens: usize,
        passes: &[PassTime],
        seconds: f64,
    ) -> Speed {
        let prefill: f64 = passes.iter().filter(|p| p.prefill).map(|p| p.seconds).sum();
        Speed {
            prefill_tps: rate(prompt_tokens, prefill),
            decode_tps: rate(new_tokens.saturating_sub(1), seconds - prefill),
        }
    }

    /// The median of each figure over `runs` (those that have it).
    pub fn median_of(runs: &[Speed]) -> Speed {
        let of = |f: fn(&Speed) -> Option<f64>| median(runs.iter().filter_map(f).collect());
        Speed {
            prefill_tps: of(|s| s.prefill_tps),
            decode_tps: of(|s| s.decode_tps),
        }
    }
}

/// `tokens / seconds`, when both make a rate.
fn rate(tokens: usize, seconds: f64) -> Option<f64> {
    (tokens > 0 && seconds > 0.0 && seconds.is_finite()).then(|| tokens as f64 / seconds)
}

/// A figure for people: `1234`, `123.4`, `1.23`; a dash for none.
pub fn figure(x: Option<f64>) -> String {
    match x {
        None => "—".into(),
        Some(x) if x >= 1000.0 => format!("{x:.0}"),
        Some(x) if x >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
    }
}

/// GPU time of one kernel kind per decode token.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelRow {
    /// `linear`, `attention`, `logits`, ...
    pub kind: &'static str,
    pub ms_per_token: f64,
    pub dispatches_per_token: f64,
    /// Share of the GPU time of all kinds.
    pub share: f64,
    /// Bytes its dispatches read and wrote over their time; `None` when the
    /// timestamps measured no time.
    pub gb_per_s: Option<f64>,
}

impl From<&KernelProfile> for KernelRow {
    fn from(k: &KernelProfile) -> KernelRow {
        KernelRow {
            kind: k.kind,
            ms_per_token: k.seconds_per_token * 1e3,
            dispatches_per_token: k.dispatches_per_token,
            share: k.share,
            gb_per_s: k.gb_per_second,
        }
    }
}

/// What the benchmark could say of each kernel.
#[derive(Debug, Clone, PartialEq)]
pub enum Profile {
    /// GPU time per kernel kind, from timestamp queries.
    Kernels(Vec<KernelRow>),
    /// The browser gives no timestamp queries.
    NoTimestamps,
    /// The model runs on the CPU: there are no kernels to time.
    Cpu,
}

/// What the benchmark measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    pub model: String,
    /// The adapter, as the device line says it (`wgpu: <adapter> (<backend>)`).
    pub device: String,
    /// The adapter as the browser names it (vendor, architecture, ...),
    /// where it does.
    pub adapter: Option<String>,
    /// `gpu` or `emulated` on WebGPU; `None` on the CPU.
    pub kernel_set: Option<&'static str>,
    pub prompt_tokens: usize,
    pub new_tokens: usize,
    pub runs: usize,
    /// The medians over the runs.
    pub speed: Speed,
    pub profile: Profile,
}

impl BenchResult {
    /// The text to paste into a report: every figure, and `browser` (the
    /// user agent) so that the browser and its version are known.
    pub fn report(&self, browser: &str) -> String {
        let mut out = vec![
            "GPT-2 playground benchmark".to_string(),
            format!("model: {}", self.model),
            match self.kernel_set {
                Some(set) => format!("device: {}; kernels: {set}", self.device),
                None => format!("device: {}", self.device),
            },
            format!(
                "adapter: {}",
                self.adapter
                    .as_deref()
                    .unwrap_or("(the browser does not say)")
            ),
            format!(
                "greedy, {} prompt tokens, {} new tokens, median of {} runs",
                self.prompt_tokens, self.new_tokens, self.runs
            ),
            format!("prefill: {} tokens/s", figure(self.speed.prefill_tps)),
            format!("decode: {} tokens/s", figure(self.speed.decode_tps)),
        ];
        match &self.profile {
            Profile::Kernels(rows) => {
                let total: f64 = rows.iter().map(|r| r.ms_per_token).sum();
                out.push(format!(
                    "GPU time per decode token (timestamp queries): {total:.3} ms"
                ));
                out.push(format!(
                    "{:<12}{:>10}{:>7}{:>12}{:>9}",
                    "kernel", "ms/token", "share", "dispatches", "GB/s"
                ));
                for r in rows {
                    out.push(format!(
                        "{:<12}{:>10.3}{:>6.0}%{:>12.1}{:>9}",
                        r.kind,
                        r.ms_per_token,
                        r.share * 100.0,
                        r.dispatches_per_token,
                        figure(r.gb_per_s)
                    ));
                }
            }
            Profile::NoTimestamps => {
                out.push("per-kernel times: none (the browser gives no timestamp queries)".into())
            }
            Profile::Cpu => out.push("per-kernel times: none (the model runs on the CPU)".into()),
        }
        out.push(format!("browser: {browser}"));
        out.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn pass(prefill: bool, seconds: f64) -> PassTime {
        PassTime { prefill, seconds }
    }

    #[test]
    fn decode_counts_the_tokens_after_the_first_over_the_time_after_the_prompt() {
        // 8 prompt tokens in 0.1 s; 5 new tokens, the 4 after the first in 0.4 s.
        let passes = [
            pass(true, 0.1),
            pass(false, 0.1),
            pass(false, 0.1),
            pass(false, 0.1),
            pass(false, 0.1),
        ];
        let s = Speed::of_run(8, 5, &passes, 0.5);
        assert!((s.prefill_tps.unwrap() - 80.0).abs() < 1e-9, "{s:?}");
        assert!((s.decode_tps.unwrap() - 10.0).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn the_prefill_of_both_models_counts_and_time_between_passes_is_decode() {
        // Speculative or contrastive: the draft's and the target's prompt passes.
        let passes = [pass(true, 0.05), pass(true, 0.15), pass(false, 0.1)];
        let s = Speed::of_run(10, 3, &passes, 0.6);
        assert!((s.prefill_tps.unwrap() - 50.0).abs() < 1e-9, "{s:?}");
        // 2 tokens over 0.6 - 0.2 s: the host's time between passes counts.
        assert!((s.decode_tps.unwrap() - 5.0).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn no_rate_without_tokens_or_time() {
        let one = Speed::of_run(4, 1, &[pass(true, 0.2)], 0.2);
        assert_eq!(one.decode_tps, None, "one new token has no decode speed");
        assert!(one.prefill_tps.is_some());
        let untimed = Speed::of_run(4, 3, &[pass(true, 0.0), pass(false, 0.0)], 0.0);
        assert_eq!(
            untimed,
            Speed {
                prefill_tps: None,
                decode_tps: None
            }
        );
        let nothing = Speed::of_run(4, 0, &[], 0.0);
        assert_eq!(nothing.prefill_tps, None);
    }

    #[test]
    fn medians_take_each_figure_over_the_runs_that_have_it() {
        let s = |p: Option<f64>, d: Option<f64>| Speed {
            prefill_tps: p,
            decode_tps: d,
        };
        let m = Speed::median_of(&[
            s(Some(3.0), Some(10.0)),
            s(Some(1.0), None),
            s(Some(2.0), Some(20.0)),
        ]);
        assert_eq!(m, s(Some(2.0), Some(15.0)));
        assert_eq!(Speed::median_of(&[]), s(None, None));
    }

    #[test]
    fn the_report_holds_every_figure() {
        let result = BenchResult {
            model: "gpt2".into(),
            device: "wgpu: WebGPU".into(),
            adapter: Some("nvidia / hopper".into()),
            kernel_set: Some("gpu"),
            prompt_tokens: 32,
            new_tokens: 64,
            runs: 3,
            speed: Speed {
                prefill_tps: Some(1234.4),
                decode_tps: Some(98.76),
            },
            profile: Profile::Kernels(vec![KernelRow {
                kind: "linear",
                ms_per_token: 1.5,
                dispatches_per_token: 4.0,
                share: 0.75,
                gb_per_s: Some(10.0),
            }]),
        };
        let text = result.report("Mozilla/5.0 Test");
        for needle in [
            "model: gpt2",
            "device: wgpu: WebGPU; kernels: gpu",
            "adapter: nvidia / hopper",
            "32 prompt tokens, 64 new tokens, median of 3 runs",
            "prefill: 1234 tokens/s",
            "decode: 98.8 tokens/s",
            "1.500 ms",
            "linear",
            "75%",
            "browser: Mozilla/5.0 Test",
        ] {
            assert!(text.contains(needle), "{needle:?} is missing from\n{text}");
        }
        let none = BenchResult {
            profile: Profile::NoTimestamps,
            ..result
        };
        assert!(none
            .report("x")
            .contains("the browser gives no timestamp queries"));
    }
}
