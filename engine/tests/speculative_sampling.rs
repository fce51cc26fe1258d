//! Speculative decoding with a draft model, verified by rejection sampling
//! (Leviathan et al. 2022, Algorithm 1): the output is distributed as the
//! target's own sampling (chi-square tests over many seeded runs on tiny
//! models), and end-of-text is held back until min_new_tokens.

mod common;
#[path = "common/speculative.rs"]
mod speculative_common;

use engine::backend::block_on;
use engine::backend::Model;
use engine::decoding::rng::SplitMix64;
use engine::decoding::{speculative, Drafter, GenerateOptions, SpeculativeStats, Verify};
use speculative_common::{
    chi_square, first_counts, first_two_law, probs, tiny, Uniform, PROMPT, VOCAB,
};

/// Many seeded sampling runs; returns the (first, second) token counts, joint.
fn sample_runs(
    target: &Model,
    draft: &Model,
    gamma: usize,
    runs: usize,
) -> (Vec<u64>, SpeculativeStats) {
    let mut joint = vec![0u64; VOCAB * VOCAB];
    let mut total = SpeculativeStats::default();
    let mut rng = Uniform(SplitMix64::new(0x5eed));
    let opts = GenerateOptions {
        max_new_tokens: gamma + 1,
        min_new_tokens: 0,
        eos_token_id: None,
        forced: Vec::new(),
        whole_rows: false,
    };
    for _ in 0..runs {
        let mut uniform = || rng.next_f64();
        let verify = Verify::Sample {
            probs: &probs,
            uniform: &mut uniform,
        };
        let (out, stats) = block_on(speculative(
            target,
            Drafter::Model(draft),
            &PROMPT,
            &opts,
            gamma,
            verify,
            &mut |_| {},
        ))
        .unwrap();
        assert_eq!(out.ids.len(), gamma + 1);
        joint[out.ids[0] as usize * VOCAB + out.ids[1] as usize] += 1;
        total.drafted += stats.drafted;
        total.accepted += stats.accepted;
        total.target_passes += stats.target_passes;
        total.draft_passes += stats.draft_passes;
    }
    (joint, total)
}

#[test]
fn rejection_sampling_keeps_the_targets_distribution() {
    let target = tiny(2, 2, 16, 11);
    // (name, draft, runs): the unrelated draft exercises rejections and gets more runs.
    let drafts = [
        ("small", tiny(1, 1, 8, 12), 20_000),
        ("itself", tiny(2, 2, 16, 11), 8_000),
    ];
    // The target's own law of the first two tokens: p(t1) and p(t1) p(t2 | t1).
    let (p1, p12) = first_two_law(&target, &PROMPT);
    println!(
        "target p(t1) = {:?}",
        p1.iter()
            .map(|p| (p * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
    for (name, draft, runs) in &drafts {
        let gamma = 3;
        let (joint, stats) = sample_runs(&target, draft, gamma, *runs);
        let first = first_counts(&joint);
        let n = *runs as u64;
        let (s1, df1, c1) = chi_square(&first, &p1, n);
        // The second token: the joint law of (t1, t2) (which holds the conditional given t1).
        let (s2, df2, c2) = chi_square(&joint, &p12, n);
        let rate = stats.acceptance_rate();
        println!(
            "draft {name}, gamma {gamma}, {runs} runs: first token χ² = {s1:.2} (df {df1}, critical {c1:.2}); \
             (first, second) χ² = {s2:.2} (df {df2}, critical {c2:.2}); acceptance {rate:.3}; {stats:?}"
        );
        assert!(s1 < c1, "first token: χ² {s1} ≥ {c1}");
        assert!(s2 < c2, "first two tokens: χ² {s2} ≥ {c2}");
        if *name == "itself" {
            assert!(
                rate > 0.999,
                "a draft that is the target: acceptance {rate}"
            );
        } else {
            assert!(rate > 0.0 && rate < 1.0, "acceptance {rate}");
        }
    }
}

#[test]
fn sampling_holds_end_of_text_back_until_min_new_tokens() {
    let target = tiny(2, 2, 16, 11);
    let draft = tiny(1, 1, 8, 12);
    // Token 8 is the target's favourite first token (p ≈ 0.67): make it end-of-text.
    let eos = 8;
    let opts = GenerateOptions {
        max_new_tokens: 8,
        min_new_tokens: 3,
        eos_token_id: Some(eos),
        forced: Vec::new(),
        whole_rows: false,
    };
    let mut rng = Uniform(SplitMix64::new(7));
    let mut ended = 0;
    for _ in 0..500 {
        let mut uniform = || rng.next_f64();
        let verify = Verify::Sample {
            probs: &probs,
            uniform: &mut uniform,
        };
        let (out, _) = block_on(speculative(
            &target,
            Drafter::Model(&draft),
            &PROMPT,
            &opts,
            4,
            verify,
            &mut |_| {},
        ))
        .unwrap();
        assert!(
            out.ids.len() >= 3 && !out.ids[..3].contains(&eos),
            "{:?}",
            out.ids
        );
        if let Some(i) = out.ids.iter().position(|&x| x == eos) {
            assert_eq!(
                i + 1,
                out.ids.len(),
                "nothing after end-of-text: {:?}",
                out.ids
            );
            ended += 1;
        }
        assert!(out.score.is_finite() && out.score < 0.0);
    }
    assert!(ended > 0, "end-of-text never came after min_new_tokens");
}
