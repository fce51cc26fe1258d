//! What `gpt2 bench` makes of its runs: the medians, the speedup Leviathan
//! et al.'s eq. 1 predicts for speculative decoding, and the table for people.

use engine::benchmark::median;
use serde_json::{json, Value};

use crate::args::Strategy;
use crate::bench::Run;
use crate::bench_device;

/// The medians over the runs, as JSON.
pub(crate) fn summarize(runs: &[Run], prompt: usize, new_tokens: usize) -> Value {
    let med = |f: &dyn Fn(&Run) -> Option<f64>| -> Option<f64> {
        let xs: Vec<f64> = runs.iter().filter_map(f).collect();
        median(xs)
    };
    let last = runs.last().expect("at least one run");
    json!({
        "prefill_tokens_per_second": med(&|r| Some(prompt as f64 / r.prefill_seconds)),
        "decode_tokens_per_second":
            med(&|r| Some((new_tokens - 1) as f64 / (r.seconds - r.prefill_seconds))),
        "seconds": med(&|r| Some(r.seconds)),
        "prefill_seconds": med(&|r| Some(r.prefill_seconds)),
        "pass_seconds": med(&|r| r.pass_seconds),
        "second_pass_seconds": med(&|r| r.second_pass_seconds),
        "decode_passes": last.decode_passes,
        "accepted": last.accepted,
        "drafted": last.drafted,
        "target_passes": last.target_passes,
        "ids": last.ids,
    })
}

/// Leviathan et al. 2022, eq. 1: with per-token acceptance α, γ drafts per
/// round and a draft pass costing c target passes, speculative decoding is
/// `(1 - α^(γ+1)) / ((1 - α)(γc + 1))` times as fast as the target alone.
/// α is solved from the measured tokens per target pass (the left factor is
/// their expectation), c from the measured pass times; the measured speedup is
/// speculative's decode speed over greedy's. Eq. 1 takes a verify pass (γ + 1
/// positions) to cost one target pass, as on a GPU; on a CPU it costs more, so
/// the prediction with the verify pass's measured cost `v` is given too:
/// `E / (γc + v)`.
pub(crate) fn speculative_prediction(results: &[(Strategy, Value)], gamma: usize) -> Value {
    let find = |s| results.iter().find(|(k, _)| *k == s).map(|(_, v)| v);
    let (Some(greedy), Some(spec)) = (find(Strategy::Greedy), find(Strategy::Speculative)) else {
        return Value::Null;
    };
    let get = |v: &Value, k: &str| v[k].as_f64();
    let (Some(t_target), Some(t_verify), Some(t_draft), Some(passes), Some(g_rate), Some(s_rate)) = (
        get(greedy, "pass_seconds"),
        get(spec, "pass_seconds"),
        get(spec, "second_pass_seconds"),
        get(spec, "target_passes"),
        get(greedy, "decode_tokens_per_second"),
        get(spec, "decode_tokens_per_second"),
    ) else {
        return Value::Null;
    };
    let tokens = spec["ids"].as_array().map_or(0, |a| a.len()) as f64;
    let per_pass = tokens / passes;
    let alpha = acceptance_from_tokens_per_pass(per_pass, gamma);
    let c = t_draft / t_target;
    let predicted = per_pass / (gamma as f64 * c + 1.0);
    let verify = t_verify / t_target;
    let with_verify = per_pass / (gamma as f64 * c + verify);
    let measured = s_rate / g_rate;
    json!({
        "gamma": gamma,
        "tokens_per_target_pass": per_pass,
        "alpha": alpha,
        "cost_ratio": c,
        "predicted_speedup": predicted,
        "measured_speedup": measured,
        "measured_over_predicted": measured / predicted,
        "verify_cost": verify,
        "predicted_speedup_measured_verify": with_verify,
        "measured_over_predicted_measured_verify": measured / with_verify,
    })
}

/// The α with `(1 - α^(γ+1)) / (1 - α) = e` (expected tokens per round),
/// by bisection; `e` runs from 1 (α = 0) to γ + 1 (α = 1).
fn acceptance_from_tokens_per_pass(e: f64, gamma: usize) -> f64 {
    let expected = |a: f64| (0..=gamma).map(|i| a.powi(i as i32)).sum::<f64>();
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    if e <= 1.0 {
        return 0.0;
    }
    if e >= gamma as f64 + 1.0 {
        return 1.0;
    }
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if expected(mid) < e {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

pub(crate) fn print_table(out: &Value) {
    let kernels = out["cpu_kernels"]
        .as_str()
        .map_or(String::new(), |k| format!(" ({k})"));
    println!(
        "{} on {}{kernels}: {} prompt tokens, {} new tokens, median of {} runs",
        out["model"].as_str().unwrap_or_default(),
        out["device"].as_str().unwrap_or_default(),
        out["prompt_tokens"],
        out["new_tokens"],
        out["runs"]
    );
    println!(
        "{:<19}{:>18}{:>18}{:>12}{:>14}",
        "strategy", "prefill tok/s", "decode tok/s", "seconds", "ms per pass"
    );
    for s in out["strategies"].as_array().into_iter().flatten() {
        let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<19}{:>18.1}{:>18.1}{:>12.3}{:>14.2}",
            s["strategy"].as_str().unwrap_or_default(),
            f("prefill_tokens_per_second"),
            f("decode_tokens_per_second"),
            f("seconds"),
            f("pass_seconds") * 1e3
        );
    }
    let fused = &out["fused_step"];
    if let Some(e) = fused["error"].as_str() {
        println!("greedy by the fused CUDA step: failed: {e}");
    } else if !fused.is_null() {
        let f = |k: &str| fused[k].as_f64().unwrap_or(f64::NAN);
        let agree = match fused["ids_agree_with_greedy"].as_bool() {
            Some(true) => "the same ids as greedy",
            Some(false) => "ids DIFFERENT from greedy's",
            None => "greedy not timed to compare ids",
        };
        println!(
            "{:<19}{:>18.1}{:>18.1}   {} launches a token; {agree}",
            "greedy (fused)",
            f("prefill_tokens_per_second"),
            f("decode_tokens_per_second"),
            fused["launches_per_token"]
        );
    }
    let p = &out["speculative_prediction"];
    if !p.is_null() {
        let f = |k: &str| p[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "speculative: {:.2} tokens per target pass (α = {:.3}, γ = {}), draft/target cost \
             c = {:.3}: eq. 1 predicts {:.2}x, measured {:.2}x ({:.0}% of predicted); a verify \
             pass costs {:.2} target passes, and with that eq. 1 predicts {:.2}x ({:.0}%)",
            f("tokens_per_target_pass"),
            f("alpha"),
            p["gamma"],
            f("cost_ratio"),
            f("predicted_speedup"),
            f("measured_speedup"),
            f("measured_over_predicted") * 100.0,
            f("verify_cost"),
            f("predicted_speedup_measured_verify"),
            f("measured_over_predicted_measured_verify") * 100.0
        );
    }
    bench_device::print(out);
}

#[cfg(test)]
mod tests {
    use super::acceptance_from_tokens_per_pass;

    #[test]
    fn acceptance_inverts_the_expected_tokens_per_round() {
        for gamma in [1, 4, 8] {
            for alpha in [0.05, 0.3, 0.6, 0.9, 0.99] {
                let e: f64 = (0..=gamma).map(|i| f64::powi(alpha, i)).sum();
                let got = acceptance_from_tokens_per_pass(e, gamma as usize);
                assert!((got - alpha).abs() < 1e-9, "γ={gamma} α={alpha}: {got}");
            }
        }
        assert_eq!(acceptance_from_tokens_per_pass(1.0, 4), 0.0);
        assert_eq!(acceptance_from_tokens_per_pass(5.0, 4), 1.0);
    }
}
