//! Compare: up to four lanes on the same prompt, seed and model(s), each with
//! its own strategy and settings ([`crate::settings::lanes`]); one Generate
//! runs them all ([`crate::lanes`]). Each lane shows its output aligned token
//! by token with the others, the first divergence marked, and its figures;
//! clicking a lane shows its steps in the views below.

use leptos::prelude::*;

use crate::lanes::{self, first_divergence};
use crate::settings::lanes::{parse_lane, MAX_LANES};
use crate::settings::Strategy;
use crate::state::{AppState, Status};
use crate::views::output::visible;

/// The Compare panel: Add lane, and the lanes once there are two.
#[component]
pub fn LanePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let count = move || state.settings.with(|s| s.lane_count());
    let running = move || state.status.get() == Status::Running;
    view! {
        <section class="lanes-panel" aria-label="Compare lanes">
            <h2>"Compare"</h2>
            <p class="hint">"Up to four lanes, each its own strategy and settings, on the same prompt, seed and model; Generate runs them in turn. Lane 0 is the settings on the left; click a lane to see its steps."</p>
            <button type="button" data-testid="add-lane"
                disabled={move || count() >= MAX_LANES || running()}
                on:click=move |_| lanes::add(state)>"Add lane"</button>
            <Show when=move || { count() > 1 }>
                <div class="lanes">
                    <For each=move || 0..count() key=|i| *i
                        children=move |i| view! { <Lane i/> }/>
                </div>
            </Show>
        </section>
    }
}

/// Lane `i`: its settings, output and figures.
#[component]
fn Lane(i: usize) -> impl IntoView {
    let state = expect_context::<AppState>();
    let run = move || state.lanes.with(|l| l.get(i).cloned());
    let divergence = move || state.lanes.with(|l| first_divergence(l));
    let ids = move || {
        run().map_or_else(String::new, |r| {
            let ids: Vec<String> = r.ids().iter().map(u32::to_string).collect();
            ids.join(",")
        })
    };
    let first = move || match (run(), divergence()) {
        (None, _) => String::new(),
        (Some(_), Some(d)) => d.to_string(),
        (Some(_), None) => "none".into(),
    };
    let chips = move || {
        let chips = run().map(|r| r.run.chips).unwrap_or_default();
        let d = divergence();
        chips
            .into_iter()
            .enumerate()
            .map(|(k, c)| {
                let diverged = d == Some(k);
                view! {
                    <span class="chip" class:diverged=diverged data-token-id=c.id
                        data-diverged=diverged.then_some("true")>{visible(&c.text)}</span>
                }
            })
            .collect_view()
    };
    let problem = move || state.settings.with(|s| s.lane(i).problem(None));
    view! {
        <div class="lane" data-testid="lane" data-lane=i data-first-divergence=first
            class:selected=move || state.lane.get() == i
            on:click=move |_| lanes::select(state, i)>
            <div class="lane-head">
                <strong>{format!("Lane {i}")}</strong>
                {move || if i == 0 {
                    view! { <span class="hint">"the settings on the left"</span> }.into_any()
                } else {
                    view! { <LaneSettings i/> }.into_any()
                }}
            </div>
            <p class="lane-problem" data-testid="lane-problem">{problem}</p>
            <p class="output" data-testid="output" data-token-ids=ids>
                <span class="prompt-text">{move || state.settings.with(|s| s.prompt.clone())}</span>
                {chips}
            </p>
            <LaneFiguresView i/>
        </div>
    }
}

/// Lane `i`'s (1 to 3) own settings: its strategy, temperature and every
/// other setting in `key=value` form, as `laneN=` holds them; and Remove.
#[component]
fn LaneSettings(i: usize) -> impl IntoView {
    let state = expect_context::<AppState>();
    let own = move || state.settings.with(|s| s.lanes.get(i - 1).cloned());
    let edit = move |f: &dyn Fn(&mut crate::settings::Settings)| {
        state.settings.update(|s| {
            if let Some(lane) = s.lanes.get_mut(i - 1) {
                f(lane);
            }
        })
    };
    let error = RwSignal::new(String::new());
    let set_temperature = move |text: &str| match text.trim().parse::<f32>() {
        Ok(t) if (0.0..=5.0).contains(&t) => {
            error.set(String::new());
            edit(&|l| l.temperature = t);
        }
        _ => error.set("temperature: a number between 0 and 5".into()),
    };
    let set_own = move |text: &str| match parse_lane(text) {
        Ok(lane) => {
            error.set(String::new());
            edit(&|l| *l = lane.clone());
        }
        Err(why) => error.set(why),
    };
    view! {
        <select data-testid="lane-strategy" aria-label=format!("Lane {i} strategy")
            on:change=move |ev| {
                if let Some(m) = Strategy::parse(&event_target_value(&ev)) {
                    edit(&|l| l.strategy = m);
                }
            }>
            {Strategy::ALL.into_iter().map(|m| view! {
                <option value=m.name() selected=move || own().is_some_and(|l| l.strategy == m)>{m.label()}</option>
            }).collect_view()}
        </select>
        <label class="hint">"T "
            <input type="number" data-testid="lane-temperature" min="0" max="5" step="0.05"
                aria-label=format!("Lane {i} temperature")
                prop:value=move || own().map(|l| l.temperature.to_string()).unwrap_or_default()
                on:change=move |ev| set_temperature(&event_target_value(&ev))/>
        </label>
        <input type="text" class="lane-settings" data-testid="lane-settings"
            aria-label=format!("Lane {i} settings")
            title="This lane's own settings, as key=value pairs joined by &"
            prop:value=move || own().map(|l| l.lane_query()).unwrap_or_default()
            on:change=move |ev| set_own(&event_target_value(&ev))/>
        <button type="button" class="small" data-testid="remove-lane" aria-label=format!("Remove lane {i}")
            on:click=move |ev| {
                ev.stop_propagation();
                lanes::remove(state, i);
            }>"Remove"</button>
        <span class="lane-error" data-testid="lane-error" role="alert">{move || error.get()}</span>
    }
}

/// Lane `i`'s figures, once it ran.
#[component]
fn LaneFiguresView(i: usize) -> impl IntoView {
    let state = expect_context::<AppState>();
    let figures = move || state.lanes.with(|l| l.get(i).map(|l| l.figures()));
    let data = move |f: fn(&lanes::LaneFigures) -> String| {
        move || figures().map(|x| f(&x)).unwrap_or_default()
    };
    let show = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.3}"));
    view! {
        <p class="lane-figures" data-testid="lane-figures"
            data-tokens-per-s=data(|f| f.tokens_per_s.to_string())
            data-mean-logprob=data(|f| raw(f.mean_logprob))
            data-distinct-2=data(|f| raw(f.distinct_2))
            data-repeated-4grams=data(|f| f.repeated_4grams.to_string())>
            {move || figures().map(|f| format!(
                "{:.1} tokens/s · mean log-prob {} · distinct-2 {} · repeated 4-grams {}",
                f.tokens_per_s, show(f.mean_logprob), show(f.distinct_2), f.repeated_4grams
            ))}
        </p>
    }
}

/// A figure in full, for its `data-*` attribute (empty when there is none).
fn raw(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}
