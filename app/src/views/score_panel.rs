//! Scoring: the log-probability the model gives several texts, token by token.

use leptos::prelude::*;

use crate::actions::{can_start, score_texts};
use crate::state::AppState;
use crate::views::output::visible;

/// Texts to compare, and their scores.
#[component]
pub fn ScorePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let texts = RwSignal::new(vec![
        "See you later, alligator.".to_string(),
        "See you later, crocodile.".to_string(),
    ]);
    view! {
        <section class="score-panel" data-testid="score-panel" aria-label="Score texts">
            <h2>"Which text is more likely?"</h2>
            <p class="hint">"Each text is scored after <|endoftext|>: the sum of log p(token | tokens before)."</p>
            {move || (0..texts.with(Vec::len)).map(|i| view! {
                <div class="score-text">
                    <textarea data-testid="score-text" rows="1" aria-label=format!("Text {}", i + 1)
                        prop:value=move || texts.with(|t| t.get(i).cloned().unwrap_or_default())
                        on:input=move |ev| {
                            let v = event_target_value(&ev);
                            texts.update(|t| if let Some(x) = t.get_mut(i) { *x = v });
                        }></textarea>
                    <button type="button" class="small" aria-label="Remove this text"
                        disabled=move || texts.with(Vec::len) <= 1
                        on:click=move |_| texts.update(|t| { if t.len() > 1 { t.remove(i); } })>"×"</button>
                </div>
            }).collect_view()}
            <div class="buttons">
                <button type="button" class="small" on:click=move |_| texts.update(|t| t.push(String::new()))>"Add a text"</button>
                <button type="button" data-testid="score-run" disabled=move || !can_start(state)
                    on:click=move |_| score_texts(state, texts.get())>"Score"</button>
            </div>
            <div class="score-results">
                {move || {
                    let scores = state.scores.get();
                    let best = scores.iter().map(|s| s.total).fold(f32::NEG_INFINITY, f32::max);
                    scores.into_iter().map(|s| view! {
                        <div class="score-result" data-testid="score-result" data-total=s.total class:best=s.total == best>
                            <p><strong>{format!("{:.3}", s.total)}</strong>" "{s.text.clone()}</p>
                            <p class="tokens">
                                {s.tokens.into_iter().map(|(t, lp)| view! {
                                    <span class="score-token" data-testid="score-token" data-logprob=lp
                                        style=format!("--p: {:.3}", lp.exp()) title=format!("log p = {lp:.3}")>
                                        {visible(&t)}<small>{format!("{lp:.2}")}</small>
                                    </span>
                                }).collect_view()}
                            </p>
                        </div>
                    }).collect_view()
                }}
            </div>
        </section>
    }
}
