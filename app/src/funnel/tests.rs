//! The funnel follows the settings and ends on the processed distribution.

use super::*;
use engine::decoding::processors::Stage;
use engine::decoding::StepInputs;
// Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn logits() -> Vec<f32> {
    // Token i has logit -0.5 i: probabilities fall off geometrically.
    (0..50).map(|i| -0.5 * i as f32).collect()
}

fn step<'a>(l: &'a [f32], used: Option<&'a SamplingParams>) -> TokenStep<'a> {
    TokenStep {
        chosen: 3,
        candidates: &[],
        logits: Some(l),
        context: &[],
        prompt_len: 0,
        used,
        xtc_coin: None,
        mirostat_mu: None,
        unconditional: None,
    }
}

#[test]
fn the_funnel_follows_the_settings_and_ends_on_the_processed_distribution() {
    let l = logits();
    let run = SamplingParams {
        temperature: 0.8,
        top_k: Some(10),
        top_p: Some(0.9),
        ..SamplingParams::default()
    };
    let own = funnel(&step(&l, Some(&run)), None).expect("logits kept");
    assert!(!own.recomputed);
    let names: Vec<_> = own.stages.iter().map(|s| s.point.name()).collect();
    assert_eq!(names, ["temperature", "top_k", "top_p"]);
    assert_eq!(own.model.kept, 50);
    assert_eq!(own.stages[1].kept, 10);
    assert_eq!(own.stages[1].threshold, Some(Threshold::AtMost(3.0)));
    let processed = run.process_step(&l, &StepInputs::default());
    let kept = processed.probs.iter().filter(|&&p| p > 0.0).count();
    assert_eq!(own.stages[2].kept, kept);

    let moved = SamplingParams {
        top_k: Some(2),
        ..run.clone()
    };
    let redrawn = funnel(&step(&l, Some(&run)), Some(&moved)).expect("logits kept");
    assert!(redrawn.recomputed);
    assert_eq!(redrawn.stages[1].kept, 2);
    assert_eq!(redrawn.stages[1].chosen_rank, None);
    assert_eq!(
        threshold_text(Point::Stage(Stage::TopP), None, false),
        "cut earlier"
    );
    let no_logits = TokenStep {
        logits: None,
        ..step(&l, Some(&run))
    };
    assert_eq!(funnel(&no_logits, None), None);
}

#[test]
fn thresholds_read_as_the_setting_and_its_value() {
    let t = threshold_text(
        Point::Stage(Stage::TopK),
        Some(Threshold::AtMost(3.0)),
        true,
    );
    assert_eq!(t, "cut at top_k ≤ 3");
    let t = threshold_text(
        Point::Stage(Stage::MinP),
        Some(Threshold::AtLeast(0.123456)),
        true,
    );
    assert_eq!(t, "cut at min_p ≥ 0.1235");
    let t = threshold_text(
        Point::Stage(Stage::Xtc),
        Some(Threshold::AtMost(0.25)),
        true,
    );
    assert!(
        t.starts_with("cut at xtc_threshold ≤ 0.2500, when XTC"),
        "{t}"
    );
    assert_eq!(number(1.5e-7), "1.500e-7");
    assert_eq!(number(12.3456), "12.35");
}
