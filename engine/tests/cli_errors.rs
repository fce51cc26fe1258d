//! Bad input through the `gpt2` command line: each case is a clear message on
//! stderr and exit status 2, never a panic.

#[path = "common/cli.rs"]
mod cli;
mod common;

use std::path::Path;

use cli::gpt2;
use engine::weights::random::write_safetensors;
use engine::weights::SafetensorsFile;

/// `gpt2 next` on `dir`, expecting exit 2 and `needle` in the message.
fn assert_bad_input(dir: &Path, extra: &[&str], needle: &str) {
    let mut args = vec!["next", "--model", dir.to_str().unwrap()];
    if !extra.iter().any(|a| a.starts_with("--prompt")) {
        args.extend(["--prompt", "Hello"]);
    }
    args.extend(extra);
    let (code, _, stderr) = gpt2(&args);
    assert_eq!(code, 2, "exit status for {needle:?}; stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

/// Rewrites the folder's model.safetensors with `edit` applied to its tensors.
fn edit_tensors(
    dir: &Path,
    edit: impl FnOnce(&mut Vec<(String, &'static str, Vec<usize>, Vec<u8>)>),
) {
    let path = dir.join("model.safetensors");
    let file = SafetensorsFile::open(&path).unwrap();
    let mut tensors: Vec<_> = file
        .names()
        .map(|n| {
            let t = file.get(n).unwrap();
            let dtype: &'static str = match t.dtype_name {
                "F16" => "F16",
                "BF16" => "BF16",
                _ => "F32",
            };
            (n.to_string(), dtype, t.shape.clone(), t.bytes.to_vec())
        })
        .collect();
    drop(file);
    edit(&mut tensors);
    std::fs::write(&path, write_safetensors(&tensors)).unwrap();
}

#[test]
fn missing_weights_file() {
    let dir = common::model_dir("odd");
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    assert_bad_input(dir.path(), &[], "model.safetensors");
}

#[test]
fn truncated_weights_file() {
    let dir = common::model_dir("odd");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_bad_input(dir.path(), &[], "truncated");
    std::fs::write(&path, &bytes[..5]).unwrap();
    assert_bad_input(dir.path(), &[], "too short");
}

#[test]
fn header_that_is_not_json() {
    let dir = common::model_dir("odd");
    let mut bytes = 16u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"this is not json");
    std::fs::write(dir.path().join("model.safetensors"), bytes).unwrap();
    assert_bad_input(dir.path(), &[], "not valid JSON");
}

#[test]
fn missing_tensor() {
    let dir = common::model_dir("odd");
    edit_tensors(dir.path(), |t| {
        t.retain(|(n, ..)| n != "h.1.mlp.c_fc.weight")
    });
    assert_bad_input(dir.path(), &[], "h.1.mlp.c_fc.weight is missing");
}

#[test]
fn tensor_of_the_wrong_shape() {
    let dir = common::model_dir("odd");
    edit_tensors(dir.path(), |t| {
        let e = t
            .iter_mut()
            .find(|(n, ..)| n == "h.0.attn.c_proj.weight")
            .unwrap();
        e.2 = vec![40, 160]; // same number of elements, wrong shape
    });
    assert_bad_input(
        dir.path(),
        &[],
        "h.0.attn.c_proj.weight has shape [40, 160]",
    );
}

#[test]
fn tensor_of_the_wrong_dtype() {
    let dir = common::model_dir("odd");
    edit_tensors(dir.path(), |t| {
        let e = t.iter_mut().find(|(n, ..)| n == "ln_f.bias").unwrap();
        e.1 = "I32";
    });
    assert_bad_input(dir.path(), &[], "ln_f.bias has dtype I32");
}

#[test]
fn config_that_disagrees_with_the_weights() {
    let dir = common::model_dir("odd");
    let config_path = dir.path().join("config.json");
    let config = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        config.replace("\"n_layer\": 3", "\"n_layer\": 2"),
    )
    .unwrap();
    assert_bad_input(dir.path(), &[], "n_layer=2");
    std::fs::write(
        &config_path,
        config.replace("\"n_embd\": 80", "\"n_embd\": 60"),
    )
    .unwrap();
    assert_bad_input(dir.path(), &[], "the config does not match the weights");
    std::fs::write(&config_path, "{\"n_layer\": ").unwrap();
    assert_bad_input(dir.path(), &[], "config.json is not valid JSON");
}

#[test]
fn prompt_longer_than_the_context() {
    let dir = common::model_dir("odd"); // n_positions = 64
    let long = "word ".repeat(100);
    assert_bad_input(dir.path(), &["--prompt", &long], "context of 64 positions");
    let (code, _, stderr) = gpt2(&[
        "generate",
        "--model",
        dir.path().to_str().unwrap(),
        "--strategy",
        "greedy",
        "--prompt",
        &long,
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("n_positions"), "{stderr}");
}

#[test]
fn ids_outside_the_vocabulary() {
    let dir = common::model_dir("odd"); // vocab_size = 50257
    let model = dir.path().to_str().unwrap();
    let commands: [&[&str]; 3] = [
        &["next", "--prompt-ids", "1,2,50257"],
        &["score", "--ids", "1,2,50257"],
        &[
            "generate",
            "--strategy",
            "greedy",
            "--prompt-ids",
            "1,2,50257",
        ],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.extend(["--model", model]);
        let (code, _, stderr) = gpt2(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        for needle in [
            "token id 50257 is outside the vocabulary (0..50257)",
            "at position 2",
        ] {
            assert!(stderr.contains(needle), "{args:?}: {stderr}");
        }
        assert!(!stderr.contains("internal error"), "{stderr}");
    }
    // A valid first id does not hide a bad one further on (score reads them all).
    let (code, _, stderr) = gpt2(&["score", "--model", model, "--ids", "50256,4294967295"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("token id 4294967295"), "{stderr}");
}

#[test]
fn config_with_absurd_sizes() {
    let dir = common::model_dir("odd");
    let config_path = dir.path().join("config.json");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let cases = [
        (
            "\"n_embd\": 80",
            "\"n_embd\": 4611686018427387920",
            "parameters",
        ),
        (
            "\"n_layer\": 3",
            "\"n_layer\": 1000000000000",
            "1024 layers",
        ),
        (
            "\"n_positions\": 64",
            "\"n_positions\": 100000000000000",
            "parameters",
        ),
        (
            "\"n_layer\": 3",
            "\"n_layer\": 100000000000000000000000",
            "config.json",
        ),
    ];
    for (from, to, needle) in cases {
        assert!(config.contains(from), "{config}");
        std::fs::write(&config_path, config.replace(from, to)).unwrap();
        assert_bad_input(dir.path(), &[], needle);
    }
}

#[test]
fn empty_prompt() {
    let dir = common::model_dir("odd");
    assert_bad_input(dir.path(), &["--prompt", ""], "prompt is empty");
}

#[test]
fn devices_this_build_or_machine_lacks() {
    let dir = common::model_dir("odd");
    // Without the `cuda` feature the build says how to get it; with it, on a
    // machine without a GPU, that no GPU answers.
    let want = if cfg!(feature = "cuda") {
        "no usable NVIDIA GPU"
    } else {
        "build with `--features cuda`"
    };
    if std::env::var("GPT2_TEST_DEVICE").as_deref() != Ok("cuda") {
        assert_bad_input(dir.path(), &["--device", "cuda"], want);
    }
    assert_bad_input(
        dir.path(),
        &["--device", "wgpu", "--dtype", "bf16"],
        "wgpu backend has no bf16",
    );
}
