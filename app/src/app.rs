//! The page: settings from the URL, the model loaded on start, the panels laid out.

use leptos::prelude::*;

use crate::actions::load_main;
use crate::settings::{Settings, Strategy};
use crate::state::AppState;
use crate::views::bench_panel::BenchPanel;
use crate::views::chart::StepChart;
use crate::views::controls::Controls;
use crate::views::export::RunExport;
use crate::views::output::Output;
use crate::views::score_panel::ScorePanel;
use crate::views::status::{ModelBar, StatusBar};
use crate::views::strategy_views::{BeamView, ContrastiveView, SpeculativeView};
use crate::views::timeline::Timeline;

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let query = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let (settings, notices) = Settings::from_query(&query);
    let state = AppState::new(settings, notices);
    provide_context(state);
    // The address always holds the settings, so a view can be shared.
    Effect::new(move |_| {
        let query = state.settings.with(|s| s.to_query());
        if let Some(w) = web_sys::window() {
            if let Ok(history) = w.history() {
                let _ =
                    history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&query));
            }
        }
    });
    load_main(state, None);
    view! {
        <header>
            <h1>"GPT-2 decoding playground"</h1>
            <p class="tagline">"See how a language model picks its words — running on your own GPU."</p>
            <ModelBar/>
            <StatusBar/>
        </header>
        <main>
            <Controls/>
            <div class="results">
                <BenchPanel/>
                <Output/>
                <Timeline/>
                <Show when=move || state.settings.with(|s| matches!(s.strategy, Strategy::Greedy | Strategy::Sample))>
                    <StepChart/>
                </Show>
                <BeamView/>
                <SpeculativeView/>
                <ContrastiveView/>
                <RunExport/>
                <ScorePanel/>
            </div>
        </main>
    }
}
