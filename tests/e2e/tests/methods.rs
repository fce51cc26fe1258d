//! The page's controls of contrastive search, DoLa, diverse beam search and
//! prompt lookup: on the tiny checkpoint, each run through the page gives the
//! ids of the engine's runner natively with the same parameters; the URL
//! carries the new keys there and back; the beam view shows the groups; a
//! rule across settings is the engine's message, and Generate waits for it.
//! One page load for all of it.

use e2e::fixture;
use e2e::mirror::TINY;
use e2e::page::{hook, Page, LONG};
use e2e::playground::{self, generate, number};
use e2e::webdriver::Gpu;
use engine::decoding::steps::BeamState;
use engine::decoding::{
    BeamParams, ContrastiveSearchParams, DolaLayers, DolaParams, DraftSource, EarlyStopping,
    SamplingParams, SpeculativeParams, Step, Strategy,
};
use serde_json::json;

/// Repeats, so that prompt lookup finds n-grams to copy: its last 3-gram
/// (". See you") first occurs later than its last 2-gram (" See you"), so N = 3
/// and the default N = 2 draft different tokens.
const PROMPT: &str = "Well, See you later. See you Tit Duchess Choice. See you";
const NEW_TOKENS: usize = 8;

/// Every new key at a value other than its default, with the settings they
/// share (`top_k`: contrastive search's k; `repetition_penalty`: DoLa's);
/// the page's default 4 beams.
const URL: [(&str, &str); 13] = [
    ("model", TINY),
    ("strategy", "contrastive-search"),
    ("prompt", PROMPT),
    ("max_new_tokens", "8"),
    ("seed", "2"),
    ("penalty_alpha", "0.4"),
    ("top_k", "3"),
    ("dola_layers", "0,1"),
    ("repetition_penalty", "1.3"),
    ("num_beam_groups", "2"),
    ("diversity_penalty", "0.5"),
    ("second", "prompt-lookup"),
    ("max_matching_ngram_size", "3"),
];

/// What the page runs for each strategy under [`URL`]'s settings (the
/// speculative run with top-k off), and the same with the defaults of the
/// method's own settings, which give other ids on this prompt.
fn strategies() -> [(Strategy, Strategy); 4] {
    let beam = |num_beam_groups, diversity_penalty| {
        Strategy::Beam(BeamParams {
            num_beams: 4,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
            num_return_sequences: 1,
            no_repeat_ngram_size: None,
            num_beam_groups,
            diversity_penalty,
        })
    };
    let prompt_lookup = |max_matching_ngram_size| {
        // Temperature 1 (the page's default): verification samples, so the
        // drafts (and N) decide which draws are used.
        Strategy::Speculative(SpeculativeParams {
            gamma: 4,
            draft: DraftSource::PromptLookup {
                max_matching_ngram_size,
            },
            sampling: SamplingParams {
                temperature: 1.0,
                repetition_penalty: Some(1.3),
                ..SamplingParams::default()
            },
            seed: 2,
            num_return_sequences: 1,
        })
    };
    [
        (
            Strategy::ContrastiveSearch(ContrastiveSearchParams {
                penalty_alpha: 0.4,
                top_k: 3,
            }),
            Strategy::ContrastiveSearch(ContrastiveSearchParams::default()),
        ),
        (
            Strategy::Dola(DolaParams {
                layers: DolaLayers::List(vec![0, 1]),
                repetition_penalty: Some(1.3),
            }),
            Strategy::Dola(DolaParams::default()),
        ),
        (beam(2, 0.5), beam(1, 0.0)),
        (prompt_lookup(3), prompt_lookup(2)),
    ]
}

/// The URL's query pairs (decoded), as the page wrote them back.
fn url_pairs(page: &Page) -> Vec<(String, String)> {
    let url = page.url();
    let query = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Asserts that the page's URL holds every pair of [`URL`] but those of
/// `changed`, which hold the value given (`None`: absent, the default).
fn assert_url_holds_the_keys(page: &Page, changed: &[(&str, Option<&str>)], when: &str) {
    let pairs = url_pairs(page);
    for (key, value) in URL {
        let value = match changed.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => *v,
            None => Some(value),
        };
        let found = pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        assert_eq!(found, value, "{when}: the page's URL's {key}, in {pairs:?}");
    }
}

#[test]
fn the_four_methods_run_as_the_engine_does_with_their_settings() {
    let native = fixture().native();
    let page = playground::open(Gpu::WebGpu, &URL);
    assert_url_holds_the_keys(&page, &[], "after loading");
    for (testid, value) in [("penalty-alpha", "0.4"), ("contrastive-k", "3")] {
        assert_eq!(page.values(testid), [value], "{testid} from the URL");
    }

    for (strategy, defaults) in strategies() {
        let name = strategy.method().name();
        let mut settings = vec![("strategy", name)];
        if name == "speculative" {
            // Top-k 3 would cut most drafted tokens: N would not matter.
            settings.push(("top-k", "0"));
        }
        let ids = generate(&page, &settings);
        page.screenshot(&format!("methods-{name}"));
        let (outcome, steps) = native.run(PROMPT, NEW_TOKENS, &strategy);
        let expected = &outcome.sequences[0].ids;
        let (other, _) = native.run(PROMPT, NEW_TOKENS, &defaults);
        println!(
            "{name}: page {ids:?}, engine {expected:?}, at the defaults {:?}",
            other.sequences[0].ids
        );
        assert_eq!(
            &ids, expected,
            "{name}: the page's ids vs the engine's on the CPU"
        );
        assert_ne!(
            &other.sequences[0].ids, expected,
            "{name}: the defaults give the same ids on this prompt, so the check cannot tell them apart"
        );
        match name {
            "dola" => {
                assert_eq!(page.values("dola-layers"), ["0,1"], "dola-layers");
                // Layer 5 of a 2-layer model: the engine's check, before a run.
                page.set_input("dola-layers", "0,5");
                let problem = wait_for_problem(&page, "dola-layers 0,5");
                assert!(problem.contains("not a premature layer"), "{problem:?}");
                page.set_input("dola-layers", "0,1");
            }
            "beam" => {
                check_beam_groups(&page, &steps);
                // D itself: with D = 0 the groups' scores differ from those shown.
                let Strategy::Beam(mut params) = strategy.clone() else {
                    unreachable!("the beam strategy")
                };
                params.diversity_penalty = 0.0;
                let (_, no_penalty) = native.run(PROMPT, NEW_TOKENS, &Strategy::Beam(params));
                let scores = |steps: &[Step]| -> Vec<f32> {
                    last_beams(steps).iter().map(|b| b.logprob).collect()
                };
                assert_ne!(
                    scores(&no_penalty),
                    scores(&steps),
                    "the beams' scores with D = 0"
                );
            }
            "speculative" => {
                let n = page.values("max-matching-ngram-size");
                assert_eq!(n, ["3"], "max-matching-ngram-size");
                let drafted = page.count("draft-token");
                assert!(drafted > 0, "no draft-token: prompt lookup copied nothing");
            }
            _ => {}
        }
    }
    let changed = [("strategy", Some("speculative")), ("top_k", None)];
    assert_url_holds_the_keys(&page, &changed, "after the runs");

    // G = 3 does not divide 4 beams: the engine's message, and no Generate.
    page.set_input("strategy", "beam");
    page.set_input("num-beam-groups", "3");
    let problem = wait_for_problem(&page, "3 groups of 4 beams");
    page.scroll_to("settings-problem");
    page.screenshot("methods-problem");
    assert!(
        problem.contains("must divide"),
        "settings-problem with 3 groups of 4 beams: {problem:?}"
    );
    let disabled = page.script(
        "return document.querySelector(arguments[0]).disabled",
        json!([hook("generate")]),
    );
    assert_eq!(
        disabled,
        json!(true),
        "generate's disabled with 3 groups of 4 beams"
    );
    page.set_input("num-beam-groups", "2");
    page.wait_for(
        |p| !p.exists("settings-problem"),
        LONG,
        "settings-problem gone with 2 groups",
    );
}

/// The text of `settings-problem`, once it shows.
fn wait_for_problem(page: &Page, settings: &str) -> String {
    page.wait_for(
        |p| p.exists("settings-problem"),
        LONG,
        &format!("settings-problem with {settings}"),
    );
    page.text("settings-problem").unwrap_or_default()
}

/// The beams of the engine's last beam step.
fn last_beams(steps: &[Step]) -> Vec<BeamState> {
    steps
        .iter()
        .rev()
        .find_map(|s| match s {
            Step::Beams { beams, .. } => Some(beams.clone()),
            _ => None,
        })
        .expect("the engine's beam search reported its beams")
}

/// The beam view's rows carry the groups and scores of the engine's last
/// beam step, both groups among them.
fn check_beam_groups(page: &Page, steps: &[Step]) {
    let expected = last_beams(steps);
    let rows = page.data_of_all("beam-row", Some("beam-view"));
    page.scroll_to("beam-view");
    page.screenshot("methods-beam-groups");
    assert_eq!(rows.len(), expected.len(), "beam-row elements: {rows:?}");
    for (row, beam) in rows.iter().zip(&expected) {
        let group = row.get("group").cloned().unwrap_or_default();
        assert_eq!(
            group,
            beam.group.to_string(),
            "a beam-row's data-group: {row:?} vs {beam:?}"
        );
        let score = number(row, "score");
        let diff = (score - beam.logprob as f64).abs();
        assert!(
            diff < 1e-3,
            "a beam-row's data-score {score} vs the engine's {} (|diff| {diff:.2e})",
            beam.logprob
        );
    }
    for g in [0, 1] {
        assert!(
            expected.iter().any(|b| b.group == g),
            "no beam of group {g}: {expected:?}"
        );
    }
}
