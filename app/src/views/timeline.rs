//! The run's timeline under the output: an SVG line of the chosen token's
//! probability and one of the model's entropy, a point per step (see
//! [`crate::timeline`] for what each strategy shows); a point selects its
//! step, by click or Enter.

use leptos::prelude::*;

use crate::settings::Strategy;
use crate::state::{AppState, Status};
use crate::timeline::{layout, Placed, Point};
use crate::views::chart::percent;

const WIDTH: f32 = 600.0;
const HEIGHT: f32 = 80.0;
const PAD: f32 = 6.0;

/// The timeline of the current run, when its steps have points.
#[component]
pub fn Timeline() -> impl IntoView {
    let state = expect_context::<AppState>();
    let points = Memo::new(move |_| {
        state.run.with(|r| {
            r.as_ref()
                .map(|r| {
                    r.steps
                        .iter()
                        .enumerate()
                        .filter_map(|(i, s)| s.point.map(|p| (i, p)))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let selected = move || {
        state.selected.get().or_else(|| {
            state
                .run
                .with(|r| r.as_ref().and_then(|r| r.steps.len().checked_sub(1)))
        })
    };
    let chart = move || {
        let points = points.get();
        let xy = layout(&points, WIDTH, HEIGHT, PAD);
        let line = |f: fn(&Placed) -> Option<f32>| {
            xy.iter()
                .filter_map(|p| f(p).map(|y| format!("{:.1},{y:.1}", p.x)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (prob_line, entropy_line) = (line(|p| Some(p.y)), line(|p| p.entropy_y));
        let dots = points
            .into_iter()
            .zip(xy)
            .map(|((step, point), placed)| dot(state, step, point, placed, selected))
            .collect_view();
        view! {
            <polyline class="prob-line" points=prob_line></polyline>
            <polyline class="entropy-line" points=entropy_line></polyline>
            {dots}
        }
    };
    let has_entropy = move || points.with(|p| p.iter().any(|(_, p)| p.entropy.is_some()));
    // While a greedy or sampling run starts, the empty chart holds its place,
    // so that its first point moves nothing below it.
    let starting = move || {
        state.status.get() == Status::Running
            && state
                .settings
                .with(|s| matches!(s.strategy, Strategy::Greedy | Strategy::Sample))
    };
    view! {
        <Show when=move || starting() || points.with(|p| !p.is_empty())>
            <section class="timeline-panel" aria-label="Timeline">
                <h2>"Timeline"</h2>
                <div class="legend" aria-hidden="true">
                    <span><span class="key chosen"></span>" chosen token's probability under the model (0 at the bottom, 1 at the top)"</span>
                    <Show when=has_entropy>
                        <span><span class="key entropy"></span>" entropy of the model's distribution (scaled to its largest)"</span>
                    </Show>
                </div>
                <svg class="timeline" data-testid="timeline" role="group"
                    aria-label="Probability and entropy per step; a point selects its step"
                    viewBox=format!("0 0 {WIDTH} {HEIGHT}") preserveAspectRatio="xMinYMid meet">
                    {chart}
                </svg>
            </section>
        </Show>
    }
}

/// One step's point: focusable, selects its step on click or Enter.
fn dot(
    state: AppState,
    step: usize,
    point: Point,
    Placed { x, y, entropy_y }: Placed,
    selected: impl Fn() -> Option<usize> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let label = format!(
        "step {}: probability {}{}",
        step + 1,
        percent(point.prob),
        point
            .entropy
            .map(|h| format!(", entropy {h:.3} nats"))
            .unwrap_or_default()
    );
    let select = move || state.selected.set(Some(step));
    let title = label.clone();
    view! {
        <g class="timeline-point" data-testid="timeline-point" data-step=step
            data-prob=point.prob.to_string() data-entropy=point.entropy.map(|h| h.to_string())
            class:selected=move || selected() == Some(step)
            tabindex="0" role="button" aria-label=label
            on:click=move |_| select()
            on:keydown=move |ev: web_sys::KeyboardEvent| {
                if ev.key() == "Enter" || ev.key() == " " {
                    ev.prevent_default();
                    select();
                }
            }>
            <title>{title}</title>
            <circle class="prob-dot" cx=format!("{x:.1}") cy=format!("{y:.1}") r="3"></circle>
            {entropy_y.map(|e| view! { <circle class="entropy-dot" cx=format!("{x:.1}") cy=format!("{e:.1}") r="2.5"></circle> })}
        </g>
    }
}
