//! The bar chart of one greedy or sampling step: each candidate's raw
//! probability and its probability after temperature and truncation, the
//! cut ones marked. Under the run's own settings it is the engine's step;
//! once a slider moves it is recomputed from the step's logits, so it
//! follows the sliders at once (see [`crate::bars`]).

use engine::decoding::Step;
use leptos::prelude::*;

use crate::bars::{chart, cut_name, Bar, Chart, TokenStep, CHART_TOKENS};
use crate::runner::token_text;
use crate::settings::Strategy;
use crate::state::AppState;
use crate::views::output::visible;

/// The chart of the selected step (the latest when none is selected).
#[component]
pub fn StepChart() -> impl IntoView {
    let state = expect_context::<AppState>();
    let chart = Memo::new(move |_| {
        let index = state.selected.get();
        // The distribution the current settings would choose from.
        let current = state.settings.with(|s| s.decoding().sampling());
        state.run.with(|run| {
            let run = run.as_ref()?;
            let index = index.unwrap_or(run.steps.len().checked_sub(1)?);
            let record = run.steps.get(index)?;
            let Step::Token {
                chosen,
                candidates,
                logits,
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
                used: run.sampling.as_ref(),
            };
            Some((index, chart(&step, current.as_ref(), CHART_TOKENS)))
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
                Some((i, _)) => format!("Step {}: the candidates", i + 1),
                None => "The candidates".to_string(),
            }}</h2>
            <div class="legend" aria-hidden="true">
                <span class="key raw"></span>"model" <span class="key kept"></span>"after temperature and cuts"
                <span class="key chosen"></span>"chosen" <span class="scale-note">"· the longest bar spans the track"</span>
            </div>
            <Show when=move || chart.with(|c| c.as_ref().is_some_and(|(_, c)| c.recomputed))>
                <p class="chart-note" data-testid="chart-note">
                    "The settings have changed since this run: the bars show what the current settings make of this step's logits. The run chose the marked token under its own settings."
                </p>
            </Show>
            <div class="chart" data-testid="step-chart" role="list">
                {move || match chart.get() {
                    Some((_, Chart { bars, .. })) => {
                        let names = texts(&bars);
                        // The longest bar spans the track; the numbers stay absolute.
                        let scale = bars.iter().map(|b| b.raw.max(b.prob)).fold(1e-9, f32::max);
                        bars.into_iter().zip(names).map(|(b, name)| bar_view(b, name, scale)).collect_view().into_any()
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

/// One row of the chart; `scale` is the probability a full track stands for.
fn bar_view(bar: Bar, text: String, scale: f32) -> impl IntoView {
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
