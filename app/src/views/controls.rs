//! The prompt, the strategy picker and the controls that apply to it
//! (the methods' own in [`crate::views::method_controls`]), Generate and Stop.

use leptos::prelude::*;

use crate::actions::{can_start, generate, stop};
use crate::settings::{Strategy, MAX_NEW_TOKENS};
use crate::state::{AppState, Status};
use crate::views::fields::{Number, Slider};
use crate::views::method_controls::{settings_problem, MethodControls};
use crate::views::sampler_controls::SamplerControls;

/// The form on the left: prompt, strategy, its controls, Generate and Stop.
#[component]
pub fn Controls() -> impl IntoView {
    let state = expect_context::<AppState>();
    let strategy = move || state.settings.with(|s| s.strategy);
    let running = move || state.status.get() == Status::Running;
    view! {
        <form class="controls" on:submit=move |ev| { ev.prevent_default(); generate(state); }>
            <label for="prompt">"Prompt"</label>
            <textarea id="prompt" data-testid="prompt" rows="3"
                prop:value=move || state.settings.with(|s| s.prompt.clone())
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    state.settings.update(|s| s.prompt = v);
                }
                on:keydown=move |ev| {
                    if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
                        ev.prevent_default();
                        generate(state);
                    }
                }></textarea>
            <label for="strategy">"Strategy"</label>
            <select id="strategy" data-testid="strategy"
                on:change=move |ev| {
                    if let Some(s) = Strategy::parse(&event_target_value(&ev)) {
                        state.settings.update(|x| x.strategy = s);
                    }
                }>
                {Strategy::ALL.into_iter().map(|s| view! {
                    <option value=s.name() selected=move || strategy() == s>{s.label()}</option>
                }).collect_view()}
            </select>
            <Show when=move || strategy().uses_sampling()>
                <Slider id="temperature" label="Temperature" min=0.0 max=2.0 step=0.05
                    get={|s| s.temperature} set={|s, v| s.temperature = v}
                    show={|v| if v == 0.0 { "0 (greedy)".into() } else { format!("{v:.2}") }}
                    hint="Divides the logits: below 1 sharpens the distribution, above 1 flattens it"
                    source="https://github.com/huggingface/transformers/blob/main/src/transformers/generation/logits_process.py"/>
                <Number id="seed" label="Seed" min=0 max=u32::MAX as u64
                    get={|s| s.seed} set={|s, v| s.seed = v}/>
            </Show>
            <SamplerControls/>
            <Show when=move || strategy() == Strategy::Beam>
                <Number id="num-beams" label="Beams" min=1 max=16
                    get={|s| s.beams as u64} set={|s, v| s.beams = v as usize}/>
            </Show>
            <Show when=move || strategy() == Strategy::Contrastive>
                <Slider id="alpha" label="Plausibility α" min=0.0 max=1.0 step=0.01
                    get={|s| s.alpha} set={|s, v| s.alpha = v} show={|v| format!("{v:.2}")}
                    hint="Only tokens with p_expert ≥ α·max p_expert are considered"/>
                <Slider id="lambda" label="Amateur weight λ" min=0.0 max=2.0 step=0.05
                    get={|s| s.lambda} set={|s, v| s.lambda = v} show={|v| format!("{v:.2}")}
                    hint="score = log p_expert − λ·log p_amateur"/>
            </Show>
            <Show when=move || strategy() == Strategy::Speculative>
                <Number id="gamma" label="Drafted tokens γ" min=1 max=16
                    get={|s| s.gamma as u64} set={|s, v| s.gamma = v as usize}/>
            </Show>
            <Show when=move || strategy().second_model().is_some()>
                <label for="second">{move || if strategy() == Strategy::Contrastive { "Amateur model" } else { "Draft model" }}</label>
                <input id="second" data-testid="second" type="text" list="draft-choices"
                    title=move || if strategy() == Strategy::Speculative {
                        "A Hub model, bundled-draft (served with the page), or prompt-lookup: n-grams copied from the text, no second model"
                    } else { "A Hub model, or bundled-draft (served with the page)" }
                    prop:value=move || {
                        let main = state.main_name.get();
                        state.settings.with(|s| s.second_for(&main))
                    }
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        if !v.trim().is_empty() {
                            state.settings.update(|s| s.second = v.trim().to_string());
                        }
                    }/>
                <datalist id="draft-choices">
                    <option value="bundled-draft"/><option value="distilgpt2"/>
                    <Show when=move || strategy() == Strategy::Speculative>
                        <option value="prompt-lookup"/>
                    </Show>
                </datalist>
            </Show>
            <MethodControls/>
            <Number id="max-new-tokens" label="Max new tokens" min=1 max=MAX_NEW_TOKENS as u64
                get={|s| s.max_new_tokens as u64} set={|s, v| s.max_new_tokens = v as usize}/>
            <div class="buttons">
                <button type="submit" data-testid="generate" disabled=move || !can_start(state) || settings_problem(state).is_some()>"Generate"</button>
                <button type="button" data-testid="stop" disabled=move || !running()
                    on:click=move |_| stop(state)>"Stop"</button>
            </div>
        </form>
    }
}
