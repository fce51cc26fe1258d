//! What `gpt2 bench` reports of the GPU's own work: per decode token, the
//! dispatches, submissions, bytes read back and objects created (on backends
//! that count them), and with `--profile` the GPU time and effective
//! bandwidth of each kernel kind over greedy decode steps.

use engine::backend::{block_on, profile_greedy, DeviceWork, Model};
use engine::{Error, Result};
use serde_json::{json, Value};

use crate::timed::Pass;

/// The GPU work of a run's decode passes (those of both models, for the
/// two-model strategies), or `None` where the backend does not count.
pub fn decode_work<'a>(passes: impl Iterator<Item = &'a Pass>) -> Option<DeviceWork> {
    let mut total: Option<DeviceWork> = None;
    for p in passes.filter(|p| !p.prefill) {
        if let Some(w) = p.work {
            *total.get_or_insert_with(DeviceWork::default) += w;
        }
    }
    total
}

/// `device_work` per decode token, as JSON (null where not counted).
pub fn device_work_json(model: &Model, work: Option<DeviceWork>, decode_tokens: usize) -> Value {
    let (Some(w), Some((kernels, emulated))) = (work, model.wgpu_kernels()) else {
        return Value::Null;
    };
    let per = |n: u64| n as f64 / decode_tokens as f64;
    json!({
        "kernels": kernels,
        "emulated_adapter": emulated,
        "dispatches_per_token": per(w.dispatches),
        "submissions_per_token": per(w.submissions),
        "readback_bytes_per_token": per(w.readback_bytes),
        "buffers_created_per_token": per(w.buffers_created),
        "bind_groups_created_per_token": per(w.bind_groups_created),
    })
}

/// Greedy decode steps with every kernel timed ([`profile_greedy`]), as JSON.
pub fn profile(model: &Model, prompt: &[u32], new_tokens: usize) -> Result<Value> {
    if model.wgpu_kernels().is_none() {
        return Err(Error::input(
            "--profile times the wgpu backend's kernels: use it with --device wgpu",
        ));
    }
    Ok(match block_on(profile_greedy(model, prompt, new_tokens))? {
        Some(p) => serde_json::to_value(p).map_err(|e| Error::Backend(e.to_string()))?,
        None => json!({
            "unavailable": format!("{} has no timestamp queries", model.device_name()),
        }),
    })
}

/// The device-work columns and the profile, for people.
pub fn print(out: &Value) {
    let strategies = out["strategies"].as_array().into_iter().flatten();
    let counted: Vec<&Value> = strategies
        .filter(|s| s["device_work"].is_object())
        .collect();
    if let Some(first) = counted.first() {
        println!(
            "GPU work per decode token ({} kernels):",
            first["device_work"]["kernels"].as_str().unwrap_or("?")
        );
        println!(
            "{:<13}{:>12}{:>13}{:>16}{:>10}{:>13}",
            "strategy", "dispatches", "submissions", "bytes read back", "buffers", "bind groups"
        );
        for s in counted {
            let w = &s["device_work"];
            let f = |k: &str| w[k].as_f64().unwrap_or(f64::NAN);
            println!(
                "{:<13}{:>12.1}{:>13.2}{:>16.0}{:>10.2}{:>13.2}",
                s["strategy"].as_str().unwrap_or_default(),
                f("dispatches_per_token"),
                f("submissions_per_token"),
                f("readback_bytes_per_token"),
                f("buffers_created_per_token"),
                f("bind_groups_created_per_token"),
            );
        }
    }
    let p = &out["profile"];
    if let Some(why) = p["unavailable"].as_str() {
        println!("profile: unavailable ({why})");
    } else if let Some(kinds) = p["kernels"].as_array() {
        println!(
            "GPU time per greedy decode token, {:.3} ms in all, over {} tokens:",
            p["gpu_seconds_per_token"].as_f64().unwrap_or(f64::NAN) * 1e3,
            p["tokens"]
        );
        println!(
            "{:<13}{:>10}{:>8}{:>12}{:>10}",
            "kernel", "ms/token", "share", "dispatches", "GB/s"
        );
        for k in kinds {
            let f = |key: &str| k[key].as_f64().unwrap_or(f64::NAN);
            println!(
                "{:<13}{:>10.3}{:>7.0}%{:>12.1}{:>10.1}",
                k["kind"].as_str().unwrap_or_default(),
                f("seconds_per_token") * 1e3,
                f("share") * 100.0,
                f("dispatches_per_token"),
                f("gb_per_second"),
            );
        }
    }
}
