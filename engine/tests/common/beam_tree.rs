//! What beam search's step events must say for the page to draw the tree of
//! every hypothesis: each new beam and each pruned candidate names the live
//! beam of the step before that it extends, the kept and the pruned together
//! are every candidate weighed (2·K, or 2·K/G per active group), and scores
//! are length-penalised.

use engine::decoding::steps::{BeamState, Step};
use engine::decoding::BeamParams;

/// Checks the tree the `steps` of one search describe; returns what is wrong.
pub fn check_tree(steps: &[Step], params: &BeamParams) -> Result<(), String> {
    let per_group = 2 * params.num_beams / params.num_beam_groups;
    let mut previous: &[BeamState] = &[];
    for (t, step) in steps.iter().enumerate() {
        let Step::Beams { beams, pruned } = step else {
            return Err(format!("step {t} is not a beam step"));
        };
        let len = t + 1;
        // The parent is a live beam of the step before, in the same group,
        // whose ids are the prefix.
        let parent_ok = |parent: Option<usize>, group: usize, prefix: &[u32]| match parent {
            None => t == 0,
            Some(p) => previous
                .get(p)
                .is_some_and(|b| !b.finished && b.group == group && b.ids == prefix),
        };
        for (i, b) in beams.iter().enumerate() {
            if b.ids.len() == len {
                if !parent_ok(b.parent, b.group, &b.ids[..t]) {
                    return Err(format!("step {t} beam {i}: parent {:?} of {b:?}", b.parent));
                }
            } else if b.parent.is_some() || !b.finished {
                return Err(format!("step {t} beam {i} is not new but says {b:?}"));
            }
            let want = b.logprob / (b.ids.len() as f32).powf(params.length_penalty);
            if (b.score - want).abs() > 1e-4 * want.abs().max(1.0) {
                return Err(format!("step {t} beam {i}: score {} ≠ {want}", b.score));
            }
        }
        for c in pruned {
            let parent = c.parent.and_then(|p| previous.get(p));
            let prefix = parent.map_or(&[][..], |b| &b.ids[..]);
            if !parent_ok(c.parent, c.group, prefix) {
                return Err(format!("step {t}: pruned {c:?} has no live parent"));
            }
        }
        for g in 0..params.num_beam_groups {
            let active = t == 0 || previous.iter().any(|b| b.group == g && !b.finished);
            let new = beams
                .iter()
                .filter(|b| b.group == g && b.ids.len() == len)
                .count();
            let dropped = pruned.iter().filter(|c| c.group == g).count();
            let want = if active { per_group } else { 0 };
            if new + dropped != want {
                return Err(format!(
                    "step {t} group {g}: {new} new and {dropped} pruned, {want} weighed"
                ));
            }
        }
        previous = beams;
    }
    Ok(())
}
