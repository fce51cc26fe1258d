//! The bar chart of one greedy or sampling step: each candidate's raw
//! probability and its probability after temperature and truncation, the
//! cut ones marked. Under the run's own settings it is the engine's step;
//! once a slider moves it is recomputed from the step's logits, so it
//! follows the sliders at once (see [`crate::bars`]).

use engine::decoding::{SamplingParams, Step};
use leptos::prelude::*;

use crate::bars::{chart, cut_name, redraw_notes, Bar, Chart, TokenStep, CHART_TOKENS};
use crate::runner::token_text;
use crate::settings::Strategy;
use crate::state::{AppState, Status};
use crate::views::output::visible;

/// The chart of the selected step (the latest when none is selected).
#[component]
pub fn StepChart() -> impl IntoView {
    let state = expect_context::<AppState>();
    let chart = Memo::new(move |_| {
        with_selected_step(state, |index, step, current, draws, at| {
            let chart = chart(step, current, CHART_TOKENS);
            let notes = match (current, chart.recomputed) {
                (Some(params), true) => redraw_notes(step, params),
                _ => Vec::new(),
            };
            (index, chart, notes, draws, at)
        })
    });
    let texts = move |bars: &[Bar]| {
        let main = state.main_model();
        bars.iter()
            .map(|b| {
                main.as_ref()
                    .map(|m| token_text(&m.tokenizer, b.id))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
    };
    let has_run = move || {
        state
            .run
            .with(|r| r.as_ref().is_some_and(|r| !r.steps.is_empty()))
    };
    let strategy_has_bars = move || {
        state.run.with(|r| {
            r.as_ref()
                .is_none_or(|r| matches!(r.strategy, Strategy::Greedy | Strategy::Sample))
        })
    };
    view! {
        <section class="chart-panel" aria-label="Step probabilities">
            <h2>{move || match chart.get() {
                Some((i, .., at)) if at.forced => format!("Step {}: the candidates (the chosen token was forced: a branch)", i + 1),
                Some((i, ..)) => format!("Step {}: the candidates", i + 1),
                None => "The candidates".to_string(),
            }}</h2>
            {move || chart.get().and_then(|(_, _, _, d, _)| draws_view(d))}
            <div class="legend" aria-hidden="true">
                <span class="key raw"></span>"model" <span class="key kept"></span>"after temperature and cuts"
                <span class="key chosen"></span>"chosen" <span class="scale-note">"· the longest bar spans the track"</span>
            </div>
            <Show when=move || chart.with(|c| c.as_ref().is_some_and(|(_, c, ..)| c.recomputed))>
                <div class="chart-note" data-testid="chart-note">
                    <p>"The settings have changed since this run: the bars show what the current settings make of this step's logits. The run chose the marked token under its own settings."</p>
                    {move || chart.get().map(|(_, _, notes, ..)| notes.into_iter().map(|n| view! { <p>{n}</p> }).collect_view())}
                </div>
            </Show>
            // A list only with bars in it (a list of a placeholder is no list).
            <div class="chart" data-testid="step-chart" role=move || chart.with(Option::is_some).then_some("list")>
                {move || match chart.get() {
                    Some((_, Chart { bars, .. }, _, _, at)) => {
                        let names = texts(&bars);
                        // The longest bar spans the track; the numbers stay absolute.
                        let scale = bars.iter().map(|b| b.raw.max(b.prob)).fold(1e-9, f32::max);
                        bars.into_iter().zip(names).map(|(b, name)| bar_view(b, name, scale, at.step)).collect_view().into_any()
                    }
                    None if has_run() && !strategy_has_bars() => view! {
                        <p class="empty">"This strategy's choices are shown in its own view below; bars are drawn for greedy and sampling steps."</p>
                    }.into_any(),
                    None => view! { <p class="empty">"Generate to see how each token was picked."</p> }.into_any(),
                }}
            </div>
        </section>
    }
}

/// Runs `f` on the selected token step (the latest when none is selected):
/// its index, the step as the chart reads it, the distribution the current
/// settings would choose from (`None` when the current strategy chooses no
/// token from one distribution) and what the step drew. `None` when the
/// step is no token step; and where a branch from it starts. The chart and
/// the funnel both read it.
pub fn with_selected_step<R>(
    state: AppState,
    f: impl FnOnce(usize, &TokenStep<'_>, Option<&SamplingParams>, StepDraws, Branching) -> R,
) -> Option<R> {
    let index = state.selected.get();
    let main = state.main_model();
    let tokenizer = main.as_ref().map(|m| &m.tokenizer);
    // The settings of the lane whose run is shown (lane 0's are the page's).
    let lane = state.lane.get();
    let current = state.settings.with(|s| {
        s.lane(lane)
            .decoding(tokenizer)
            .ok()
            .and_then(|d| d.sampling())
    });
    state.run.with(|run| {
        let run = run.as_ref()?;
        let index = index.unwrap_or(run.steps.len().checked_sub(1)?);
        let record = run.steps.get(index)?;
        let Step::Token {
            chosen,
            candidates,
            logits,
            mirostat_mu,
            xtc_coin,
            unconditional,
            ..
        } = &record.step
        else {
            return None;
        };
        let mut context = run.prompt_ids.clone();
        context.extend(run.chips.iter().take(record.before).map(|c| c.id));
        let step = TokenStep {
            chosen: *chosen,
            candidates,
            logits: logits.as_deref(),
            context: &context,
            prompt_len: run.prompt_ids.len(),
            used: run.sampling.as_ref(),
            xtc_coin: *xtc_coin,
            mirostat_mu: *mirostat_mu,
            unconditional: unconditional.as_deref(),
        };
        let draws = StepDraws {
            mirostat_mu: *mirostat_mu,
            xtc_coin: *xtc_coin,
        };
        // The token position a branch from this step forces.
        let at = Branching {
            step: record.before,
            forced: run.forced.contains(&(record.before, *chosen)),
        };
        Some(f(index, &step, current.as_ref(), draws, at))
    })
}

/// Where a branch from the shown step starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Branching {
    /// The token position (new tokens before the step).
    pub step: usize,
    /// The step's chosen token was forced.
    pub forced: bool,
}

/// What a step drew besides its token: mirostat's μ and XTC's coin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepDraws {
    mirostat_mu: Option<f32>,
    xtc_coin: Option<f64>,
}

/// The step's μ and coin in a line, when it drew either.
fn draws_view(d: StepDraws) -> Option<impl IntoView> {
    if d.mirostat_mu.is_none() && d.xtc_coin.is_none() {
        return None;
    }
    let mut parts = Vec::new();
    if let Some(mu) = d.mirostat_mu {
        parts.push(format!("mirostat μ before this step: {mu:.3} bits"));
    }
    if let Some(coin) = d.xtc_coin {
        parts.push(format!("XTC coin: {coin:.3}"));
    }
    Some(view! {
        <p class="step-draws" data-testid="step-draws"
            data-mirostat-mu=d.mirostat_mu.map(|m| m.to_string())
            data-xtc-coin=d.xtc_coin.map(|c| c.to_string())>
            {parts.join(" · ")}
        </p>
    })
}

/// One row of the chart; `scale` is the probability a full track stands for.
/// A bar not chosen offers a branch: the run continued from token position
/// `step` with its token instead.
fn bar_view(bar: Bar, text: String, scale: f32, step: usize) -> impl IntoView {
    let state = expect_context::<AppState>();
    let (id, chosen) = (bar.id, bar.chosen);
    let branch_label = format!(
        "Branch: continue with {} at step {}",
        visible(&text),
        step + 1
    );
    let cut = cut_name(bar.cut);
    let pct = percent;
    let label = format!(
        "{}: model {}, after processing {}{}{}",
        visible(&text),
        pct(bar.raw),
        pct(bar.prob),
        if cut.is_empty() {
            String::new()
        } else {
            format!(", cut by {cut}")
        },
        if bar.chosen { ", chosen" } else { "" }
    );
    view! {
        <div class="bar" role="listitem" data-testid="bar" data-token-id=bar.id data-prob=bar.prob
            data-raw-prob=bar.raw data-cut=cut data-chosen=bar.chosen.to_string()
            class:cut=bar.cut.is_some() class:chosen=bar.chosen title=label.clone() aria-label=label>
            <span class="token">{visible(&text)}</span>
            <span class="track">
                <span class="fill raw" style=format!("width: {:.3}%", 100.0 * bar.raw / scale)></span>
                <span class="fill kept" style=format!("width: {:.3}%", 100.0 * bar.prob / scale)></span>
            </span>
            <span class="value">{pct(bar.prob)}</span>
            <span class="cut-name">{if cut.is_empty() { String::new() } else { format!("cut: {cut}") }}</span>
            <span class="branch-slot">
                {(!chosen).then(|| view! {
                    <button type="button" class="branch" data-testid="branch" data-step=step data-token-id=id
                        title=branch_label.clone() aria-label=branch_label
                        disabled=move || state.status.get() == Status::Running
                        on:click=move |_| crate::actions::branch(state, step, id)>"branch"</button>
                })}
            </span>
        </div>
    }
}

/// A probability as a percentage, small ones in scientific notation.
pub fn percent(p: f32) -> String {
    match 100.0 * p {
        0.0 => "0%".into(),
        x if x < 0.01 => format!("{x:.1e}%"),
        x => format!("{x:.2}%"),
    }
}
