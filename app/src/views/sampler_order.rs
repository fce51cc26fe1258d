//! The order of the sampler chain, as a list with a move-up and a move-down
//! button per stage (`samplers=` in the URL, as `gpt2 --samplers`): the
//! stages the current settings turn on are marked.

use engine::decoding::Stage;
use leptos::prelude::*;

use crate::settings::sampling::order_names;
use crate::state::AppState;

/// The chain's stages in their order, each movable up and down.
#[component]
pub fn SamplerOrder() -> impl IntoView {
    let state = expect_context::<AppState>();
    let order = move || state.settings.with(|s| s.chain.order.clone());
    let active = move |stage: Stage| {
        state
            .settings
            .with(|s| s.sampling(None).is_ok_and(|params| params.is_set(stage)))
    };
    let shift =
        move |stage: Stage, up: bool| state.settings.update(|s| s.chain.move_stage(stage, up));
    view! {
        <details class="group sampler-order">
            <summary>"Order of the chain"</summary>
            <p class="hint">"The stages run top to bottom; the marked ones are on. Mirostat draws the token, so it must be the last one on."</p>
            <ol data-testid="sampler-order" data-order=move || order_names(&order())>
                {move || {
                    let stages = order();
                    let last = stages.len().saturating_sub(1);
                    stages.into_iter().enumerate().map(|(i, stage)| view! {
                        <li data-testid="sampler-stage" data-stage=stage.name()
                            data-active=move || active(stage).to_string() class:active=move || active(stage)>
                            <span class="stage-name">{stage.name()}</span>
                            <button type="button" data-testid="sampler-up" data-stage=stage.name()
                                disabled=i == 0 title="Move up"
                                on:click=move |_| shift(stage, true)>"▲"</button>
                            <button type="button" data-testid="sampler-down" data-stage=stage.name()
                                disabled=i == last title="Move down"
                                on:click=move |_| shift(stage, false)>"▼"</button>
                        </li>
                    }).collect_view()
                }}
            </ol>
            <button type="button" data-testid="sampler-order-reset"
                on:click=move |_| state.settings.update(|s| s.chain.order = Stage::DEFAULT_ORDER.to_vec())>
                "Default order"
            </button>
        </details>
    }
}
