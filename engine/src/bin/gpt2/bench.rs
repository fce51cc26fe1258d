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
    run as run_strategy, BeamParams, ContrastiveParams, DraftSource, GenerateOptions,
    SamplingParams, SpeculativeParams, Strategy as Decoding,
};
use engine::{Error, Result};
use serde_json::{json, Value};

use engine::benchmark::prompt_ids;

use crate::args::{self, BenchArgs, Strategy};
use crate::bench_device;
use crate::bench_report::{print_table, speculative_prediction, summarize};
use crate::load::{load, load_second};
use crate::timed::{Pass, Timed};

/// What one run measured.
pub(crate) struct Run {
    pub(crate) seconds: f64,
    pub(crate) prefill_seconds: f64,
    /// Mean time of the decode passes (not prefill) of the model and of the
    /// second model (draft or amateur).
    pub(crate) pass_seconds: Option<f64>,
    pub(crate) second_pass_seconds: Option<f64>,
    /// Passes of the model after its prefill.
    pub(crate) decode_passes: usize,
    pub(crate) ids: Vec<u32>,
    pub(crate) accepted: Option<usize>,
    pub(crate) drafted: Option<usize>,
    pub(crate) target_passes: Option<usize>,
    /// GPU work of the decode passes, where the backend counts it.
    pub(crate) work: Option<DeviceWork>,
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
    let (draft, amateur) = load_second_models(args)?;
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
        forced: Vec::new(),
        whole_rows: false,
    };
    let mut results = Vec::new();
    for &strategy in &args.strategies {
        if !args.model.json {
            eprintln!("timing {} ...", strategy.name());
        }
        let runs = time_runs(strategy, &models, &prompt, &options, args)?;
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
    #[allow(unused_mut)]
    let mut out = report(args, &loaded.model, &prompt, &results, profile);
    #[cfg(feature = "cuda")]
    if crate::bench_fused::wanted(args) {
        if !args.model.json {
            eprintln!("timing greedy by the fused CUDA step ...");
        }
        let greedy = results
            .iter()
            .find(|(s, _)| *s == Strategy::Greedy)
            .and_then(|(_, v)| serde_json::from_value::<Vec<u32>>(v["ids"].clone()).ok());
        out["fused_step"] =
            crate::bench_fused::run(args, &loaded.model, &prompt, greedy.as_deref());
    }
    if args.model.json {
        println!("{out}");
    } else {
        print_table(&out);
    }
    Ok(())
}

/// The draft and the amateur, for the strategies that are timed.
fn load_second_models(args: &BenchArgs) -> Result<(Option<Model>, Option<Model>)> {
    let wants = |s| args.strategies.contains(&s);
    let second = |name: &Option<String>, role| -> Result<Option<Model>> {
        name.as_deref()
            .map(|n| load_second(n, &args.model, role))
            .transpose()
    };
    let lookup = matches!(draft_source(args)?, DraftSource::PromptLookup { .. });
    let draft = if wants(Strategy::Speculative) && !lookup {
        second(&args.draft, "draft")?
    } else {
        None
    };
    let amateur = if wants(Strategy::Contrastive) {
        second(&args.amateur, "amateur")?
    } else {
        None
    };
    Ok((draft, amateur))
}

/// The warm-up runs, then the timed ones (kept).
fn time_runs(
    strategy: Strategy,
    models: &Models,
    prompt: &[u32],
    options: &GenerateOptions,
    args: &BenchArgs,
) -> Result<Vec<Run>> {
    let mut runs = Vec::new();
    for i in 0..args.warmup.saturating_add(args.runs) {
        let seed = args.seed.wrapping_add(i.saturating_sub(args.warmup) as u64);
        let run = run_once(strategy, models, prompt, options, args, seed)?;
        if i >= args.warmup {
            runs.push(run);
        }
    }
    Ok(runs)
}

/// Everything measured, as JSON.
fn report(
    args: &BenchArgs,
    model: &Model,
    prompt: &[u32],
    results: &[(Strategy, Value)],
    profile: Value,
) -> Value {
    json!({
        "model": args.model.model,
        "device": model.device_name(),
        "cpu_kernels": model.cpu_kernels(),
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
        "speculative_prediction": speculative_prediction(results, args.gamma),
        "profile": profile,
    })
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
            "--strategies speculative needs --draft MODEL (e.g. --draft gpt2) or \
             --draft prompt-lookup",
        ));
    }
    draft_source(args)?;
    if args.strategies.contains(&Strategy::Contrastive) && args.amateur.is_none() {
        return Err(Error::input(
            "--strategies contrastive needs --amateur MODEL (e.g. --amateur gpt2)",
        ));
    }
    Ok(())
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
    let decoding = bench_strategy(strategy, args, seed)?;
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
        return Err(Error::Backend(format!(
            "{} returned no sequence",
            strategy.name()
        )));
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
fn bench_strategy(strategy: Strategy, args: &BenchArgs, seed: u64) -> Result<Decoding> {
    Ok(match strategy {
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
            draft: draft_source(args)?,
            sampling: SamplingParams {
                temperature: 0.0,
                ..SamplingParams::default()
            },
            seed,
            num_return_sequences: 1,
        }),
        Strategy::ContrastiveSearch => {
            Decoding::ContrastiveSearch(engine::decoding::ContrastiveSearchParams::default())
        }
        Strategy::Dola => Decoding::Dola(engine::decoding::DolaParams::default()),
    })
}

/// The bench's draft: a model, or prompt lookup.
fn draft_source(args: &BenchArgs) -> Result<DraftSource> {
    args::draft_source(args.draft.as_deref(), args.max_matching_ngram_size)
}

fn mean_decode_pass(passes: &[Pass]) -> Option<f64> {
    let decode: Vec<f64> = passes
        .iter()
        .filter(|p| !p.prefill)
        .map(|p| p.seconds)
        .collect();
    (!decode.is_empty()).then(|| decode.iter().sum::<f64>() / decode.len() as f64)
}
