//! The views of the strategies that are not one distribution per step: the
//! beams of beam search, the drafted tokens of speculative decoding, the
//! expert and amateur of contrastive decoding.

use engine::decoding::Step;
use leptos::prelude::*;

use crate::runner::token_text;
use crate::state::{AppState, StepRecord};
use crate::views::chart::percent;
use crate::views::output::visible;

/// The selected step's record (the latest when none is selected) and its index.
fn selected_step(state: AppState) -> Option<(usize, StepRecord)> {
    let index = state.selected.get();
    state.run.with(|run| {
        let run = run.as_ref()?;
        let index = index.unwrap_or(run.steps.len().checked_sub(1)?);
        run.steps.get(index).map(|r| (index, r.clone()))
    })
}

/// Text of a token through the main model's tokenizer, whitespace visible.
fn text(state: AppState, id: u32) -> String {
    state
        .main_model()
        .map(|m| visible(&token_text(&m.tokenizer, id)))
        .unwrap_or_else(|| id.to_string())
}

/// The live beams and the finished hypotheses after the selected step; with
/// diverse beam search, a column for each beam's group.
#[component]
pub fn BeamView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let rows = move || {
        let (index, record) = selected_step(state)?;
        let Step::Beams { beams, .. } = record.step else {
            return None;
        };
        Some((index, beams))
    };
    let grouped = move || rows().is_some_and(|(_, beams)| beams.iter().any(|b| b.group > 0));
    view! {
        <Show when=move || rows().is_some()>
            <section class="view" data-testid="beam-view" aria-label="Beams">
                <h2>{move || rows().map(|(i, _)| format!("Beams after step {}", i + 1))}</h2>
                <Show when=grouped>
                    <p class="hint">"Diverse beam search: each group searches after the ones before it, its scores lowered for the tokens they chose."</p>
                </Show>
                <table>
                    <thead><tr>
                        {move || grouped().then(|| view! { <th>"Group"</th> })}
                        <th>"#"</th><th>"Tokens"</th><th>"log p"</th>
                    </tr></thead>
                    <tbody>
                        {move || rows().map(|(_, beams)| {
                            let grouped = beams.iter().any(|b| b.group > 0);
                            beams.into_iter().enumerate().map(|(i, b)| {
                                let tokens = b.ids.iter().map(|&id| text(state, id)).collect::<Vec<_>>().join(" ");
                                view! {
                                    <tr data-testid="beam-row" data-score=b.logprob data-finished=b.finished.to_string()
                                        data-group=b.group class:finished=b.finished class:odd-group=b.group % 2 == 1>
                                        {grouped.then(|| view! { <td class="num">{b.group + 1}</td> })}
                                        <td>{if b.finished { "done".to_string() } else { (i + 1).to_string() }}</td>
                                        <td class="tokens">{tokens}</td>
                                        <td class="num">{format!("{:.3}", b.logprob)}</td>
                                    </tr>
                                }
                            }).collect_view()
                        })}
                    </tbody>
                </table>
            </section>
        </Show>
    }
}

/// Every round of speculative decoding: drafted tokens, accepted or rejected,
/// with p (target) against q (draft), and the token the target added.
#[component]
pub fn SpeculativeView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let rounds = move || {
        state.run.with(|run| {
            run.as_ref()
                .map(|run| {
                    run.steps
                        .iter()
                        .enumerate()
                        .filter_map(|(i, r)| match &r.step {
                            Step::Speculative {
                                drafted,
                                added,
                                resampled,
                            } => Some((i, drafted.clone(), *added, *resampled)),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    let selected = move || selected_step(state).map(|(i, _)| i);
    view! {
        <Show when=move || !rounds().is_empty()>
            <section class="view" data-testid="speculative-view" aria-label="Speculative rounds">
                <h2>"Drafted and verified"</h2>
                <p class="hint">"Each round the draft proposes tokens; the target checks them in one pass and keeps a draft with probability min(1, p/q)."</p>
                <ol class="rounds">
                    {move || rounds().into_iter().map(|(i, drafted, added, resampled)| view! {
                        <li class="round" class:selected=move || selected() == Some(i) tabindex="0"
                            on:click=move |_| state.selected.set(Some(i))
                            on:keydown=move |ev| {
                                if ev.key() == "Enter" || ev.key() == " " {
                                    ev.prevent_default();
                                    state.selected.set(Some(i));
                                }
                            }>
                            {drafted.into_iter().map(|d| view! {
                                <span class="draft" data-testid="draft-token" data-accepted=d.accepted.to_string()
                                    data-p=d.p data-q=d.q class:accepted=d.accepted class:rejected=!d.accepted
                                    title=format!("p = {}, q = {}: {}", percent(d.p), percent(d.q), if d.accepted { "accepted" } else { "rejected" })>
                                    {text(state, d.id)}
                                    <small>{format!(" p {} q {}", percent(d.p), percent(d.q))}</small>
                                </span>
                            }).collect_view()}
                            <span class="added" data-testid="added-token"
                                title=if resampled { "resampled from max(0, p − q)" } else { "the target's own next token" }>
                                {text(state, added)}
                                <small>{if resampled { " resampled" } else { " added" }}</small>
                            </span>
                        </li>
                    }).collect_view()}
                </ol>
            </section>
        </Show>
    }
}

/// The selected step of contrastive decoding: expert and amateur
/// log-probabilities, the score, and the plausibility cut.
#[component]
pub fn ContrastiveView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let rows = move || {
        let (index, record) = selected_step(state)?;
        let Step::Contrastive { chosen, candidates } = record.step else {
            return None;
        };
        Some((index, chosen, candidates))
    };
    view! {
        <Show when=move || rows().is_some()>
            <section class="view" data-testid="contrastive-view" aria-label="Contrastive scores">
                <h2>{move || rows().map(|(i, _, _)| format!("Step {}: expert against amateur", i + 1))}</h2>
                <p class="hint">"score = log p_expert − λ·log p_amateur, among the tokens with p_expert ≥ α·max p_expert"</p>
                {move || rows().and_then(|(_, chosen, candidates)| {
                    // The expert's favourite, when the amateur's liking for it lost it the step.
                    let top = candidates.iter().max_by(|a, b| a.expert_logprob.total_cmp(&b.expert_logprob))?;
                    let pick = candidates.iter().find(|c| c.id == chosen)?;
                    (top.id != chosen).then(|| view! {
                        <p class="veto" data-testid="contrastive-veto" data-token-id=top.id>
                            {format!(
                                "Vetoed: the expert's favourite {} (log p {:.2}) is one the amateur likes too ({:.2}); {} scored higher ({:.2} against {:.2}).",
                                text(state, top.id), top.expert_logprob, top.amateur_logprob,
                                text(state, chosen), pick.score, top.score
                            )}
                        </p>
                    })
                })}
                <table>
                    <thead><tr><th>"Token"</th><th>"log p expert"</th><th>"log p amateur"</th><th>"score"</th></tr></thead>
                    <tbody>
                        {move || rows().map(|(_, chosen, candidates)| candidates.into_iter().map(|c| view! {
                            <tr data-testid="contrastive-row" data-token-id=c.id data-expert=c.expert_logprob
                                data-amateur=c.amateur_logprob data-plausible=c.plausible.to_string()
                                class:cut=!c.plausible class:chosen=c.id == chosen>
                                <td class="tokens">{text(state, c.id)}</td>
                                <td class="num">{format!("{:.3}", c.expert_logprob)}</td>
                                <td class="num">{format!("{:.3}", c.amateur_logprob)}</td>
                                <td class="num">{if c.plausible { format!("{:.3}", c.score) } else { "implausible".into() }}</td>
                            </tr>
                        }).collect_view())}
                    </tbody>
                </table>
            </section>
        </Show>
    }
}
