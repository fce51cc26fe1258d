//! The logit lens of the selected step: for each layer, the tokens the
//! model would have put next had it stopped there (the residual stream
//! through `ln_f` and the tied head; see [`crate::lens`]). Opening it costs
//! one forward pass over the step's prefix per step shown.

use leptos::prelude::*;

use crate::lens::{read_lens, LensReading, LensRow, LensTarget};
use crate::state::{AppState, Status};
use crate::views::chart::percent;
use crate::views::output::visible;

/// The lens panel: a toggle, then one row per layer of the selected step.
#[component]
pub fn LogitLens() -> impl IntoView {
    let state = expect_context::<AppState>();
    let open = RwSignal::new(false);
    let reading = RwSignal::new(None::<LensReading>);
    // The selected token step (the latest when none is selected).
    let target = Memo::new(move |_| {
        let index = state.selected.get();
        state.run.with(|run| {
            let run = run.as_ref()?;
            let index = index.unwrap_or(run.steps.len().checked_sub(1)?);
            LensTarget::of(run, index)
        })
    });
    // Read the lens when it is open, the page idle and the step not read yet.
    Effect::new(move |_| {
        let (Some(t), true) = (target.get(), open.get()) else {
            return;
        };
        if state.status.get() == Status::Running || state.status.get() == Status::Loading {
            return;
        }
        let read = reading.with_untracked(|r| r.as_ref().is_some_and(|r| r.target == t));
        if !read {
            read_lens(state, t, reading);
        }
    });
    let shown = move || {
        let t = target.get()?;
        reading.get().filter(|r| r.target == t)
    };
    view! {
        <section class="lens-panel" data-testid="logit-lens" aria-label="The logit lens">
            <h2>"The logit lens"</h2>
            <p class="hint">"What the model would say next if it stopped after each layer: that layer's residual stream through the final layer norm and the output head (nostalgebraist 2020). Layer 0 is the embeddings; the last is the model's own output. Each step shown costs one forward pass over its prefix."</p>
            <button type="button" data-testid="lens-toggle" aria-pressed=move || open.get().to_string()
                on:click=move |_| open.update(|o| *o = !*o)>
                {move || if open.get() { "Hide the lens" } else { "Show the lens" }}
            </button>
            <Show when=move || open.get()>
                {move || match (target.get(), shown()) {
                    (None, _) => view! {
                        <p class="empty">"Generate, then select a greedy or sampling step, to read its layers."</p>
                    }.into_any(),
                    (Some(t), None) => view! {
                        <p class="empty" data-testid="lens-reading">{format!("Reading the layers of step {}…", t.step + 1)}</p>
                    }.into_any(),
                    (Some(_), Some(r)) => reading_view(r).into_any(),
                }}
            </Show>
        </section>
    }
}

/// A step's layers as a table, or why there are none.
fn reading_view(r: LensReading) -> impl IntoView {
    let step = r.target.step;
    match r.rows {
        Err(why) => view! {
            <p class="notice" data-testid="lens-error">{format!("No lens for step {}: {why}", step + 1)}</p>
        }.into_any(),
        Ok(rows) => {
            let last = rows.len().saturating_sub(1);
            view! {
                <table class="lens-table" data-testid="lens" data-step=step>
                    <caption>{format!("Step {}: the top tokens after each layer", step + 1)}</caption>
                    <thead><tr><th scope="col">"Layer"</th><th scope="col">"Top tokens (probability)"</th></tr></thead>
                    <tbody>{rows.into_iter().map(|row| layer_view(row, last)).collect_view()}</tbody>
                </table>
            }.into_any()
        }
    }
}

/// One layer's row: its name and its top tokens, the first in bold.
fn layer_view(row: LensRow, last: usize) -> impl IntoView {
    let name = match row.layer {
        0 => "0 · embeddings".to_string(),
        l if l == last => format!("{l} · output"),
        l => format!("{l} · after block {l}"),
    };
    let top = row.top.first().map(|t| (t.id, t.prob));
    view! {
        <tr data-testid="lens-layer" data-layer=row.layer
            data-top-id=top.map(|t| t.0) data-top-prob=top.map(|t| t.1.to_string())>
            <th scope="row">{name}</th>
            <td class="lens-tokens">
                {row.top.into_iter().enumerate().map(|(i, t)| view! {
                    <span class="lens-token" class:top=i == 0 data-testid="lens-token"
                        data-id=t.id data-prob=t.prob.to_string()>
                        <span class="token">{visible(&t.text)}</span>
                        <span class="value">{percent(t.prob)}</span>
                    </span>
                }).collect_view()}
            </td>
        </tr>
    }
}
