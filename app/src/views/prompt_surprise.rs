//! The prompt's surprise: the last run's prompt tokens coloured by their
//! log-probability under the model, with the model's top guesses at the
//! token under the pointer or the keyboard's focus (see [`crate::surprise`]:
//! the numbers come from the run's first pass, at no pass of their own).

use leptos::prelude::*;

use crate::state::AppState;
use crate::surprise::{band, band_labels, PromptSurprise, PromptToken};
use crate::views::chart::percent;
use crate::views::output::visible;

/// The id of the box that describes the active token.
const DETAIL: &str = "surprise-detail";

/// The prompt's tokens, coloured, with a legend and the active token's guesses.
#[component]
pub fn PromptSurpriseView() -> impl IntoView {
    let state = expect_context::<AppState>();
    // The token whose guesses are shown: the last one hovered or focused.
    let active = RwSignal::new(None::<usize>);
    Effect::new(move |_| {
        state.surprise.track();
        active.set(None);
    });
    let vocab = move || state.main_model().map_or(0, |m| m.tokenizer.vocab_size());
    let stale = move || {
        state.surprise.with(|s| {
            s.as_ref()
                .is_some_and(|s| state.settings.with(|set| set.prompt != s.prompt))
        })
    };
    view! {
        <section class="surprise-panel" data-testid="prompt-surprise" aria-label="The prompt's surprise">
            <h2>"The prompt's surprise"</h2>
            <p class="hint">"Each prompt token coloured by log p(token | the tokens before it) under the model, read from the run's first pass. Hover or focus a token for the model's top guesses there."</p>
            <ul class="surprise-legend" data-testid="surprise-legend" aria-label="Colour scale (natural log)">
                {band_labels().into_iter().enumerate().map(|(i, label)| view! {
                    <li><span class=format!("swatch band-{i}")></span>{label}</li>
                }).collect_view()}
                <li><span class="swatch no-score"></span>"first token: nothing before it"</li>
            </ul>
            <Show when=stale>
                <p class="chart-note">"The prompt has changed since this run: Generate to score the new one."</p>
            </Show>
            {move || match state.surprise.get() {
                None => view! {
                    <p class="empty">"Generate to see how surprising the prompt is to the model."</p>
                }.into_any(),
                Some(s) => scored_view(s, active).into_any(),
            }}
            <div class="surprise-detail" id=DETAIL data-testid="prompt-alternatives" aria-live="polite"
                data-position=move || active.get().map(|i| i.to_string())>
                {move || {
                    let token = active.get().and_then(|i| {
                        state.surprise.with(|s| s.as_ref().and_then(|s| s.tokens.get(i).cloned()))
                    });
                    detail_view(active.get().unwrap_or(0), token, vocab())
                }}
            </div>
        </section>
    }
}

/// The scored prompt: its totals, then its tokens.
fn scored_view(s: PromptSurprise, active: RwSignal<Option<usize>>) -> impl IntoView {
    let totals = s.totals().map(|(total, n, perplexity)| {
        format!(
            "log p = {total:.3} over {n} tokens · mean {:.3} · perplexity {perplexity:.2}",
            total / n as f64
        )
    });
    view! {
        {s.missing.map(|why| view! { <p class="notice">{format!("No numbers for this prompt: {why}")}</p> })}
        <p class="surprise-totals">{totals}</p>
        <p class="prompt-tokens">
            {s.tokens.into_iter().enumerate().map(|(i, t)| token_view(i, t, active)).collect_view()}
        </p>
    }
}

/// One prompt token: a button whose hover or focus shows its guesses.
fn token_view(i: usize, t: PromptToken, active: RwSignal<Option<usize>>) -> impl IntoView {
    let class = match t.logprob {
        Some(l) => format!("prompt-token band-{}", band(l)),
        None => "prompt-token no-score".to_string(),
    };
    let label = match t.logprob {
        Some(l) => format!("{}: log p {l:.3}", visible(&t.text)),
        None => format!("{}: the first token, no log p", visible(&t.text)),
    };
    view! {
        <button type="button" class=class data-testid="prompt-token" data-id=t.id
            data-logprob=t.logprob.map(|l| l.to_string()) tabindex="0"
            aria-label=label aria-describedby=DETAIL
            class:active=move || active.get() == Some(i)
            on:mouseenter=move |_| active.set(Some(i))
            on:focus=move |_| active.set(Some(i))>
            {visible(&t.text)}
        </button>
    }
}

/// What the model expected at token `i`, or how to see it.
fn detail_view(i: usize, token: Option<PromptToken>, vocab: usize) -> impl IntoView {
    let Some(t) = token else {
        return view! { <p class="empty">"Hover or focus a prompt token to see what the model expected there."</p> }.into_any();
    };
    let (Some(logprob), Some(rank)) = (t.logprob, t.rank) else {
        return view! {
            <p>{format!("“{}” is the first token: nothing precedes it, so the model gives it no log-probability.", visible(&t.text))}</p>
        }.into_any();
    };
    let actual = t.id;
    view! {
        <p>
            <strong>{format!("“{}”", visible(&t.text))}</strong>
            {format!(" (token {}): log p = {logprob:.3}, p = {}, rank {rank} of {vocab}. The model's top guesses there:", i + 1, percent(logprob.exp()))}
        </p>
        <ol class="alternatives">
            {t.alternatives.into_iter().map(|a| view! {
                <li data-testid="prompt-alternative" data-id=a.id data-logprob=a.logprob.to_string()
                    class:actual=a.id == actual>
                    <span class="token">{visible(&a.text)}</span>
                    <span class="value">{percent(a.logprob.exp())}</span>
                    <span class="value">{format!("{:.3}", a.logprob)}</span>
                </li>
            }).collect_view()}
        </ol>
    }.into_any()
}
