//! `gpt2 generate`: continue a prompt with a decoding strategy, streaming the
//! text as it is chosen; `--steps` records every step for inspection.

use std::time::Instant;

use engine::backend::block_on;
use engine::backend::LanguageModel;
use engine::decoding::{
    run as run_strategy, BeamParams, ContrastiveParams, ContrastiveSearchParams, DolaLayers,
    DolaParams, EarlyStopping, GenerateOptions, RunRecord, SamplingParams, SecondModel,
    SequenceRecord, SpeculativeParams, Step, Strategy as Decoding,
};
use engine::{Error, Result};
use serde_json::{json, Map, Value};

use crate::args::{draft_source, GenerateArgs, Strategy};
use crate::load::{load, load_second, prompt_ids};
use crate::render::{print_for_people, Stream};
use crate::sampling::sampling_params;
use engine::tokenizer::Tokenizer;

pub fn run(args: &GenerateArgs) -> Result<()> {
    check_flags(args)?;
    let loaded = load(&args.model)?;
    let (model, tokenizer) = (&loaded.model, &loaded.tokenizer);
    let prompt = prompt_ids(&args.prompt, tokenizer)?;
    let options = GenerateOptions {
        max_new_tokens: args.max_new_tokens,
        min_new_tokens: args.min_new_tokens,
        eos_token_id: Some(model.config().eos_token_id),
        forced: args.force.clone(),
        whole_rows: false,
    };
    // Before the prompt is printed: ids given directly and the strategy's
    // settings are checked here first.
    options.check(&prompt, model.config())?;
    let strategy = strategy(args, tokenizer)?;
    let json = args.model.json;

    let mut stream = Stream::new(tokenizer, !json, options.eos_token_id);
    if !json {
        stream.print(&tokenizer.decode(&prompt)?);
    }
    let mut steps: Vec<Step> = Vec::new();
    let mut extra = serde_json::Map::new();
    let start = Instant::now();
    let mut on_step = |step: Step| {
        stream.step(&step);
        if args.steps {
            steps.push(step.without_logits());
        }
    };
    let second = match strategy.second_model() {
        Some(role) => {
            let name = match role {
                SecondModel::Amateur => &args.amateur,
                SecondModel::Draft => &args.draft,
            };
            Some(load_second(
                name.as_deref().unwrap_or_default(),
                &args.model,
                role.name(),
            )?)
        }
        None => None,
    };
    let outcome = block_on(run_strategy(
        &strategy,
        model,
        second.as_ref(),
        &prompt,
        &options,
        &mut on_step,
    ))?;
    if let Some(s) = &outcome.speculative {
        extra.insert("drafted".into(), s.drafted.into());
        extra.insert("accepted".into(), s.accepted.into());
        extra.insert("target_passes".into(), s.target_passes.into());
        extra.insert("acceptance_rate".into(), json!(s.acceptance_rate()));
    }
    let (sequences, groups) = (outcome.sequences, outcome.beam_groups);
    let seconds = start.elapsed().as_secs_f64();
    let first_token = stream
        .first_token_at
        .map_or(seconds, |t| (t - start).as_secs_f64());
    stream.finish();
    let n: usize = sequences.iter().map(|s| s.ids.len()).sum();
    let longest = sequences.iter().map(|s| s.ids.len()).max().unwrap_or(0);
    let decode_rate = if longest > 1 {
        (longest - 1) as f64 / (seconds - first_token)
    } else {
        0.0
    };
    let mut stats = json!({
        "new_tokens": n,
        "seconds": seconds,
        "tokens_per_second": n as f64 / seconds,
        "prefill_seconds": first_token,
        "decode_tokens_per_second": decode_rate,
    });
    stats.as_object_mut().expect("object").extend(extra);
    if let Some(e) = stream.error.take() {
        return Err(e);
    }
    let mut rendered = Vec::new();
    for (i, s) in sequences.iter().enumerate() {
        rendered.push(SequenceRecord {
            ids: s.ids.clone(),
            text: tokenizer.decode(&s.ids)?,
            score: s.score,
            group: groups.as_ref().and_then(|g| g.get(i)).copied(),
        });
    }
    let record = RunRecord {
        prompt_ids: prompt,
        sequences: rendered,
        stats: stats_map(stats),
        steps: None,
    };
    if json {
        println!(
            "{}",
            record.with_steps(args.steps.then_some(steps)).to_json()?
        );
    } else {
        print_for_people(args, &record, &steps, tokenizer)?;
    }
    Ok(())
}

/// The stats object's fields.
fn stats_map(stats: Value) -> Map<String, Value> {
    match stats {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Flags that belong to another strategy are mistakes: say so rather than ignore them.
fn check_flags(args: &GenerateArgs) -> Result<()> {
    use Strategy::*;
    let s = args.strategy;
    let sampled = s == Sample || (s == Speculative && args.sample);
    let sa = &args.sampling;
    let only_sample = s == Sample;
    let rules = [
        ("--num-beams", args.num_beams.is_some(), s == Beam),
        ("--length-penalty", args.length_penalty.is_some(), s == Beam),
        ("--early-stopping", args.early_stopping, s == Beam),
        (
            "--num-beam-groups",
            args.num_beam_groups.is_some(),
            s == Beam,
        ),
        (
            "--diversity-penalty",
            args.diversity_penalty.is_some(),
            s == Beam,
        ),
        (
            "--num-return-sequences",
            args.num_return_sequences.is_some(),
            s == Beam || sampled,
        ),
        (
            "--no-repeat-ngram-size",
            args.no_repeat_ngram_size.is_some(),
            s == Beam || sampled,
        ),
        ("--temperature", sa.temperature.is_some(), sampled),
        (
            "--top-k",
            sa.top_k.is_some(),
            sampled || s == ContrastiveSearch,
        ),
        ("--top-p", sa.top_p.is_some(), sampled),
        ("--min-p", sa.min_p.is_some(), sampled),
        (
            "--repetition-penalty",
            sa.repetition_penalty.is_some(),
            sampled || s == Dola,
        ),
        ("--seed", sa.seed.is_some(), sampled),
        ("--typical-p", sa.typical_p.is_some(), sampled),
        ("--epsilon-cutoff", sa.epsilon_cutoff.is_some(), sampled),
        ("--eta-cutoff", sa.eta_cutoff.is_some(), sampled),
        ("--top-h", sa.top_h.is_some(), sampled),
        ("--top-n-sigma", sa.top_n_sigma.is_some(), sampled),
        (
            "--presence-penalty / --frequency-penalty",
            sa.presence_penalty.is_some() || sa.frequency_penalty.is_some(),
            sampled,
        ),
        (
            "--dry-multiplier (and the other --dry-* flags)",
            sa.dry_multiplier.is_some(),
            sampled,
        ),
        ("--samplers", sa.samplers.is_some(), sampled),
        // Stateful or needing a pass of their own: sampling only.
        (
            "--xtc-probability / --xtc-threshold",
            sa.xtc_probability.is_some() || sa.xtc_threshold.is_some(),
            only_sample,
        ),
        (
            "--mirostat-tau / --mirostat-eta",
            sa.mirostat_tau.is_some() || sa.mirostat_eta.is_some(),
            only_sample,
        ),
        (
            "--guidance-scale / --negative-prompt",
            sa.guidance_scale.is_some() || sa.negative_prompt.is_some(),
            only_sample,
        ),
        ("--amateur", args.amateur.is_some(), s == Contrastive),
        (
            "--alpha / --lambda / --amateur-temperature",
            args.alpha.is_some() || args.lambda.is_some() || args.amateur_temperature.is_some(),
            s == Contrastive,
        ),
        ("--draft", args.draft.is_some(), s == Speculative),
        (
            "--max-matching-ngram-size",
            args.max_matching_ngram_size.is_some(),
            s == Speculative,
        ),
        ("--gamma", args.gamma.is_some(), s == Speculative),
        ("--sample", args.sample, s == Speculative),
        (
            "--penalty-alpha",
            args.penalty_alpha.is_some(),
            s == ContrastiveSearch,
        ),
        ("--dola-layers", args.dola_layers.is_some(), s == Dola),
        (
            "--force",
            !args.force.is_empty(),
            s == Greedy || s == Sample,
        ),
    ];
    let why = match (s, args.sample) {
        (Speculative, false) => " without --sample",
        // Only the stateful samplers reach here with --sample.
        (Speculative, true) => {
            ": speculative sampling verifies the draft against a distribution of the \
             context alone, which XTC's coin, mirostat's μ and guidance's second pass are not"
        }
        _ => "",
    };
    for (flag, given, applies) in rules {
        if given && !applies {
            let name = args.strategy.name();
            return Err(Error::input(format!(
                "{flag} does not apply to --strategy {name}{why}"
            )));
        }
    }
    if s == Contrastive && args.amateur.is_none() {
        return Err(Error::input(
            "--strategy contrastive needs --amateur MODEL (e.g. --amateur gpt2)",
        ));
    }
    if s == Speculative && args.draft.is_none() {
        return Err(Error::input(
            "--strategy speculative needs --draft MODEL (e.g. --draft gpt2) or \
             --draft prompt-lookup",
        ));
    }
    draft_source(args.draft.as_deref(), args.max_matching_ngram_size)?;
    if args.num_return_sequences == Some(0) {
        return Err(Error::input("--num-return-sequences must be at least 1"));
    }
    Ok(())
}

/// The engine's strategy for the flags given.
fn strategy(args: &GenerateArgs, tokenizer: &Tokenizer) -> Result<Decoding> {
    let seed = args.sampling.seed.unwrap_or(0);
    let num_return_sequences = args.num_return_sequences.unwrap_or(1);
    let strategy = match args.strategy {
        Strategy::Greedy => Decoding::Greedy,
        Strategy::Beam => Decoding::Beam(BeamParams {
            num_beams: args.num_beams.unwrap_or(4),
            length_penalty: args.length_penalty.unwrap_or(1.0),
            early_stopping: if args.early_stopping {
                EarlyStopping::True
            } else {
                EarlyStopping::False
            },
            num_return_sequences,
            no_repeat_ngram_size: args.no_repeat_ngram_size,
            num_beam_groups: args.num_beam_groups.unwrap_or(1),
            diversity_penalty: args.diversity_penalty.unwrap_or(0.0),
        }),
        Strategy::Sample => Decoding::Sample {
            sampling: sampling_params(args, tokenizer)?,
            seed,
            num_return_sequences,
        },
        Strategy::Contrastive => Decoding::Contrastive(ContrastiveParams {
            alpha: args.alpha.unwrap_or(0.1),
            lambda: args.lambda.unwrap_or(1.0),
            amateur_temperature: args.amateur_temperature.unwrap_or(1.0),
        }),
        // Without --sample, temperature 0: verification takes the argmax.
        Strategy::Speculative => Decoding::Speculative(SpeculativeParams {
            gamma: args.gamma.unwrap_or(4),
            draft: draft_source(args.draft.as_deref(), args.max_matching_ngram_size)?,
            sampling: if args.sample {
                sampling_params(args, tokenizer)?
            } else {
                SamplingParams {
                    temperature: 0.0,
                    ..SamplingParams::default()
                }
            },
            seed,
            num_return_sequences,
        }),
        Strategy::ContrastiveSearch => {
            let defaults = ContrastiveSearchParams::default();
            Decoding::ContrastiveSearch(ContrastiveSearchParams {
                penalty_alpha: args.penalty_alpha.unwrap_or(defaults.penalty_alpha),
                top_k: args.sampling.top_k.unwrap_or(defaults.top_k),
            })
        }
        Strategy::Dola => Decoding::Dola(DolaParams {
            layers: match &args.dola_layers {
                Some(layers) => layers.parse::<DolaLayers>()?,
                None => DolaLayers::High,
            },
            repetition_penalty: args.sampling.repetition_penalty,
        }),
    };
    strategy.validate()?;
    Ok(strategy)
}
