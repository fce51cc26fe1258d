use super::*;
use engine::decoding::Candidate;
// Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// An `Expected` with `top` as (id, logprob).
fn exp(logprob: f32, rank: usize, top: &[(u32, f32)]) -> Expected {
    Expected {
        logprob,
        rank,
        top: top
            .iter()
            .map(|&(id, logprob)| Candidate { id, logprob })
            .collect(),
    }
}

#[test]
fn the_first_token_has_no_number_and_the_others_theirs() {
    let kept = vec![exp(-2.0, 3, &[(7, -0.5)]), exp(-0.25, 1, &[(9, -0.25)])];
    let s = PromptSurprise::new("abc", &[5, 6, 9], Ok(kept), |id| format!("t{id}"));
    let numbers: Vec<_> = s.tokens.iter().map(|t| (t.id, t.logprob, t.rank)).collect();
    assert_eq!(
        numbers,
        [
            (5, None, None),
            (6, Some(-2.0), Some(3)),
            (9, Some(-0.25), Some(1))
        ]
    );
    assert!(s.tokens[0].alternatives.is_empty());
    assert_eq!(
        s.tokens[1].alternatives,
        [Alternative {
            id: 7,
            text: "t7".into(),
            logprob: -0.5
        }]
    );
    let (total, n, perplexity) = s.totals().unwrap();
    assert_eq!((total, n), (-2.25, 2));
    assert!((perplexity - 1.125f64.exp()).abs() < 1e-12, "{perplexity}");
    assert_eq!(s.missing, None);
}

#[test]
fn a_refused_capture_shows_the_tokens_and_says_why() {
    let s = PromptSurprise::new("ab", &[5, 6], Err("too long".into()), |id| id.to_string());
    assert_eq!(s.tokens.len(), 2);
    assert!(s.tokens.iter().all(|t| t.logprob.is_none()));
    assert_eq!(s.totals(), None);
    assert_eq!(s.missing.as_deref(), Some("too long"));
}

#[test]
fn bands_run_from_expected_to_surprising_and_the_legend_names_each() {
    let bands: Vec<usize> = [
        0.0,
        -1.0,
        -1.01,
        -3.0,
        -5.9,
        -6.0,
        -10.0,
        -10.5,
        f32::NEG_INFINITY,
    ]
    .iter()
    .map(|&l| band(l))
    .collect();
    assert_eq!(bands, [0, 0, 1, 1, 2, 2, 3, 4, 4]);
    let labels = band_labels();
    assert_eq!(labels.len(), BANDS.len() + 1);
    assert_eq!(labels[0], "log p ≥ -1 (p ≥ 36.79%)");
    assert_eq!(labels[1], "-1 to -3");
    assert_eq!(labels[4], "< -10 (p < 4.5e-3%)");
}

#[test]
fn tail_keeps_the_last_positions_of_every_row() {
    let logits = Logits {
        rows: 2,
        positions: 3,
        vocab: 2,
        data: (0..12).map(|x| x as f32).collect(),
    };
    let t = tail(logits, 1);
    assert_eq!((t.rows, t.positions, t.vocab), (2, 1, 2));
    assert_eq!(t.data, [4.0, 5.0, 10.0, 11.0]);
}

/// The adapter on real passes: a seeded random model on the CPU (or wgpu).
#[cfg(not(target_arch = "wasm32"))]
mod passes {
    use super::*;
    use engine::backend::{block_on, Device, Model};
    use engine::decoding::{
        run, score, BeamParams, ContrastiveSearchParams, DolaParams, DraftSource, GenerateOptions,
        Outcome, SamplingParams, SpeculativeParams, Step, Strategy,
    };
    use engine::weights::random::RandomCheckpoint;
    use engine::weights::{Gpt2Checkpoint, SafetensorsFile};

    const PROMPT: [u32; 6] = [11, 40, 3, 40, 3, 7];

    fn model() -> Model {
        let mut config = Gpt2Config::new(2, 2, 16, 32);
        config.vocab_size = 64;
        let bytes = RandomCheckpoint::new(config.clone(), 5).safetensors_bytes();
        let file = SafetensorsFile::from_bytes(bytes, "model.safetensors").unwrap();
        let checkpoint = Gpt2Checkpoint::new(file, &config).unwrap();
        // `GPT2_TEST_DEVICE=wgpu`, as the engine's tests take it: Vulkan natively.
        let device = match std::env::var("GPT2_TEST_DEVICE").as_deref() {
            Ok("wgpu") => Device::Wgpu(Default::default()),
            _ => Device::Cpu,
        };
        block_on(Model::load(&checkpoint, &config, &device)).unwrap()
    }

    fn strategies() -> Vec<Strategy> {
        let sampling = SamplingParams {
            temperature: 0.9,
            top_k: Some(20),
            ..SamplingParams::default()
        };
        vec![
            Strategy::Greedy,
            Strategy::Sample {
                sampling: sampling.clone(),
                seed: 3,
                num_return_sequences: 1,
            },
            Strategy::Beam(BeamParams {
                num_beams: 3,
                ..BeamParams::default()
            }),
            Strategy::Speculative(SpeculativeParams {
                gamma: 3,
                draft: DraftSource::PromptLookup {
                    max_matching_ngram_size: 2,
                },
                sampling,
                seed: 4,
                num_return_sequences: 1,
            }),
            Strategy::ContrastiveSearch(ContrastiveSearchParams::default()),
            Strategy::Dola(DolaParams::default()),
        ]
    }

    fn go<M: LanguageModel>(model: &M, strategy: &Strategy) -> (Outcome, Vec<Step>) {
        let options = GenerateOptions {
            max_new_tokens: 5,
            min_new_tokens: 0,
            eos_token_id: None,
            forced: Vec::new(),
            whole_rows: false,
        };
        let mut steps = Vec::new();
        let outcome = block_on(run(
            strategy,
            model,
            None::<&M>,
            &PROMPT,
            &options,
            &mut |s| steps.push(s),
        ))
        .unwrap_or_else(|e| panic!("{strategy:?}: {e}"));
        (outcome, steps)
    }

    #[test]
    fn every_strategy_runs_as_before_and_the_prompt_is_scored_as_gpt2_score_does() {
        let model = model();
        let scored = block_on(score(&model, &PROMPT)).unwrap();
        for strategy in strategies() {
            let keep = KeepPrompt::new(&model, &PROMPT);
            let (plain, plain_steps) = go(&model, &strategy);
            let (kept, kept_steps) = go(&keep, &strategy);
            let name = strategy.method().name();
            assert_eq!(kept.sequences, plain.sequences, "{name}: the sequences");
            assert_eq!(kept_steps, plain_steps, "{name}: the steps");
            let numbers = keep.take().expect("the first pass kept nothing").unwrap();
            assert_eq!(numbers.len(), PROMPT.len() - 1, "{name}");
            for (i, (e, &s)) in numbers.iter().zip(&scored).enumerate() {
                assert!(
                    (e.logprob - s).abs() < 1e-5,
                    "{name}: token {}: kept log p {} vs gpt2 score's {s}",
                    i + 1,
                    e.logprob
                );
                assert_eq!(e.top.len(), ALTERNATIVES, "{name}");
            }
            assert!(keep.take().is_none(), "{name}: kept twice");
        }
    }

    #[test]
    fn a_one_token_prompt_keeps_nothing_and_costs_nothing() {
        let model = model();
        let keep = KeepPrompt::new(&model, &PROMPT[..1]);
        let mut cache = keep.new_cache(1).unwrap();
        let logits = block_on(keep.forward(&mut cache, &[&PROMPT[..1]], 1)).unwrap();
        assert_eq!(logits.positions, 1);
        assert_eq!(keep.take(), Some(Ok(Vec::new())));
    }
}
