//! `gpt2 bench`: prefill and decode speed of decoding strategies for one model
//! on one device, timed pass by pass; with two-model strategies, the second
//! model's passes too, and for speculative decoding the speedup that
//! Leviathan et al.'s eq. 1 predicts from the measured acceptance and costs.
//!
//! Every run generates exactly `--new-tokens` tokens (end-of-text is held off),
//! so strategies and implementations compare on the same work. Prefill is the
//! time of the passes that read the prompt (an empty cache); decode speed is
//! `(new_tokens - 1) / (run time - prefill time)`, since the first new token
//! comes out of the prefill.

use std::time::Instant;

use engine::backend::{block_on, DeviceWork, LanguageModel, Model};
use engine::decoding::{
    run as run_strategy, BeamParams, ContrastiveParams, GenerateOptions, SamplingParams,
    SpeculativeParams, Strategy as Decoding,
};
use engine::tokenizer::Tokenizer;
use engine::{Error, Result};
use serde_json::{json, Value};

use crate::args::{BenchArgs, Strategy};
use crate::bench_device;
use crate::load::{load, load_second};
use crate::timed::{Pass, Timed};

/// The prompt, repeated to the asked length.
const PROMPT_TEXT: &str = "The playground shows how a language model picks its words, one \
    token at a time, and how each decoding method changes the text it writes. ";

/// What one run measured.
struct Run {
    seconds: f64,
    prefill_seconds: f64,
    /// Mean time of the decode passes (not prefill) of the model and of the
    /// second model (draft or amateur).
    pass_seconds: Option<f64>,
    second_pass_seconds: Option<f64>,
    /// Passes of the model after its prefill.
    decode_passes: usize,
    ids: Vec<u32>,
    accepted: Option<usize>,
    drafted: Option<usize>,
    target_passes: Option<usize>,
    /// GPU work of the decode passes, where the backend counts it.
    work: Option<DeviceWork>,
}

/// The two models of a run and what they are for.
struct Models<'a> {
    main: Timed<'a, Model>,
    draft: Option<Timed<'a, Model>>,
    amateur: Option<Timed<'a, Model>>,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    check_args(args)?;
    let loaded = load(&args.model)?;
    let wants = |s| args.strategies.contains(&s);
    let second = |name: &Option<String>, role| -> Result<Option<Model>> {
        name.as_deref()
            .map(|n| load_second(n, &args.model, role))
            .transpose()
    };
    let draft = if wants(Strategy::Speculative) {
        second(&args.draft, "draft")?
    } else {
        None
    };
    let amateur = if wants(Strategy::Contrastive) {
        second(&args.amateur, "amateur")?
    } else {
        None
    };
    let models = Models {
        main: Timed::new(&loaded.model),
        draft: draft.as_ref().map(Timed::new),
        amateur: amateur.as_ref().map(Timed::new),
    };
    let config = loaded.model.config();
    let limit = [Some(&loaded.model), draft.as_ref(), amateur.as_ref()]
        .into_iter()
        .flatten()
        .map(|m| m.config().n_positions)
        .min()
        .unwrap_or(config.n_positions);
    // Checked before the prompt is made: its length is the flag's.
    if args.prompt_tokens.saturating_add(args.new_tokens) > limit {
        return Err(Error::input(format!(
            "--prompt-tokens {} + --new-tokens {} exceed the context of {limit} positions",
            args.prompt_tokens, args.new_tokens
        )));
    }
    let prompt = prompt_ids(&loaded.tokenizer, args.prompt_tokens)?;
    let options = GenerateOptions {
        max_new_tokens: args.new_tokens,
        min_new_tokens: args.new_tokens,
        eos_token_id: Some(config.eos_token_id),
    };
    let mut results = Vec::new();
    for &strategy in &args.strategies {
        if !args.model.json {
            eprintln!("timing {} ...", strategy.name());
        }
        let mut runs = Vec::new();
        for i in 0..args.warmup.saturating_add(args.runs) {
            let seed = args.seed.wrapping_add(i.saturating_sub(args.warmup) as u64);
            let run = run_once(strategy, &models, &prompt, &options, args, seed)?;
            if i >= args.warmup {
                runs.push(run);
            }
        }
        let mut summary = summarize(&runs, prompt.len(), args.new_tokens);
        let work = runs.last().and_then(|r| r.work);
        summary["device_work"] =
            bench_device::device_work_json(&loaded.model, work, args.new_tokens - 1);
        results.push((strategy, summary));
    }
    let profile = if args.profile {
        if !args.model.json {
            eprintln!("profiling greedy decode ...");
        }
        bench_device::profile(&loaded.model, &prompt, args.new_tokens)?
    } else {
        Value::Null
    };
    let prediction = speculative_prediction(&results, args.gamma);
    let out = json!({
        "model": args.model.model,
        "device": loaded.model.device_name(),
        "cpu_kernels": loaded.model.cpu_kernels(),
        "dtype": args.model.dtype.precision().name(),
        "draft": args.draft,
        "amateur": args.amateur,
        "prompt_tokens": prompt.len(),
        "new_tokens": args.new_tokens,
        "runs": args.runs,
        "prompt_ids": prompt,
        "strategies": results
            .iter()
            .map(|(s, v)| {
                let mut v = v.clone();
                v["strategy"] = json!(s.name());
                v
            })
            .collect::<Vec<_>>(),
        "speculative_prediction": prediction,
        "profile": profile,
    });
    if args.model.json {
        println!("{out}");
    } else {
        print_table(&out);
    }
    Ok(())
}

fn check_args(args: &BenchArgs) -> Result<()> {
    if args.runs == 0 {
        return Err(Error::input("--runs must be at least 1"));
    }
    if args.prompt_tokens == 0 {
        return Err(Error::input("--prompt-tokens must be at least 1"));
    }
    if args.new_tokens < 2 {
        return Err(Error::input(
            "--new-tokens must be at least 2: decode speed is measured after the first token",
        ));
    }
    if args.strategies.contains(&Strategy::Speculative) && args.draft.is_none() {
        return Err(Error::input(
            "--strategies speculative needs --draft MODEL (e.g. --draft gpt2)",
        ));
    }
    if args.strategies.contains(&Strategy::Contrastive) && args.amateur.is_none() {
        return Err(Error::input(
            "--strategies contrastive needs --amateur MODEL (e.g. --amateur gpt2)",
        ));
    }
    Ok(())
}

/// `PROMPT_TEXT`'s tokens, repeated and cut to `len`.
fn prompt_ids(tokenizer: &Tokenizer, len: usize) -> Result<Vec<u32>> {
    let text = tokenizer.encode(PROMPT_TEXT)?;
    Ok(text.iter().copied().cycle().take(len).collect())
}

fn run_once(
    strategy: Strategy,
    models: &Models,
    prompt: &[u32],
    options: &GenerateOptions,
    args: &BenchArgs,
    seed: u64,
) -> Result<Run> {
    let model = &models.main;
    let second = match strategy {
        Strategy::Speculative => models.draft.as_ref(),
        Strategy::Contrastive => models.amateur.as_ref(),
        _ => None,
    };
    let decoding = bench_strategy(strategy, args, seed);
    let start = Instant::now();
    let outcome = block_on(run_strategy(
        &decoding,
        model,
        second,
        prompt,
        options,
        &mut |_| {},
    ))?;
    let spec = outcome.speculative;
    let Some(ids) = outcome.sequences.into_iter().next() else {
        return Err(Error::Backend(format!("{} returned no sequence", strategy.name())));
    };
    let seconds = start.elapsed().as_secs_f64();
    let main = model.take();
    let second = second.map(Timed::take).unwrap_or_default();
    let prefill: f64 = main
        .iter()
        .chain(&second)
        .filter(|p| p.prefill)
        .map(|p| p.seconds)
        .sum();
    if ids.ids.len() != options.max_new_tokens {
        return Err(Error::Backend(format!(
            "{} stopped after {} of {} tokens",
            strategy.name(),
            ids.ids.len(),
            options.max_new_tokens
        )));
    }
    Ok(Run {
        seconds,
        prefill_seconds: prefill,
        pass_seconds: mean_decode_pass(&main),
        second_pass_seconds: mean_decode_pass(&second),
        decode_passes: main.iter().filter(|p| !p.prefill).count(),
        work: bench_device::decode_work(main.iter().chain(&second)),
        ids: ids.ids,
        accepted: spec.as_ref().map(|s| s.accepted),
        drafted: spec.as_ref().map(|s| s.drafted),
        target_passes: spec.as_ref().map(|s| s.target_passes),
    })
}

/// The engine's strategy for `strategy` with the bench's settings.
fn bench_strategy(strategy: Strategy, args: &BenchArgs, seed: u64) -> Decoding {
    match strategy {
        Strategy::Greedy => Decoding::Greedy,
        Strategy::Beam => Decoding::Beam(BeamParams {
            num_beams: args.num_beams,
            ..BeamParams::default()
        }),
        Strategy::Sample => Decoding::Sample {
            sampling: SamplingParams {
                temperature: args.temperature,
                top_k: Some(args.top_k),
                ..SamplingParams::default()
            },
            seed,
            num_return_sequences: 1,
        },
        Strategy::Contrastive => Decoding::Contrastive(ContrastiveParams {
            alpha: args.alpha,
            lambda: args.lambda,
            ..ContrastiveParams::default()
        }),
        // Timed with greedy verification: its tokens per pass do not depend on a seed.
        Strategy::Speculative => Decoding::Speculative(SpeculativeParams {
            gamma: args.gamma,
            sampling: SamplingParams {
                temperature: 0.0,
                ..SamplingParams::default()
            },
            seed,
            num_return_sequences: 1,
        }),
    }
}

fn mean_decode_pass(passes: &[Pass]) -> Option<f64> {
    let decode: Vec<f64> = passes
        .iter()
        .filter(|p| !p.prefill)
        .map(|p| p.seconds)
        .collect();
    (!decode.is_empty()).then(|| decode.iter().sum::<f64>() / decode.len() as f64)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The medians over the runs, as JSON.
fn summarize(runs: &[Run], prompt: usize, new_tokens: usize) -> Value {
    let med = |f: &dyn Fn(&Run) -> Option<f64>| -> Option<f64> {
        let xs: Vec<f64> = runs.iter().filter_map(f).collect();
        (!xs.is_empty()).then(|| median(xs))
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
fn speculative_prediction(results: &[(Strategy, Value)], gamma: usize) -> Value {
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

fn print_table(out: &Value) {
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
        "{:<13}{:>18}{:>18}{:>12}{:>14}",
        "strategy", "prefill tok/s", "decode tok/s", "seconds", "ms per pass"
    );
    for s in out["strategies"].as_array().into_iter().flatten() {
        let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<13}{:>18.1}{:>18.1}{:>12.3}{:>14.2}",
            s["strategy"].as_str().unwrap_or_default(),
            f("prefill_tokens_per_second"),
            f("decode_tokens_per_second"),
            f("seconds"),
            f("pass_seconds") * 1e3
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
