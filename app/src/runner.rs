//! Running a strategy in the page: the engine's strategy runner over the
//! loaded models (each a [`Tracked`] model), every step streamed into the
//! page's state.

use std::cell::RefCell;
use std::rc::Rc;

use engine::decoding::{run as run_strategy, GenerateOptions, Outcome, Step};
use engine::Result;
use leptos::prelude::*;

use crate::settings::{Settings, Strategy};
use crate::speed::Speed;
use crate::state::{AppState, Chip, Loaded, RunView, StepRecord};
use crate::surprise::{KeepPrompt, PromptSurprise};
use crate::tracked::Tracked;

/// Runs `settings`' strategy on the loaded models, streaming into `state.run`;
/// when it ends (stopped too), its speed goes into `state.speed`.
pub async fn run(
    state: AppState,
    settings: Settings,
    main: Rc<Loaded>,
    second: Option<Rc<Loaded>>,
) -> Result<String> {
    let tokenizer = &main.tokenizer;
    let prompt = tokenizer.encode(&settings.prompt)?;
    let decoding = settings.decoding(Some(tokenizer))?;
    let mut view = RunView::new(settings.strategy, prompt.clone(), decoding.sampling());
    let local = crate::views::export::local_name(&main.name, &state);
    view.command = settings.command_line(local.as_deref());
    view.forced = settings.forced.clone();
    state.run.set(Some(view));
    state.selected.set(None);
    state.speed.set(None);
    state.surprise.set(None);
    let options = GenerateOptions {
        max_new_tokens: settings.max_new_tokens,
        min_new_tokens: 0,
        eos_token_id: tokenizer.eos_token_id(),
        forced: settings.forced.clone(),
        // The funnel, the timeline's entropy and the redrawn chart read
        // every greedy step's whole distribution.
        whole_rows: true,
    };
    let stop = state.models.with_value(|m| m.stop.clone());
    let passes = RefCell::new(Vec::new());
    let tracked = |model| Tracked {
        model,
        forwards: state.forwards,
        stop: stop.clone(),
        passes: Some(&passes),
        yields: true,
    };
    let tracked_main = tracked(&main.model);
    // The main model's first pass also scores the prompt, for its view.
    let model = KeepPrompt::new(&tracked_main, &prompt);
    let show_surprise = || {
        if let Some(kept) = model.take() {
            let text = |id| token_text(tokenizer, id);
            let surprise = PromptSurprise::new(&settings.prompt, &prompt, kept, text);
            state.surprise.set(Some(surprise));
        }
    };
    let second_model = second.as_ref().map(|s| tracked(&s.model));
    let mut on_step = |step: Step| {
        show_surprise();
        state.run.update(|run| {
            if let Some(run) = run {
                record(run, step, tokenizer);
            }
        });
    };
    let started = crate::loader::now_ms();
    let outcome = run_strategy(
        &decoding,
        &model,
        second_model.as_ref(),
        &prompt,
        &options,
        &mut on_step,
    )
    .await;
    show_surprise();
    let summary = outcome
        .as_ref()
        .map(|o| summarize(state, settings.strategy, o, tokenizer))
        .unwrap_or_default();
    let seconds = (crate::loader::now_ms() - started) / 1000.0;
    let n = state
        .run
        .with_untracked(|r| r.as_ref().map_or(0, |r| r.chips.len()));
    let speed = Speed::of_run(prompt.len(), n, &passes.borrow(), seconds);
    if n > 0 {
        state.speed.set(Some(speed));
    }
    let outcome = outcome?;
    let prefill: f64 = passes
        .borrow()
        .iter()
        .filter(|p| p.prefill)
        .map(|p| p.seconds)
        .sum();
    let finished =
        crate::export::finished(&outcome, tokenizer, seconds, prefill, speed.decode_tps)?;
    state.run.update(|run| {
        if let Some(run) = run {
            run.finished = Some(finished);
        }
    });
    let rate = format!(
        "{n} tokens in {seconds:.2} s ({:.1} tokens/s)",
        n as f64 / seconds.max(1e-6)
    );
    Ok(if summary.is_empty() {
        rate
    } else {
        format!("{rate}; {summary}")
    })
}

/// The run's closing line beyond its speed: beam search's best score (and
/// its tokens as the chips), speculative decoding's acceptance.
fn summarize(
    state: AppState,
    strategy: Strategy,
    outcome: &Outcome,
    tokenizer: &engine::tokenizer::Tokenizer,
) -> String {
    if let Some(stats) = &outcome.speculative {
        return format!(
            "{} of {} drafted tokens accepted ({:.0}%), {} target passes",
            stats.accepted,
            stats.drafted,
            100.0 * stats.acceptance_rate(),
            stats.target_passes
        );
    }
    match outcome.sequences.first() {
        Some(best) if strategy == Strategy::Beam => {
            state.run.update(|run| {
                if let Some(run) = run {
                    set_chips(run, &best.ids, tokenizer);
                }
            });
            format!(
                "best beam: score {:.3} (log-probability / length)",
                best.score
            )
        }
        _ => String::new(),
    }
}

/// Adds one step to the run: its record, and the tokens it produced as chips.
fn record(run: &mut RunView, step: Step, tokenizer: &engine::tokenizer::Tokenizer) {
    let index = run.steps.len();
    let before = run.chips.len();
    let chip = |id| Chip {
        id,
        text: token_text(tokenizer, id),
        step: index,
    };
    match &step {
        Step::Token { row: 0, chosen, .. }
        | Step::Contrastive { chosen, .. }
        | Step::ContrastiveSearch { chosen, .. }
        | Step::Dola { chosen, .. } => {
            run.chips.push(chip(*chosen));
        }
        Step::Token { .. } => {}
        Step::Speculative { drafted, added, .. } => {
            for d in drafted.iter().take_while(|d| d.accepted) {
                run.chips.push(chip(d.id));
            }
            run.chips.push(chip(*added));
        }
        Step::Beams { beams, .. } => {
            run.steps.push(StepRecord {
                step: step.clone(),
                before,
                point: None,
            });
            if let Some(best) = beams.first() {
                let ids = best.ids.clone();
                set_chips(run, &ids, tokenizer);
            }
            return;
        }
    }
    let point = crate::timeline::point(&step);
    run.steps.push(StepRecord {
        step,
        before,
        point,
    });
    run.text = tokenizer.decode(&run.ids()).unwrap_or_default();
}

/// Beam search: the output is the best beam, which can change at every step;
/// chip i points at step i.
fn set_chips(run: &mut RunView, ids: &[u32], tokenizer: &engine::tokenizer::Tokenizer) {
    let last = run.steps.len().saturating_sub(1);
    run.chips = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| Chip {
            id,
            text: token_text(tokenizer, id),
            step: i.min(last),
        })
        .collect();
    run.text = tokenizer.decode(ids).unwrap_or_default();
}

/// A token as a chip shows it.
pub fn token_text(tokenizer: &engine::tokenizer::Tokenizer, id: u32) -> String {
    tokenizer
        .token_text(id)
        .unwrap_or_else(|_| format!("#{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::decoding::steps::{BeamState, Draft};
    use engine::tokenizer::Tokenizer;
    // Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn tokenizer() -> Tokenizer {
        Tokenizer::from_bytes(include_bytes!("../../engine/assets/tokenizer.json")).unwrap()
    }

    #[test]
    fn a_speculative_round_emits_its_accepted_drafts_then_the_added_token() {
        let t = tokenizer();
        let mut run = RunView::new(Strategy::Speculative, vec![6214, 345], None);
        let draft = |id, accepted| Draft {
            id,
            p: 0.5,
            q: 0.4,
            accepted,
        };
        let round = Step::Speculative {
            drafted: vec![draft(2582, true), draft(11, true), draft(13, false)],
            added: 198,
            resampled: true,
        };
        record(&mut run, round, &t);
        assert_eq!(run.ids(), [2582, 11, 198]);
        assert!(run.chips.iter().all(|c| c.step == 0));
        assert_eq!(run.text, " soon,\n");
    }

    #[test]
    fn beam_chips_follow_the_best_beam() {
        let t = tokenizer();
        let mut run = RunView::new(Strategy::Beam, vec![6214, 345], None);
        let beams = |ids: Vec<u32>| Step::Beams {
            beams: vec![BeamState {
                ids,
                logprob: -1.0,
                score: -1.0,
                finished: false,
                group: 0,
                parent: None,
            }],
            pruned: Vec::new(),
        };
        record(&mut run, beams(vec![2582]), &t);
        record(&mut run, beams(vec![1568, 11]), &t);
        assert_eq!(run.ids(), [1568, 11]);
        assert_eq!(run.chips.iter().map(|c| c.step).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(run.steps.len(), 2);
        assert_eq!(run.text, " later,");
    }

    #[test]
    fn token_steps_keep_their_logits_and_position() {
        let t = tokenizer();
        let mut run = RunView::new(Strategy::Sample, vec![6214], None);
        let token = |chosen, l: f32| Step::Token {
            row: 0,
            chosen,
            candidates: Vec::new(),
            logits: Some(vec![l; 4].into()),
            mirostat_mu: None,
            xtc_coin: None,
            unconditional: None,
        };
        record(&mut run, token(345, 0.5), &t);
        record(&mut run, token(2582, 1.5), &t);
        assert_eq!(run.steps[1].before, 1);
        let Step::Token { logits, .. } = &run.steps[1].step else {
            panic!("{:?}", run.steps[1].step)
        };
        assert_eq!(logits.as_deref(), Some(&[1.5; 4][..]));
        assert_eq!(run.text, " you soon");
    }
}
