//! The page: settings from the URL, the model loaded on start, the panels laid out.

use leptos::prelude::*;

use crate::actions::load_main;
use crate::settings::{token_from_fragment, Settings, Strategy};
use crate::state::AppState;
use crate::views::beam_tree::BeamTreeView;
use crate::views::bench_panel::BenchPanel;
use crate::views::branches::BranchList;
use crate::views::chart::StepChart;
use crate::views::controls::Controls;
use crate::views::export::RunExport;
use crate::views::funnel::SamplerFunnel;
use crate::views::lanes::LanePanel;
use crate::views::logit_lens::LogitLens;
use crate::views::output::Output;
use crate::views::prompt_surprise::PromptSurpriseView;
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
    // A link to a server carries its token in the fragment, which the
    // address written back below leaves out.
    let token = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .and_then(|fragment| token_from_fragment(&fragment))
        .unwrap_or_default();
    let state = AppState::new(settings, notices, token);
    provide_context(state);
    // The address always holds the settings, so a view can be shared (and
    // never the token: the fragment goes).
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
                <LanePanel/>
                <Timeline/>
                <Show when=move || state.settings.with(|s| matches!(s.strategy, Strategy::Greedy | Strategy::Sample))>
                    <StepChart/>
                    <SamplerFunnel/>
                </Show>
                <BeamTreeView/>
                <BranchList/>
                <BeamView/>
                <SpeculativeView/>
                <ContrastiveView/>
                <PromptSurpriseView/>
                <LogitLens/>
                <RunExport/>
                <ScorePanel/>
            </div>
        </main>
    }
}
