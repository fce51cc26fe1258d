//! The generated text as clickable token chips.

use leptos::prelude::*;

use crate::state::AppState;

/// The prompt and the new tokens; a chip selects its step for the chart.
#[component]
pub fn Output() -> impl IntoView {
    let state = expect_context::<AppState>();
    let ids = move || {
        state.run.with(|r| {
            r.as_ref()
                .map(|r| {
                    r.ids()
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default()
        })
    };
    let chips = move || {
        state
            .run
            .with(|r| r.as_ref().map(|r| r.chips.clone()).unwrap_or_default())
    };
    let selected = move || {
        state.selected.get().or_else(|| {
            state
                .run
                .with(|r| r.as_ref().and_then(|r| r.steps.len().checked_sub(1)))
        })
    };
    let summary = move || {
        state
            .run
            .with(|r| r.as_ref().map(|r| r.summary.clone()).unwrap_or_default())
    };
    view! {
        <section class="output-panel" aria-label="Generated text">
            <h2>"Output"</h2>
            <p class="output" data-testid="output" data-token-ids=ids aria-live="polite">
                <span class="prompt-text">{move || state.settings.with(|s| s.prompt.clone())}</span>
                <For each=move || chips().into_iter().enumerate()
                    key=|(i, c)| (*i, c.id, c.step)
                    children=move |(i, chip)| {
                        let step = chip.step;
                        view! {
                            <button type="button" class="chip" data-testid="token-chip" data-step=step
                                data-token-id=chip.id
                                class:selected=move || selected() == Some(step)
                                title=format!("token {} (step {})", chip.id, i + 1)
                                on:click=move |_| state.selected.set(Some(step))>
                                {visible(&chip.text)}
                            </button>
                        }
                    }/>
            </p>
            <p class="summary">{summary}</p>
        </section>
    }
}

/// A token's text with its whitespace made visible.
pub fn visible(text: &str) -> String {
    if text.is_empty() {
        return "∅".into();
    }
    text.replace(' ', "·").replace('\n', "↵")
}
