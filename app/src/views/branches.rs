//! The run's branches ([`crate::branches`]): the strategy's own run and every
//! branch taken from a step's chart, each with its path of forced choices;
//! one click (or Enter on it) shows it again.

use leptos::prelude::*;

use crate::actions::reopen_branch;
use crate::runner::token_text;
use crate::settings::forced::format_forced;
use crate::state::{AppState, Status};
use crate::views::output::visible;

/// The list of branches, once a run has finished.
#[component]
pub fn BranchList() -> impl IntoView {
    let state = expect_context::<AppState>();
    let entries = move || {
        let main = state.main_model();
        let current = state.settings.with(|s| s.forced.clone());
        state.branches.with(|tree| {
            tree.branches
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let path = b
                        .forced
                        .iter()
                        .map(|&(step, id)| {
                            let text = main
                                .as_ref()
                                .map(|m| token_text(&m.tokenizer, id))
                                .unwrap_or_else(|| format!("#{id}"));
                            format!("step {}: {}", step + 1, visible(&text))
                        })
                        .collect::<Vec<_>>();
                    let text = b.run.as_ref().map(|r| r.text.clone()).unwrap_or_default();
                    (i, format_forced(&b.forced), path, text, b.forced == current)
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <Show when=move || state.branches.with(|t| !t.branches.is_empty())>
            <section class="branch-panel" aria-label="Branches">
                <h2>"Branches"</h2>
                <p class="hint">"Press branch beside another token on a step's chart to continue the run from there with it; each branch is kept here."</p>
                <ol class="branch-list" data-testid="branch-list">
                    {move || entries().into_iter().map(|(i, force, path, text, current)| {
                        let name = if path.is_empty() {
                            "the run as the strategy made it".to_string()
                        } else {
                            format!("forced {}", path.join(", "))
                        };
                        view! {
                            <li>
                                <button type="button" class="branch-entry" data-testid="branch-entry"
                                    data-force=force data-current=current.to_string()
                                    class:current=current aria-current=current.then_some("true")
                                    disabled=move || state.status.get() == Status::Running
                                    on:click=move |_| reopen_branch(state, i)>
                                    <span class="branch-path">{name}</span>
                                    <span class="branch-text">{text}</span>
                                </button>
                            </li>
                        }
                    }).collect_view()}
                </ol>
            </section>
        </Show>
    }
}
