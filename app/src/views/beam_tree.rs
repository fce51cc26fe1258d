//! The beam tree of a beam search run (see [`crate::beam_tree`]): an SVG with
//! a column per step, every hypothesis a node (kept, finished with its rank,
//! pruned), joined to the beam it extends; diverse beam search's groups in
//! their own colours. Arrow keys move the focus (← the parent, → the best
//! continuation, ↑ ↓ within the step), Enter or a click selects the step.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::beam_tree::{self, Node, NodeState, Tree};
use crate::runner::token_text;
use crate::state::AppState;
use crate::views::output::visible;

/// Column and row pitch, node size and margin (SVG units: pixels).
const COLUMN: f32 = 112.0;
const ROW: f32 = 40.0;
const NODE_W: f32 = 96.0;
const NODE_H: f32 = 32.0;
const PAD: f32 = 6.0;
/// Characters of a token's text shown in its node.
const SHOWN: usize = 10;

/// Top-left corner of the node in `column`, `row`.
fn corner(column: usize, row: usize) -> (f32, f32) {
    (PAD + column as f32 * COLUMN, PAD + row as f32 * ROW)
}

/// The tree of the current run, when it is a beam search.
#[component]
pub fn BeamTreeView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let tree = Memo::new(move |_| {
        state.run.with(|r| {
            r.as_ref()
                .map(|r| beam_tree::build(r.steps.iter().map(|s| &s.step)))
                .unwrap_or_default()
        })
    });
    // The node that takes Tab (a roving tabindex).
    let focused = RwSignal::new(0usize);
    let grouped = move || tree.with(|t| t.nodes.iter().any(|n| n.group > 0));
    let size = move || {
        let t = tree.get();
        let (w, h) = corner(t.steps + 1, t.rows.max(1));
        (w + PAD, h + PAD)
    };
    let selected = move || {
        state
            .selected
            .get()
            .or_else(|| tree.with(|t| t.steps.checked_sub(1)))
    };
    let chart = move || {
        let t = tree.get();
        let (_, height) = size();
        let band = selected().filter(|&s| s < t.steps).map(|s| {
            let (x, _) = corner(s + 1, 0);
            view! { <rect class="step-band" x=x - PAD / 2.0 y="0" width=COLUMN height=height></rect> }
        });
        let edges = t.nodes.iter().map(|n| edge(&t, n)).collect_view();
        let root = view! {
            <g class="beam-root" aria-hidden="true">
                <rect x=PAD y=PAD width=NODE_W height=NODE_H rx="5"></rect>
                <text x=PAD + 8.0 y=PAD + 20.0>"prompt"</text>
            </g>
        };
        let nodes = (0..t.nodes.len())
            .map(|i| node_view(state, tree, i, focused))
            .collect_view();
        view! { {band} {edges} {root} {nodes} }
    };
    view! {
        <Show when=move || tree.with(|t| !t.nodes.is_empty())>
            <section class="view beam-tree-panel" data-testid="beam-tree" aria-label="Beam tree">
                <h2>"Beam tree"</h2>
                <p class="hint">"Every hypothesis the search weighed, step by step, with its length-penalised score (log p ÷ length^penalty). Arrow keys move between hypotheses (← the beam it extends, → its best continuation, ↑ ↓ the step's others); Enter selects the step."</p>
                <div class="legend" aria-hidden="true">
                    <span><span class="key kept-key"></span>" kept"</span>
                    <span><span class="key finished-key"></span>" finished (#rank)"</span>
                    <span><span class="key pruned-key"></span>" pruned"</span>
                    <Show when=grouped>
                        {move || {
                            let groups = tree.with(|t| t.nodes.iter().map(|n| n.group).max().unwrap_or(0) + 1);
                            (0..groups).map(|g| view! {
                                <span><span class=format!("key group-key group-{}", g % 4)></span>{format!(" group {}", g + 1)}</span>
                            }).collect_view()
                        }}
                    </Show>
                </div>
                <div class="beam-tree-scroll">
                    <svg class="beam-tree" role="group"
                        aria-label="Beam tree: a column per step, a node per hypothesis"
                        width=move || size().0 height=move || size().1
                        viewBox=move || { let (w, h) = size(); format!("0 0 {w} {h}") }>
                        {chart}
                    </svg>
                </div>
            </section>
        </Show>
    }
}

/// The line from a node's parent (or the prompt) to it.
fn edge(tree: &Tree, n: &Node) -> impl IntoView {
    let (px, py) = n.parent.map_or(corner(0, 0), |p| {
        corner(tree.nodes[p].column, tree.nodes[p].row)
    });
    let (x, y) = corner(n.column, n.row);
    let (x0, y0, x1, y1) = (px + NODE_W, py + NODE_H / 2.0, x, y + NODE_H / 2.0);
    let mid = (x0 + x1) / 2.0;
    let d = format!("M{x0:.1},{y0:.1} C{mid:.1},{y0:.1} {mid:.1},{y1:.1} {x1:.1},{y1:.1}");
    view! { <path class=format!("beam-edge {}", n.state.name()) d=d></path> }
}

/// One hypothesis: focusable, selects its step on click or Enter, moves the
/// focus on the arrow keys.
fn node_view(
    state: AppState,
    tree: Memo<Tree>,
    i: usize,
    focused: RwSignal<usize>,
) -> impl IntoView {
    let n = tree.with_untracked(|t| t.nodes[i].clone());
    let text = state
        .main_model()
        .map(|m| visible(&token_text(&m.tokenizer, n.id)))
        .unwrap_or_else(|| n.id.to_string());
    let shown: String = if text.chars().count() > SHOWN {
        text.chars().take(SHOWN - 1).chain(['…']).collect()
    } else {
        text.clone()
    };
    let rank = n.rank.map(|r| format!("#{} ", r + 1)).unwrap_or_default();
    let label = format!(
        "step {}: {text:?} (id {}), score {:.3}, log p {:.3}, {}{}{}",
        n.step + 1,
        n.id,
        n.score,
        n.logprob,
        n.state.name(),
        n.rank
            .map(|r| format!(", ranked {}", r + 1))
            .unwrap_or_default(),
        if n.group > 0 || tree.with_untracked(|t| t.nodes.iter().any(|n| n.group > 0)) {
            format!(", group {}", n.group + 1)
        } else {
            String::new()
        }
    );
    let (x, y) = corner(n.column, n.row);
    let step = n.step;
    let select = move || state.selected.set(Some(step));
    let tabindex = move || {
        let last = tree.with(|t| t.nodes.len().saturating_sub(1));
        if focused.get().min(last) == i {
            "0"
        } else {
            "-1"
        }
    };
    let class = format!("beam-node {} group-{}", n.state.name(), n.group % 4);
    let title = label.clone();
    view! {
        <g class=class data-testid="beam-node" data-node=i data-step=n.step data-id=n.id
            data-score=n.score.to_string() data-logprob=n.logprob.to_string()
            data-state=n.state.name() data-group=n.group data-rank=n.rank
            tabindex=tabindex role="button" aria-label=label
            on:focus=move |_| focused.set(i)
            on:click=move |_| select()
            on:keydown=move |ev: web_sys::KeyboardEvent| {
                let key = ev.key();
                if key == "Enter" || key == " " {
                    ev.prevent_default();
                    select();
                } else if let Some(next) = tree.with_untracked(|t| beam_tree::neighbour(t, i, &key)) {
                    ev.prevent_default();
                    focused.set(next);
                    focus_node(next);
                }
            }>
            <title>{title}</title>
            <rect x=x y=y width=NODE_W height=NODE_H rx="5"></rect>
            <text class="token" x=x + 6.0 y=y + 13.0>{shown}</text>
            <text class="score" x=x + 6.0 y=y + 27.0>{format!("{rank}{:.3}", n.score)}</text>
            {(n.state == NodeState::Finished).then(|| view! {
                <circle class="end-mark" cx=x + NODE_W - 8.0 cy=y + 8.0 r="3"></circle>
            })}
        </g>
    }
}

/// Moves the keyboard focus to node `i`.
fn focus_node(i: usize) {
    let selector = format!("[data-testid=\"beam-node\"][data-node=\"{i}\"]");
    let found = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector(&selector).ok().flatten())
        .and_then(|e| e.dyn_into::<web_sys::SvgElement>().ok());
    if let Some(el) = found {
        let _ = el.focus();
    }
}
