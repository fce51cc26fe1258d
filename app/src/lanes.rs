//! Compare lanes run: one Generate runs every lane in turn through the
//! page's runner ([`crate::runner::run`], the engine's one strategy runner),
//! lanes 1 to 3 first and lane 0 last, so that lane 0's run is the one the
//! step views show when the comparison ends. Each lane keeps its run, its
//! time and its tokens' log-probabilities under the model, whence its
//! figures ([`engine::decoding::metrics`]).

use std::rc::Rc;

use engine::decoding::{metrics, score};
use engine::{Error, Result};
use leptos::prelude::*;

use crate::loader::{now_ms, LoadError};
use crate::runner::run;
use crate::settings::Settings;
use crate::state::{AppState, Loaded, RunView};

/// One lane's finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneRun {
    pub run: RunView,
    /// How long its strategy ran.
    pub seconds: f64,
    /// `log p(token | before)` of each new token under the model alone (the
    /// unprocessed distribution), from one scoring pass after the run.
    pub logprobs: Vec<f32>,
}

/// A lane's figures, as the lane shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneFigures {
    pub tokens_per_s: f64,
    pub mean_logprob: Option<f64>,
    pub distinct_2: Option<f64>,
    pub repeated_4grams: usize,
}

impl LaneRun {
    /// The new ids.
    pub fn ids(&self) -> Vec<u32> {
        self.run.ids()
    }

    /// Its figures: tokens/s from the page's timing, the rest by the engine.
    pub fn figures(&self) -> LaneFigures {
        let ids = self.ids();
        LaneFigures {
            tokens_per_s: ids.len() as f64 / self.seconds.max(1e-6),
            mean_logprob: metrics::mean_logprob(&self.logprobs),
            distinct_2: metrics::distinct_2(&ids),
            repeated_4grams: metrics::repeated_4grams(&ids),
        }
    }
}

/// Where the lanes' outputs first differ (see [`metrics::first_divergence`]).
pub fn first_divergence(lanes: &[LaneRun]) -> Option<usize> {
    let ids: Vec<Vec<u32>> = lanes.iter().map(LaneRun::ids).collect();
    let slices: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    metrics::first_divergence(&slices)
}

/// Runs every lane of `settings` in turn (lane 0 with `second`, the model
/// its strategy needs, if any), keeping each in `state.lanes`; returns lane
/// 0's summary line.
pub async fn run_all(
    state: AppState,
    settings: &Settings,
    main: Rc<Loaded>,
    second: Option<Rc<Loaded>>,
) -> Result<String> {
    state.lanes.set(Vec::new());
    state.lane.set(0);
    let in_lane = |i, e: Error| Error::input(format!("lane {i}: {e}"));
    let mut lanes = Vec::new();
    for i in 1..settings.lane_count() {
        let lane = settings.lane(i);
        let second = if lane
            .decoding(None)
            .is_ok_and(|d| d.second_model().is_some())
        {
            let loaded = crate::actions::second_model(state, &lane).await;
            Some(loaded.map_err(|e| in_lane(i, load_error(e)))?)
        } else {
            None
        };
        let (_, done) = run_lane(state, lane, &main, second)
            .await
            .map_err(|e| in_lane(i, e))?;
        lanes.push(done);
    }
    let (summary, lane0) = run_lane(state, settings.clone(), &main, second).await?;
    lanes.insert(0, lane0);
    state.lanes.set(lanes);
    Ok(summary)
}

/// One lane through the runner, then its new tokens scored.
async fn run_lane(
    state: AppState,
    settings: Settings,
    main: &Rc<Loaded>,
    second: Option<Rc<Loaded>>,
) -> Result<(String, LaneRun)> {
    let started = now_ms();
    let summary = run(state, settings, main.clone(), second).await?;
    let seconds = (now_ms() - started) / 1000.0;
    let mut run = state
        .run
        .get_untracked()
        .ok_or_else(|| Error::input("the run left no output"))?;
    run.summary = summary.clone();
    let logprobs = new_token_logprobs(&main.model, &run.prompt_ids, &run.ids()).await?;
    let lane = LaneRun {
        run,
        seconds,
        logprobs,
    };
    Ok((summary, lane))
}

/// `log p(new[i] | prompt, new[..i])` for each new token, in one pass.
async fn new_token_logprobs(
    model: &engine::backend::Model,
    prompt: &[u32],
    new: &[u32],
) -> Result<Vec<f32>> {
    if new.is_empty() || prompt.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<u32> = prompt.iter().chain(new).copied().collect();
    let logprobs = score(model, &ids).await?;
    Ok(logprobs[prompt.len() - 1..].to_vec())
}

/// A second model that did not load, as a run's error.
fn load_error(e: LoadError) -> Error {
    match e {
        LoadError::NoWebGpu(m) | LoadError::Other(m) => Error::input(m),
    }
}

/// Shows lane `i`'s run in the step views.
pub fn select(state: AppState, i: usize) {
    let Some(run) = state
        .lanes
        .with_untracked(|l| l.get(i).map(|l| l.run.clone()))
    else {
        return;
    };
    state.lane.set(i);
    state.run.set(Some(run));
    state.selected.set(None);
}

/// Adds a lane with the last lane's own settings (up to four lanes).
pub fn add(state: AppState) {
    state.settings.update(|s| {
        if s.lane_count() < crate::settings::lanes::MAX_LANES {
            let last = s.lanes.last().cloned().unwrap_or_else(|| s.per_lane());
            s.lanes.push(last);
        }
    });
}

/// Removes lane `i` (1 to 3) and its run; lane 0 shows if it was selected.
pub fn remove(state: AppState, i: usize) {
    if i == 0 {
        return;
    }
    state.settings.update(|s| {
        if i <= s.lanes.len() {
            s.lanes.remove(i - 1);
        }
    });
    state.lanes.update(|l| {
        if i < l.len() {
            l.remove(i);
        }
    });
    match state.lane.get_untracked() {
        shown if shown == i => select(state, 0),
        // The lanes after `i` move up one.
        shown if shown > i => state.lane.set(shown - 1),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Strategy;
    use crate::state::Chip;

    fn lane(ids: &[u32], seconds: f64, logprobs: Vec<f32>) -> LaneRun {
        let mut run = RunView::new(Strategy::Sample, vec![1], None);
        run.chips = ids
            .iter()
            .map(|&id| Chip {
                id,
                text: String::new(),
                step: 0,
            })
            .collect();
        LaneRun {
            run,
            seconds,
            logprobs,
        }
    }

    #[test]
    fn a_lane_figures_its_run_by_the_engines_metrics() {
        let l = lane(&[5, 6, 5, 6, 5, 6, 5], 0.5, vec![-1.0, -3.0]);
        let f = l.figures();
        assert_eq!(f.tokens_per_s, 14.0);
        assert_eq!(f.mean_logprob, Some(-2.0));
        assert_eq!(f.distinct_2, Some(2.0 / 6.0));
        assert_eq!(f.repeated_4grams, 2);
    }

    #[test]
    fn lanes_diverge_where_their_ids_first_differ() {
        let a = lane(&[1, 2, 3], 1.0, Vec::new());
        let b = lane(&[1, 4, 3], 1.0, Vec::new());
        assert_eq!(first_divergence(&[a.clone(), b]), Some(1));
        assert_eq!(first_divergence(&[a.clone(), a]), None);
    }
}
