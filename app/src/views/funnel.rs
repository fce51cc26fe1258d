//! The sampler chain, stage by stage, for the selected step: a table of the
//! whole vocabulary through each point of the chain (see [`crate::funnel`]).
//! It follows the sliders with no forward pass.

use engine::decoding::processors::{Point, StageTrace};
use leptos::prelude::*;

use crate::funnel::{cut_at, cut_when, funnel, number, threshold_text, Funnel};
use crate::state::AppState;
use crate::views::chart::{percent, with_selected_step};

/// The funnel of the selected step (the latest when none is selected).
#[component]
pub fn SamplerFunnel() -> impl IntoView {
    let state = expect_context::<AppState>();
    // Outer `None`: no token step; inner: a token step without its logits.
    let traced = Memo::new(move |_| {
        with_selected_step(state, |index, step, current, _, _| {
            (index, funnel(step, current))
        })
    });
    view! {
        <section class="funnel-panel" aria-label="The sampler chain, stage by stage" data-testid="funnel">
            <h2>{move || match traced.get() {
                Some((i, _)) => format!("Step {}: the chain, stage by stage", i + 1),
                None => "The chain, stage by stage".to_string(),
            }}</h2>
            {move || match traced.get() {
                Some((_, Some(f))) => table(f).into_any(),
                Some((_, None)) => view! {
                    <p class="empty" data-testid="funnel-empty">"This step kept only its top candidates (greedy decoding reads the top of the row from the device), so there is no whole vocabulary to pass through the chain. Sampling steps keep it."</p>
                }.into_any(),
                None => view! {
                    <p class="empty" data-testid="funnel-empty">"Generate with greedy or sampling to see what each stage of the chain leaves of the vocabulary."</p>
                }.into_any(),
            }}
        </section>
    }
}

fn table(f: Funnel) -> impl IntoView {
    let note = f.recomputed.then(|| view! {
        <p class="chart-note">"Traced under the current settings from this step's logits (no forward pass)."</p>
    });
    let mut was_kept = f.model.chosen_rank.is_some();
    let rows = f
        .stages
        .into_iter()
        .map(|s| {
            let kept_before = was_kept;
            was_kept = s.chosen_rank.is_some();
            row(s, "funnel-stage", kept_before)
        })
        .collect_view();
    view! {
        {note}
        <table class="funnel">
            <caption class="visually-hidden">"Each stage of the chain: tokens left, the model's probability mass left, entropy, the chosen token's rank and probability, and the setting at which it would be cut"</caption>
            <thead><tr>
                <th scope="col">"stage"</th><th scope="col">"tokens left"</th>
                <th scope="col">"mass left"</th><th scope="col">"entropy"</th>
                <th scope="col">"chosen: rank · p"</th><th scope="col">"chosen would be cut"</th>
            </tr></thead>
            <tbody>
                {row(f.model, "funnel-model", true)}
                {rows}
            </tbody>
        </table>
    }
}

/// One row; `kept_before`: the chosen token had survived to this point.
fn row(s: StageTrace, testid: &'static str, kept_before: bool) -> impl IntoView {
    let chosen = match s.chosen_rank {
        Some(rank) => format!("#{rank} · {}", percent(s.chosen_prob)),
        None => "cut".to_string(),
    };
    let threshold = match s.point {
        Point::Model => String::new(),
        point => threshold_text(point, s.threshold, kept_before),
    };
    let width = format!("width: {:.2}%", 100.0 * s.mass.clamp(0.0, 1.0));
    view! {
        <tr data-testid=testid data-name=s.point.name() data-kept=s.kept data-mass=s.mass
            data-entropy=s.entropy data-chosen-rank=s.chosen_rank data-chosen-prob=s.chosen_prob
            data-cut-when=s.threshold.map(cut_when) data-cut-at=s.threshold.and_then(cut_at)
            class:chosen-cut=s.chosen_rank.is_none()>
            <th scope="row">{s.point.name()}</th>
            <td class="num">{s.kept}</td>
            <td class="mass"><span class="mass-track"><span class="mass-fill" style=width></span></span>
                <span class="num">{percent(s.mass as f32)}</span></td>
            <td class="num">{format!("{} nats", number(s.entropy as f64))}</td>
            <td class="num">{chosen}</td>
            <td class="threshold">{threshold}</td>
        </tr>
    }
}
