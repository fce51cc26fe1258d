use engine::decoding::steps::{BeamState, PrunedBeam};
use engine::decoding::Step;

use super::*;

fn beam(
    ids: &[u32],
    logprob: f32,
    finished: bool,
    group: usize,
    parent: Option<usize>,
) -> BeamState {
    BeamState {
        ids: ids.to_vec(),
        logprob,
        score: logprob / ids.len() as f32,
        finished,
        group,
        parent,
    }
}

fn pruned(id: u32, logprob: f32, len: usize, group: usize, parent: Option<usize>) -> PrunedBeam {
    PrunedBeam {
        id,
        parent,
        logprob,
        score: logprob / len as f32,
        group,
    }
}

/// Two beams, two steps: step 0 keeps 5 and 7 and finishes 9 (end), prunes
/// 8; step 1 extends 7 twice (kept) and 5 once (ended at the length limit),
/// prunes a continuation of 5; 9 is carried as finished.
fn two_steps() -> Vec<Step> {
    vec![
        Step::Beams {
            beams: vec![
                beam(&[5], -1.0, false, 0, None),
                beam(&[7], -1.5, false, 0, None),
                beam(&[9], -2.0, true, 0, None),
            ],
            pruned: vec![pruned(8, -3.0, 1, 0, None)],
        },
        Step::Beams {
            beams: vec![
                beam(&[5, 1], -1.2, true, 0, Some(0)),
                beam(&[7, 2], -2.5, true, 0, Some(1)),
                beam(&[9], -2.0, true, 0, None),
            ],
            pruned: vec![
                pruned(3, -4.0, 2, 0, Some(0)),
                pruned(4, -5.0, 2, 0, Some(1)),
            ],
        },
    ]
}

#[test]
fn every_hypothesis_is_a_node_joined_to_the_beam_it_extends() {
    let tree = build(&two_steps());
    assert_eq!((tree.steps, tree.rows), (2, 4));
    assert_eq!(tree.nodes.len(), 8);
    let at = |step: usize, id: u32| {
        tree.nodes
            .iter()
            .position(|n| n.step == step && n.id == id)
            .unwrap_or_else(|| panic!("no node {id} at step {step}: {:?}", tree.nodes))
    };
    let n = |step, id| &tree.nodes[at(step, id)];
    assert_eq!(n(0, 5).state, NodeState::Kept);
    assert_eq!(n(0, 9).state, NodeState::Finished);
    assert_eq!(n(0, 8).state, NodeState::Pruned);
    assert_eq!(n(1, 1).parent, Some(at(0, 5)));
    assert_eq!(n(1, 2).parent, Some(at(0, 7)));
    assert_eq!(n(1, 3).path, [5, 3]);
    assert_eq!(n(1, 4).parent, Some(at(0, 7)));
    assert!(tree
        .nodes
        .iter()
        .filter(|n| n.step == 0)
        .all(|n| n.parent.is_none()));
    // Scores as the events give them; finished ranked by score, the one
    // carried from step 0 among them.
    assert_eq!(n(1, 1).score, -0.6);
    assert_eq!(n(1, 1).rank, Some(0));
    assert_eq!(n(1, 2).rank, Some(1));
    assert_eq!(n(0, 9).rank, Some(2));
    assert_eq!(n(1, 3).rank, None);
}

#[test]
fn columns_follow_their_parents_then_state_then_score() {
    let tree = build(&two_steps());
    let rows = |step: usize| {
        let mut column: Vec<&Node> = tree.nodes.iter().filter(|n| n.step == step).collect();
        column.sort_by_key(|n| n.row);
        column.iter().map(|n| n.id).collect::<Vec<_>>()
    };
    assert_eq!(rows(0), [5, 7, 9, 8]);
    assert_eq!(rows(1), [1, 3, 2, 4]);
    assert!(tree.nodes.iter().all(|n| n.column == n.step + 1));
}

#[test]
fn groups_stay_together_in_each_column() {
    let steps = vec![Step::Beams {
        beams: vec![
            beam(&[5], -1.0, false, 0, None),
            beam(&[6], -3.0, false, 1, None),
        ],
        pruned: vec![pruned(8, -2.0, 1, 0, None), pruned(7, -0.5, 1, 1, None)],
    }];
    let tree = build(&steps);
    let mut column = tree.nodes.clone();
    column.sort_by_key(|n| n.row);
    let order: Vec<(usize, u32)> = column.iter().map(|n| (n.group, n.id)).collect();
    assert_eq!(order, [(0, 5), (0, 8), (1, 6), (1, 7)]);
}

#[test]
fn arrow_keys_move_between_parent_children_and_column() {
    let tree = build(&two_steps());
    let at = |step: usize, id: u32| {
        tree.nodes
            .iter()
            .position(|n| n.step == step && n.id == id)
            .unwrap()
    };
    assert_eq!(neighbour(&tree, at(1, 2), "ArrowLeft"), Some(at(0, 7)));
    assert_eq!(neighbour(&tree, at(0, 7), "ArrowRight"), Some(at(1, 2)));
    assert_eq!(neighbour(&tree, at(0, 5), "ArrowDown"), Some(at(0, 7)));
    assert_eq!(neighbour(&tree, at(0, 7), "ArrowUp"), Some(at(0, 5)));
    assert_eq!(neighbour(&tree, at(0, 5), "ArrowUp"), None);
    assert_eq!(neighbour(&tree, at(0, 5), "ArrowLeft"), None);
    assert_eq!(neighbour(&tree, at(0, 9), "ArrowRight"), None);
    assert_eq!(neighbour(&tree, at(1, 4), "ArrowDown"), None);
    assert_eq!(neighbour(&tree, at(0, 5), "Enter"), None);
}

#[test]
fn other_steps_make_no_tree() {
    assert_eq!(build(&[]), Tree::default());
}
