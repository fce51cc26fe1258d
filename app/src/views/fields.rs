//! The form's inputs, each bound to one setting: a slider, a whole-number
//! field and a text field, with a one-line explanation and, where there is
//! one, a link to the method's paper or source.

use leptos::prelude::*;

use crate::settings::Settings;
use crate::state::AppState;

/// A labelled slider bound to one setting; `show` formats its value.
#[component]
pub fn Slider(
    /// The `data-testid` and the input's id.
    id: &'static str,
    label: &'static str,
    min: f32,
    max: f32,
    step: f32,
    get: fn(&Settings) -> f32,
    set: fn(&mut Settings, f32),
    show: fn(f32) -> String,
    /// What the slider does, for people, in one line.
    hint: &'static str,
    /// The paper or implementation it follows.
    #[prop(optional)]
    source: &'static str,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let value = move || state.settings.with(get);
    view! {
        <div class="control">
            <label for=id>{label} <output>{move || show(value())}</output></label>
            <input type="range" id=id data-testid=id min=min max=max step=step title=hint
                prop:value=move || value().to_string()
                on:input=move |ev| {
                    if let Ok(v) = event_target_value(&ev).parse::<f32>() {
                        state.settings.update(|s| set(s, v));
                    }
                }/>
            <Hint hint source/>
        </div>
    }
}

/// A labelled whole-number field bound to one setting.
#[component]
pub fn Number(
    id: &'static str,
    label: &'static str,
    min: u64,
    max: u64,
    get: fn(&Settings) -> u64,
    set: fn(&mut Settings, u64),
    /// What the field does, in one line ("" for none).
    #[prop(optional)]
    hint: &'static str,
    #[prop(optional)] source: &'static str,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <div class="control number">
            <label for=id>{label}</label>
            <input type="number" id=id data-testid=id min=min max=max
                prop:value=move || state.settings.with(get).to_string()
                on:input=move |ev| {
                    if let Ok(v) = event_target_value(&ev).trim().parse::<u64>() {
                        state.settings.update(|s| set(s, v.clamp(min, max)));
                    }
                }/>
            <Hint hint source/>
        </div>
    }
}

/// A labelled text field bound to one setting; `set` may refuse a value
/// (shown beside the field until it is fixed).
#[component]
pub fn Text(
    id: &'static str,
    label: &'static str,
    get: fn(&Settings) -> String,
    set: fn(&mut Settings, &str) -> Result<(), String>,
    hint: &'static str,
    #[prop(optional)] source: &'static str,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let problem = RwSignal::new(None::<String>);
    view! {
        <div class="control text">
            <label for=id>{label}</label>
            <input type="text" id=id data-testid=id title=hint
                prop:value=move || state.settings.with(get)
                on:change=move |ev| {
                    let v = event_target_value(&ev);
                    let mut next = state.settings.get_untracked();
                    match set(&mut next, &v) {
                        Ok(()) => {
                            problem.set(None);
                            state.settings.set(next);
                        }
                        Err(why) => problem.set(Some(why)),
                    }
                }/>
            {move || problem.get().map(|p| view! { <p class="field-problem">{p}</p> })}
            <Hint hint source/>
        </div>
    }
}

/// A control's one-line explanation and its source link.
#[component]
fn Hint(hint: &'static str, source: &'static str) -> impl IntoView {
    (!hint.is_empty()).then(|| {
        view! {
            <p class="hint">{hint}
                {(!source.is_empty()).then(|| view! {
                    " " <a href=source target="_blank" rel="noopener">"source"</a>
                })}
            </p>
        }
    })
}
