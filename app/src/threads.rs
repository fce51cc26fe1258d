//! The CPU fallback's threads. The page has two builds: the plain one, whose
//! CPU model runs on the page's own thread, and a threaded one (shared
//! memory; `scripts/page-threads`), which the page loads when it is
//! cross-origin isolated. There the engine's CPU team runs on Web Workers:
//! each loads the same module on the same memory and runs one of the team's
//! workers, sleeping between passes; the page's thread runs its share of
//! each pass and never blocks (it only spins at the team's barriers).

/// How many threads the CPU model will run on, its team started (workers
/// running) before the first CPU model loads. One in the plain build.
pub async fn start_cpu_team() -> Result<usize, String> {
    #[cfg(target_feature = "atomics")]
    return workers::start().await;
    #[cfg(not(target_feature = "atomics"))]
    Ok(1)
}

/// Where `model` runs, for people: its device, and its threads when the CPU
/// runs it on several (`cpu, 4 threads`).
pub fn device_label(model: &engine::backend::Model) -> String {
    let name = model.device_name();
    match model.cpu_threads() {
        Some(n) if n > 1 => format!("{name}, {n} threads"),
        _ => name,
    }
}

/// At most this many threads: decode reads every weight once per token, so a
/// few cores already reach a machine's memory bandwidth.
const MAX_THREADS: usize = 8;

/// The team size for a browser that says it has `cores` logical cores.
pub fn team_size(cores: f64) -> usize {
    if cores.is_finite() && cores >= 1.0 {
        (cores as usize).min(MAX_THREADS)
    } else {
        1
    }
}

#[cfg(target_feature = "atomics")]
mod workers {
    use std::cell::RefCell;

    use engine::backend::cpu::{start_team, team_started};
    use wasm_bindgen::prelude::*;

    use crate::loader::now_ms;
    use crate::tracked::sleep_ms;

    /// How long the workers have to start (each fetches the page's script).
    const START_TIMEOUT_MS: f64 = 30_000.0;

    /// A worker's script: the page's own bindings on the shared module and
    /// memory, then one of the team's workers, which never returns.
    const WORKER_JS: &str = r#"
self.onmessage = async ({ data: [bindings, module, memory, work] }) => {
  try {
    const page = await import(bindings);
    page.initSync({ module, memory });
    page.cpu_worker_entry(work);
  } catch (e) {
    console.error("a CPU thread of the page failed to start:", e);
  }
};
"#;

    #[wasm_bindgen]
    extern "C" {
        /// The URL of the page's bindings script (wasm-bindgen's glue).
        #[wasm_bindgen(thread_local_v2, js_namespace = ["import", "meta"], js_name = url)]
        static BINDINGS_URL: String;
    }

    thread_local! {
        static WORKER_URL: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    /// Runs the worker closure `work` points to; called by a worker's script.
    #[wasm_bindgen]
    pub fn cpu_worker_entry(work: u32) {
        // SAFETY: `work` is the pointer `spawn` leaked for this worker alone.
        let work = unsafe { Box::from_raw(work as *mut Box<dyn FnOnce() + Send>) };
        work();
    }

    pub async fn start() -> Result<usize, String> {
        let window = web_sys::window().ok_or("no window")?;
        let isolated = js_sys::Reflect::get(&window, &"crossOriginIsolated".into())
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if !isolated {
            return Ok(1);
        }
        let wanted = super::team_size(window.navigator().hardware_concurrency());
        let size = start_team(wanted, &spawn);
        let begun = now_ms();
        while team_started() < size {
            if now_ms() - begun > START_TIMEOUT_MS {
                return Err(format!(
                    "{} of the CPU's {size} threads started in {} s (the browser's console may \
                     say why); use WebGPU, or open the page without cross-origin isolation to \
                     run on one thread",
                    team_started(),
                    START_TIMEOUT_MS / 1000.0
                ));
            }
            sleep_ms(10).await;
        }
        Ok(size)
    }

    /// Starts a Web Worker running `work`; false when the browser refuses.
    fn spawn(ith: usize, work: Box<dyn FnOnce() + Send>) -> bool {
        let work = Box::into_raw(Box::new(work));
        match start_worker(ith, work as u32) {
            Ok(()) => true,
            Err(e) => {
                web_sys::console::error_2(&"a CPU thread could not start:".into(), &e);
                // SAFETY: no worker received the pointer.
                drop(unsafe { Box::from_raw(work) });
                false
            }
        }
    }

    fn start_worker(ith: usize, work: u32) -> Result<(), JsValue> {
        let script = worker_url()?;
        let options = web_sys::WorkerOptions::new();
        options.set_type(web_sys::WorkerType::Module);
        options.set_name(&format!("gpt2-cpu-{ith}"));
        let worker = web_sys::Worker::new_with_options(&script, &options)?;
        let message = js_sys::Array::of4(
            &BINDINGS_URL.with(|u| JsValue::from_str(u)),
            &wasm_bindgen::module(),
            &wasm_bindgen::memory(),
            &JsValue::from(work),
        );
        worker.post_message(&message)
    }

    /// The worker script's blob URL, made once.
    fn worker_url() -> Result<String, JsValue> {
        if let Some(url) = WORKER_URL.with_borrow(|u| u.clone()) {
            return Ok(url);
        }
        let parts = js_sys::Array::of1(&JsValue::from_str(WORKER_JS));
        let bag = web_sys::BlobPropertyBag::new();
        bag.set_type("text/javascript");
        let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &bag)?;
        let url = web_sys::Url::create_object_url_with_blob(&blob)?;
        WORKER_URL.with_borrow_mut(|u| *u = Some(url.clone()));
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_team_takes_the_cores_up_to_eight() {
        assert_eq!(team_size(2.0), 2);
        assert_eq!(team_size(16.0), MAX_THREADS);
        assert_eq!(team_size(0.0), 1);
        assert_eq!(team_size(f64::NAN), 1);
    }
}
