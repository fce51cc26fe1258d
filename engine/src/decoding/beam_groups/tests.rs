//! `BeamHypotheses` as transformers 4.55 keeps them.

use super::*;

fn hyp(id: u32, score: f64) -> Hypothesis {
    Hypothesis {
        ids: vec![id],
        logprob: score as f32,
        score,
        parent: None,
    }
}

#[test]
fn hypotheses_keep_the_best_as_transformers_4_does() {
    let mut h = Hypotheses {
        kept: Vec::new(),
        worst: 1e9,
    };
    h.add(hyp(1, -2.0), 2);
    h.add(hyp(2, -2.0), 2);
    assert_eq!(h.worst, -2.0);
    // Not better than the worst: not kept.
    h.add(hyp(3, -2.0), 2);
    assert_eq!(h.kept.len(), 2);
    // Better: the first added of the equal worst goes, order is kept.
    h.add(hyp(4, -1.0), 2);
    let ids: Vec<u32> = h.kept.iter().map(|k| k.ids[0]).collect();
    assert_eq!(ids, [2, 4]);
    assert_eq!(h.worst, -2.0);
    h.add(hyp(5, -0.5), 2);
    assert_eq!(h.worst, -1.0);
}
