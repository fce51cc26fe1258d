//! The run as a file: its step events in the JSON form `gpt2 generate --json
//! --steps` prints ([`engine::decoding::RunRecord`], written by the engine
//! for both), with the figures the page measured in `stats`.

use engine::decoding::{Outcome, RunRecord, SequenceRecord, SpeculativeStats};
use engine::tokenizer::Tokenizer;
use engine::Result;
use serde_json::{json, Map, Value};

use crate::state::{Finished, RunView};

/// The run's record, once it ended without error (`None` before).
pub fn record(run: &RunView) -> Option<RunRecord> {
    let finished = run.finished.as_ref()?;
    let record = RunRecord {
        prompt_ids: run.prompt_ids.clone(),
        sequences: finished.sequences.clone(),
        stats: finished.stats.clone(),
        steps: None,
    };
    Some(record.with_steps(Some(run.steps.iter().map(|r| r.step.clone()).collect())))
}

/// What the run returned, for the export: its sequences with their text,
/// and its figures as the command line names them.
pub fn finished(
    outcome: &Outcome,
    tokenizer: &Tokenizer,
    seconds: f64,
    prefill: f64,
    decode_tps: Option<f64>,
) -> Result<Finished> {
    let groups = outcome.beam_groups.as_deref().unwrap_or_default();
    let mut sequences = Vec::new();
    for (i, s) in outcome.sequences.iter().enumerate() {
        sequences.push(SequenceRecord {
            ids: s.ids.clone(),
            text: tokenizer.decode(&s.ids)?,
            score: s.score,
            group: groups.get(i).copied(),
        });
    }
    let new_tokens = sequences.iter().map(|s| s.ids.len()).sum();
    let stats = stats(
        new_tokens,
        seconds,
        prefill,
        decode_tps,
        outcome.speculative.as_ref(),
    );
    Ok(Finished { sequences, stats })
}

/// The `stats` object as the command line fills it: `new_tokens` in
/// `seconds`, the time of the prompt's passes, the decode speed (absent
/// without one), and speculative decoding's counts.
pub fn stats(
    new_tokens: usize,
    seconds: f64,
    prefill_seconds: f64,
    decode_tps: Option<f64>,
    speculative: Option<&SpeculativeStats>,
) -> Map<String, Value> {
    let mut stats = Map::new();
    stats.insert("new_tokens".into(), new_tokens.into());
    stats.insert("seconds".into(), json!(seconds));
    stats.insert(
        "tokens_per_second".into(),
        json!(new_tokens as f64 / seconds.max(1e-9)),
    );
    stats.insert("prefill_seconds".into(), json!(prefill_seconds));
    if let Some(tps) = decode_tps {
        stats.insert("decode_tokens_per_second".into(), json!(tps));
    }
    if let Some(s) = speculative {
        stats.insert("drafted".into(), s.drafted.into());
        stats.insert("accepted".into(), s.accepted.into());
        stats.insert("target_passes".into(), s.target_passes.into());
        stats.insert("acceptance_rate".into(), json!(s.acceptance_rate()));
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Strategy;
    use crate::state::StepRecord;
    use engine::decoding::steps::StepCandidate;
    use engine::decoding::Step;
    // Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_finished_run_exports_its_steps_without_logits_and_reads_back_equal() {
        let mut run = RunView::new(Strategy::Sample, vec![6214, 345], None);
        let step = Step::Token {
            row: 0,
            chosen: 2582,
            candidates: vec![StepCandidate {
                id: 2582,
                raw_prob: 0.125,
                scaled_prob: 0.25,
                prob: 0.5,
                cut: None,
            }],
            logits: Some(vec![0.0; 8].into()),
            mirostat_mu: None,
            xtc_coin: Some(0.75),
            unconditional: None,
        };
        run.steps.push(StepRecord {
            step: step.clone(),
            before: 0,
            point: None,
        });
        assert_eq!(record(&run), None, "no record before the run ends");
        run.finished = Some(Finished {
            sequences: vec![SequenceRecord {
                ids: vec![2582],
                text: " soon".into(),
                score: -0.69,
                group: None,
            }],
            stats: stats(1, 0.5, 0.25, None, None),
        });
        let exported = record(&run).unwrap();
        let json = exported.to_json().unwrap();
        let back = RunRecord::from_json(&json).unwrap();
        assert_eq!(back, exported);
        assert_eq!(back.steps, Some(vec![step.without_logits()]));
        assert_eq!(back.stats["new_tokens"], 1);
        assert!(back.stats.get("decode_tokens_per_second").is_none());
    }
}
