//! `?bench=1`'s panel: the benchmark's progress, its prefill and decode
//! speed, the adapter, the GPU time per kernel kind where the browser gives
//! timestamp queries, and the text to copy into a report.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::bench::{BenchState, NEW_TOKENS, PROMPT_TOKENS, RUNS};
use crate::speed::{figure, BenchResult, Profile};
use crate::state::{AppState, Status};

/// The browser, as its user agent says.
fn user_agent() -> String {
    web_sys::window()
        .and_then(|w| w.navigator().user_agent().ok())
        .unwrap_or_default()
}

/// Puts `text` on the clipboard (`navigator.clipboard.writeText`), where allowed.
fn copy_to_clipboard(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let clipboard =
        js_sys::Reflect::get(&window.navigator(), &"clipboard".into()).unwrap_or_default();
    let write = js_sys::Reflect::get(&clipboard, &"writeText".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    match write {
        Some(f) => f.call1(&clipboard, &text.into()).is_ok(),
        None => false,
    }
}

/// The panel; nothing without `?bench=1`.
#[component]
pub fn BenchPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let bench = move || state.bench.get();
    let result = move || match bench() {
        Some(BenchState::Done(r)) => Some(r),
        _ => None,
    };
    let tps = move |f: fn(&BenchResult) -> Option<f64>| {
        move || result().and_then(|r| f(&r)).map(|x| x.to_string())
    };
    view! {
        <Show when=move || bench().is_some()>
            <section class="bench-panel" data-testid="bench" aria-label="Benchmark"
                data-state=move || bench().map(|b| b.name()).unwrap_or_default()
                data-prefill-tps=tps(|r| r.speed.prefill_tps)
                data-decode-tps=tps(|r| r.speed.decode_tps)
                data-device=move || result().map(|r| r.device)
                data-adapter=move || result().and_then(|r| r.adapter)
                data-kernels=move || result().and_then(|r| r.kernel_set)
                data-timestamps=move || result().map(|r| matches!(r.profile, Profile::Kernels(_)).to_string())>
                <h2>"Benchmark"</h2>
                <p class="hint">
                    {format!("Greedy decoding on the loaded model: a fixed prompt of {PROMPT_TOKENS} tokens, \
                        {NEW_TOKENS} new tokens, the median of {RUNS} runs after a warm-up.")}
                </p>
                {move || match bench() {
                    Some(BenchState::Running(what)) => view! {
                        <p class="bench-progress" role="status">{format!("Running: {what}…")}</p>
                    }.into_any(),
                    Some(BenchState::Error(why)) => view! {
                        <p class="error" role="alert">{format!("The benchmark failed: {why}")}</p>
                        <RunAgain/>
                    }.into_any(),
                    Some(BenchState::Done(r)) => view! { <BenchFigures result=r/> }.into_any(),
                    None => ().into_any(),
                }}
            </section>
        </Show>
    }
}

/// Runs the benchmark again by reloading the page: a fresh model (from the
/// page's cache), since one whose kernels were timed stays timed.
#[component]
fn RunAgain() -> impl IntoView {
    let state = expect_context::<AppState>();
    let reload = move |_| {
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    };
    view! {
        <button type="button" class="small" data-testid="bench-again"
            disabled=move || state.status.get() == Status::Running
            on:click=reload>"Run again"</button>
    }
}

/// A finished benchmark's figures and the text to report them.
#[component]
fn BenchFigures(result: BenchResult) -> impl IntoView {
    let report = result.report(&user_agent());
    let copied = RwSignal::new(false);
    let copy = {
        let report = report.clone();
        move |_| copied.set(copy_to_clipboard(&report))
    };
    let kernels = match result.profile {
        Profile::Kernels(rows) => view! {
            <table class="bench-kernels">
                <thead><tr>
                    <th>"kernel"</th><th>"ms per token"</th><th>"share"</th>
                    <th>"dispatches per token"</th><th>"GB/s"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| view! {
                        <tr data-testid="bench-kernel" data-kind=r.kind
                            data-ms-per-token=r.ms_per_token.to_string()
                            data-gb-per-s=r.gb_per_s.map(|x| x.to_string())>
                            <td>{r.kind}</td>
                            <td class="num">{format!("{:.3}", r.ms_per_token)}</td>
                            <td class="num">{format!("{:.0}%", r.share * 100.0)}</td>
                            <td class="num">{format!("{:.1}", r.dispatches_per_token)}</td>
                            <td class="num">{figure(r.gb_per_s)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            <p class="hint">"GPU time of each kernel kind over the greedy decode tokens after the \
                prompt, from timestamp queries; GB/s is the bytes its dispatches read and write over \
                that time. Chrome rounds timestamps to 0.1 ms unless \
                chrome://flags/#enable-webgpu-developer-features is on: the times of short kernels \
                are then means of rounded times, rough."</p>
        }
        .into_any(),
        Profile::NoTimestamps => view! {
            <p class="hint" data-testid="bench-no-timestamps">"No time per kernel: this browser \
                gives no timestamp queries (WebGPU's timestamp-query feature)."</p>
        }
        .into_any(),
        Profile::Cpu => view! {
            <p class="hint" data-testid="bench-no-timestamps">"No time per kernel: the model runs \
                on the CPU."</p>
        }
        .into_any(),
    };
    view! {
        <p class="bench-figures">
            <strong>{format!("decode {} tokens/s", figure(result.speed.decode_tps))}</strong>
            {format!(" · prefill {} tokens/s", figure(result.speed.prefill_tps))}
        </p>
        <p class="bench-device">
            {format!("{} on {}", result.model, result.device)}
            {result.adapter.clone().map(|a| format!(" · adapter: {a}"))}
            {result.kernel_set.map(|k| format!(" · {k} kernels"))}
        </p>
        {kernels}
        <p>"To report these figures: press Copy (or select the text below and copy it), and \
            paste it into an issue on the playground's repository, with your GPU's name and \
            driver version if the device line lacks them."</p>
        <textarea class="bench-report" data-testid="bench-report" readonly
            aria-label="The figures, to copy" rows=report.lines().count() + 1
            prop:value=report.clone()></textarea>
        <div class="buttons">
            <button type="button" data-testid="bench-copy" on:click=copy>"Copy"</button>
            <RunAgain/>
            <Show when=move || copied.get()>
                <span class="hint">"Copied."</span>
            </Show>
        </div>
    }
}
