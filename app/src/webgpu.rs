//! Whether this browser offers WebGPU, asked before the model is loaded so
//! that a missing one gets an explanation instead of a failed load.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// What to tell a person whose browser has no usable WebGPU.
pub const HOW_TO_ENABLE: &str = "WebGPU is not available in this browser, and the model runs on \
the GPU through it. Use a recent Chrome or Edge (113 or later), Safari 26, or Firefox 141 or later \
on Windows; on Linux, Chrome needs chrome://flags/#enable-unsafe-webgpu and \
chrome://flags/#enable-vulkan turned on. Or run the model on the CPU instead: it works \
everywhere, more slowly.";

/// `Ok` when `navigator.gpu` exists and gives an adapter.
pub async fn check() -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let gpu = Reflect::get(&window.navigator(), &"gpu".into()).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return Err(format!("{HOW_TO_ENABLE} (navigator.gpu is missing)"));
    }
    let request: Function = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| format!("{HOW_TO_ENABLE} (navigator.gpu.requestAdapter is missing)"))?;
    let promise: Promise = request
        .call0(&gpu)
        .ok()
        .and_then(|p| p.dyn_into().ok())
        .ok_or_else(|| format!("{HOW_TO_ENABLE} (requestAdapter failed)"))?;
    let adapter = JsFuture::from(promise).await.unwrap_or(JsValue::NULL);
    if adapter.is_null() || adapter.is_undefined() {
        return Err(format!(
            "{HOW_TO_ENABLE} (the browser found no GPU adapter)"
        ));
    }
    Ok(())
}

/// The adapter WebGPU gives (the high-performance one, as the engine asks
/// for), in the browser's words: `GPUAdapterInfo`'s vendor, architecture,
/// device and description, those it fills in, joined by ` / `. `None` where
/// the browser says nothing.
pub async fn adapter_name() -> Option<String> {
    let window = web_sys::window()?;
    let gpu = Reflect::get(&window.navigator(), &"gpu".into()).ok()?;
    let request: Function = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let options = js_sys::Object::new();
    Reflect::set(
        &options,
        &"powerPreference".into(),
        &"high-performance".into(),
    )
    .ok()?;
    let promise: Promise = request.call1(&gpu, &options).ok()?.dyn_into().ok()?;
    let adapter = JsFuture::from(promise).await.ok()?;
    if adapter.is_null() || adapter.is_undefined() {
        return None;
    }
    let info = Reflect::get(&adapter, &"info".into()).ok()?;
    if info.is_null() || info.is_undefined() {
        return None;
    }
    let parts: Vec<String> = ["vendor", "architecture", "device", "description"]
        .iter()
        .filter_map(|key| Reflect::get(&info, &(*key).into()).ok()?.as_string())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" / "))
}
