//! The command line that reproduces a run: its flags for each strategy, its
//! quoting, and flags the command line knows. (The end-to-end test
//! `tests/e2e/tests/export.rs` runs it and compares the ids.)

use super::*;
use crate::settings::{ChainSettings, Settings, Strategy};
use engine::decoding::Stage;
// Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn words(list: &str) -> Vec<String> {
    list.split(' ').map(String::from).collect()
}

#[test]
fn greedy_at_the_defaults_says_only_the_model_prompt_strategy_and_length() {
    let s = Settings::default();
    assert_eq!(
        s.command_line(None),
        "gpt2 generate --model gpt2 --prompt 'See you' --strategy greedy --max-new-tokens 24"
    );
}

#[test]
fn a_mirror_hub_is_the_command_lines_hf_endpoint_and_a_folder_replaces_the_repo() {
    let s = Settings {
        hub: "http://127.0.0.1:8080/mirror".into(),
        model: "tiny-gpt2".into(),
        ..Settings::default()
    };
    let line = s.command_line(None);
    assert!(
        line.starts_with(
            "HF_ENDPOINT=http://127.0.0.1:8080/mirror gpt2 generate --model tiny-gpt2 "
        ),
        "{line}"
    );
    let local = s.command_line(Some("my model"));
    assert!(
        local.starts_with("gpt2 generate --model 'my model' "),
        "{local}"
    );
}

#[test]
fn sampling_says_each_setting_that_differs_from_the_command_lines_default() {
    let mut s = Settings {
        strategy: Strategy::Sample,
        temperature: 0.7,
        top_k: 40,
        top_p: 0.9,
        min_p: 0.05,
        seed: 42,
        max_new_tokens: 8,
        ..Settings::default()
    };
    s.chain.typical_p = 0.5;
    s.chain.xtc_probability = 1.0;
    s.chain.xtc_threshold = 0.0;
    s.chain.dry_multiplier = 0.8;
    s.chain.mirostat_tau = 3.0;
    s.chain.guidance_scale = 1.5;
    s.chain.negative_prompt = "Goodbye".into();
    let args = s.command_args("gpt2");
    let want = words(
        "generate --model gpt2 --prompt PROMPT --strategy sample --max-new-tokens 8 \
         --temperature 0.7 --top-k 40 --top-p 0.9 --min-p 0.05 --typical-p 0.5 \
         --dry-multiplier 0.8 --xtc-probability 1 --xtc-threshold 0 --mirostat-tau 3 \
         --guidance-scale 1.5 --negative-prompt Goodbye --seed 42",
    );
    let mut want = want;
    want[4] = "See you".into();
    assert_eq!(args, want);
}

#[test]
fn sampling_at_the_defaults_says_nothing_more_and_a_new_order_lists_every_stage() {
    let mut s = Settings {
        strategy: Strategy::Sample,
        ..Settings::default()
    };
    assert_eq!(
        s.command_args("gpt2")[5..],
        words("--strategy sample --max-new-tokens 24")[..]
    );
    s.chain.move_stage(Stage::TopK, true);
    let args = s.command_args("gpt2");
    let order = crate::settings::sampling::order_names(&s.chain.order);
    assert_eq!(args[args.len() - 2..], ["--samplers".to_string(), order]);
}

#[test]
fn speculative_verifies_greedily_at_temperature_0_and_samples_above_it() {
    let mut s = Settings {
        strategy: Strategy::Speculative,
        second: "tiny-draft".into(),
        temperature: 0.0,
        gamma: 3,
        seed: 9,
        ..Settings::default()
    };
    // XTC is not speculative decoding's: the page leaves it out, so does the command.
    s.chain.xtc_probability = 0.5;
    assert_eq!(
        s.command_args("m")[5..],
        words("--strategy speculative --max-new-tokens 24 --draft tiny-draft --gamma 3")[..]
    );
    s.temperature = 1.0;
    s.chain.repetition_penalty = 1.3;
    assert_eq!(
        s.command_args("m")[5..],
        words(
            "--strategy speculative --max-new-tokens 24 --draft tiny-draft --gamma 3 --sample \
             --temperature 1 --repetition-penalty 1.3 --seed 9"
        )[..]
    );
}

#[test]
fn beam_contrastive_and_the_rest_take_their_own_flags_only() {
    let mut s = Settings {
        strategy: Strategy::Beam,
        beams: 3,
        temperature: 0.5,
        ..Settings::default()
    };
    s.chain.typical_p = 0.5;
    assert_eq!(s.command_args("m")[9..], words("--num-beams 3")[..]);
    s.strategy = Strategy::Contrastive;
    s.alpha = 0.2;
    assert_eq!(
        s.command_args("m")[9..],
        words("--amateur distilgpt2 --alpha 0.2")[..]
    );
    for strategy in [
        Strategy::Greedy,
        Strategy::ContrastiveSearch,
        Strategy::Dola,
    ] {
        s.strategy = strategy;
        assert_eq!(s.command_args("m").len(), 9, "{strategy:?}");
    }
}

#[test]
fn every_flag_written_is_one_the_command_line_declares() {
    // The command line's arguments live in the `gpt2` binary, out of the
    // page's reach: its source says which flags exist.
    let cli = include_str!("../../../engine/src/bin/gpt2/args.rs");
    let mut s = Settings {
        strategy: Strategy::Sample,
        temperature: 0.5,
        top_k: 3,
        top_p: 0.5,
        min_p: 0.1,
        seed: 1,
        chain: ChainSettings {
            typical_p: 0.5,
            epsilon_cutoff: 0.1,
            eta_cutoff: 0.1,
            top_h: 0.5,
            top_n_sigma: 1.0,
            repetition_penalty: 1.2,
            no_repeat_ngram_size: 2,
            presence_penalty: 0.5,
            frequency_penalty: 0.5,
            dry_multiplier: 1.0,
            dry_base: 2.0,
            dry_allowed_length: 3,
            dry_penalty_last_n: 5,
            dry_sequence_breakers: vec!["\n".into()],
            xtc_probability: 0.5,
            xtc_threshold: 0.2,
            mirostat_tau: 3.0,
            mirostat_eta: 0.2,
            guidance_scale: 2.0,
            negative_prompt: "x".into(),
            order: ChainSettings::default().order.into_iter().rev().collect(),
        },
        ..Settings::default()
    };
    let mut flags: Vec<String> = Vec::new();
    for strategy in Strategy::ALL {
        s.strategy = strategy;
        flags.extend(
            s.command_args("m")
                .into_iter()
                .filter(|w| w.starts_with("--")),
        );
    }
    assert!(flags.len() > 30, "{flags:?}");
    for flag in flags {
        let field = flag.trim_start_matches("--").replace('-', "_");
        assert!(
            cli.contains(&format!("pub {field}:")),
            "{flag}: no such flag in gpt2's arguments"
        );
    }
}

/// The words a POSIX shell reads from `line`.
#[cfg(all(unix, not(target_arch = "wasm32")))]
fn shell_words(line: &str) -> Vec<String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s\\0' {line}"))
        .output()
        .expect("running sh");
    assert!(
        out.status.success(),
        "sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 back from sh");
    text.split_terminator('\0').map(String::from).collect()
}

#[cfg(all(unix, not(target_arch = "wasm32")))]
#[test]
fn a_shell_reads_the_quoted_words_back_as_they_were() {
    let s = Settings {
        prompt: "It's \"$HOME\" `date` \\ * ; & | ~ 100% ünï\ncode  ".into(),
        model: "owner/repo-1.0".into(),
        ..Settings::default()
    };
    let line = s.command_line(None);
    let back = shell_words(line.trim_start_matches("gpt2 "));
    assert_eq!(back, s.command_args("owner/repo-1.0"), "{line}");
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("a'b"), r"'a'\''b'");
}

#[test]
fn a_branch_is_the_command_lines_force_and_its_url_key() {
    let (s, problems) = Settings::from_query("?strategy=greedy&force=2:40,5:7");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(s.forced, [(2, 40), (5, 7)]);
    assert!(
        s.to_query().contains("&force=2%3A40%2C5%3A7"),
        "{}",
        s.to_query()
    );
    assert!(
        s.command_line(None).ends_with(" --force 2:40,5:7"),
        "{}",
        s.command_line(None)
    );
    let (d, problems) = Settings::from_query("?force=5:7,2:40");
    assert_eq!(d.forced, Settings::default().forced);
    assert!(problems[0].contains("ascending order"), "{problems:?}");
    let beam = Settings {
        strategy: Strategy::Beam,
        ..s
    };
    let why = beam.problem(None).unwrap_or_default();
    assert!(
        why.contains("a branch (force=2:40,5:7) applies to greedy"),
        "{why}"
    );
}

#[test]
fn the_bundled_target_pairs_with_the_bundled_draft_unless_told_otherwise() {
    let mut s = Settings {
        strategy: Strategy::Contrastive,
        hub: "http://127.0.0.1:8080/mirror".into(),
        ..Settings::default()
    };
    // Running on the bundled target while gpt2 downloads: the command says
    // what ran, with no hub.
    assert_eq!(
        s.command_line(Some("bundled")),
        "gpt2 generate --model bundled --prompt 'See you' --strategy contrastive \
         --max-new-tokens 24 --amateur bundled-draft"
    );
    s.model = "bundled".into();
    assert!(s
        .command_line(None)
        .starts_with("gpt2 generate --model bundled "));
    s.strategy = Strategy::Speculative;
    assert!(s.command_line(None).contains("--draft bundled-draft"));
    // A second model chosen is kept, and gpt2's default partner is distilgpt2.
    s.second = "prompt-lookup".into();
    assert!(s.command_line(None).contains("--draft prompt-lookup"));
    assert_eq!(Settings::default().second_for("gpt2"), "distilgpt2");
    assert_eq!(Settings::default().second_for("bundled"), "bundled-draft");
}

#[test]
fn the_page_starts_on_the_bundled_target_for_the_pickers_hub_models_only() {
    use crate::settings::{starts_on_bundled, DeviceChoice};
    let on = |model: &str, device| {
        starts_on_bundled(&Settings {
            model: model.into(),
            device,
            ..Settings::default()
        })
    };
    assert!(on("gpt2", DeviceChoice::WebGpu) && on("gpt2-medium", DeviceChoice::Cpu));
    assert!(!on("bundled", DeviceChoice::WebGpu));
    assert!(!on("owner/repo", DeviceChoice::WebGpu));
    assert!(!on("tiny-gpt2", DeviceChoice::WebGpu));
    assert!(!on("gpt2", DeviceChoice::Server));
}
