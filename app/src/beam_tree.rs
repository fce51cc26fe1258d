//! The beam tree: every hypothesis beam search weighed, step by step, built
//! from the engine's beam step events ([`Step::Beams`]) and laid out for an
//! SVG. At each step a node for each new live beam (kept), each hypothesis
//! that ended there and was kept (finished) and each weighed candidate that
//! was dropped (pruned), joined to the live beam it extends through the
//! event's `parent` (the index in the step before's beams). Scores are the
//! engine's length-penalised ones (`logprob / len ** length_penalty`, what
//! transformers ranks finished hypotheses by); the finished hypotheses of the
//! last step are ranked by that score, as the search returns them.
//!
//! Layout: a column per step after the prompt's root; in each column the
//! nodes follow their parents' order (so a group stays together and each
//! beam's continuations sit side by side), then the kept and finished before
//! the pruned, then the score, best first.

use engine::decoding::steps::{BeamState, PrunedBeam};
use engine::decoding::Step;

/// What became of a hypothesis at its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeState {
    /// A live beam after the step.
    Kept,
    /// Ended (end-of-text or the length limit) and kept among the finished.
    Finished,
    /// Weighed and dropped.
    Pruned,
}

impl NodeState {
    /// The name in `data-state` and in words.
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Kept => "kept",
            NodeState::Finished => "finished",
            NodeState::Pruned => "pruned",
        }
    }
}

/// One hypothesis of the tree, placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The step it was made at (0: the first new token).
    pub step: usize,
    /// The token it adds.
    pub id: u32,
    /// Its new tokens (the path from the root).
    pub path: Vec<u32>,
    /// Sum of the log-probabilities.
    pub logprob: f32,
    /// Length-penalised score.
    pub score: f32,
    pub state: NodeState,
    /// Its group of diverse beam search (0 without groups).
    pub group: usize,
    /// The node it extends (none: the prompt).
    pub parent: Option<usize>,
    /// For a finished hypothesis the search ends with, its rank (0: best).
    pub rank: Option<usize>,
    /// Column (the step) and row in it.
    pub column: usize,
    pub row: usize,
}

/// The tree of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// Steps (columns after the root).
    pub steps: usize,
    /// The most nodes in a column.
    pub rows: usize,
}

/// The tree of a run's beam steps (other steps are skipped).
pub fn build<'a>(steps: impl IntoIterator<Item = &'a Step>) -> Tree {
    let mut tree = Tree::default();
    // Node of each entry of the previous step's `beams`.
    let mut previous: Vec<Option<usize>> = Vec::new();
    let mut last: &[BeamState] = &[];
    for (t, step) in steps
        .into_iter()
        .filter_map(|s| match s {
            Step::Beams { beams, pruned } => Some((beams, pruned)),
            _ => None,
        })
        .enumerate()
    {
        let (beams, pruned) = step;
        let first = tree.nodes.len();
        let parent_of = |p: Option<usize>| p.and_then(|p| previous.get(p).copied().flatten());
        let mut current = Vec::with_capacity(beams.len());
        for b in beams.iter() {
            if b.ids.len() != t + 1 {
                current.push(None);
                continue;
            }
            current.push(Some(tree.nodes.len()));
            let state = if b.finished {
                NodeState::Finished
            } else {
                NodeState::Kept
            };
            let parent = parent_of(b.parent);
            tree.nodes.push(node(
                t,
                b.ids.clone(),
                b.logprob,
                b.score,
                state,
                b.group,
                parent,
            ));
        }
        for c in pruned.iter() {
            let pruned = pruned_node(&tree, t, c, parent_of(c.parent));
            tree.nodes.push(pruned);
        }
        place(&mut tree.nodes, first);
        tree.rows = tree.rows.max(tree.nodes.len() - first);
        tree.steps = t + 1;
        previous = current;
        last = beams;
    }
    rank(&mut tree.nodes, last);
    tree
}

fn node(
    step: usize,
    path: Vec<u32>,
    logprob: f32,
    score: f32,
    state: NodeState,
    group: usize,
    parent: Option<usize>,
) -> Node {
    Node {
        step,
        id: path.last().copied().unwrap_or_default(),
        path,
        logprob,
        score,
        state,
        group,
        parent,
        rank: None,
        column: step + 1,
        row: 0,
    }
}

/// A pruned candidate's node: its parent's path and its token.
fn pruned_node(tree: &Tree, step: usize, c: &PrunedBeam, parent: Option<usize>) -> Node {
    let mut path = parent.map_or_else(Vec::new, |p| tree.nodes[p].path.clone());
    path.push(c.id);
    node(
        step,
        path,
        c.logprob,
        c.score,
        NodeState::Pruned,
        c.group,
        parent,
    )
}

/// Rows of the column `nodes[first..]`: by the parent's row, group, state,
/// then score (best first).
fn place(nodes: &mut [Node], first: usize) {
    let parent_row = |n: &Node| n.parent.map_or(0, |p| nodes[p].row);
    let mut order: Vec<usize> = (first..nodes.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&nodes[a], &nodes[b]);
        (x.group, parent_row(x), x.state)
            .cmp(&(y.group, parent_row(y), y.state))
            .then(y.score.total_cmp(&x.score))
    });
    for (row, i) in order.into_iter().enumerate() {
        nodes[i].row = row;
    }
}

/// Ranks the finished hypotheses of the last step's event (best score first;
/// the earlier listed first among equal scores).
fn rank(nodes: &mut [Node], last: &[BeamState]) {
    let mut finished: Vec<&BeamState> = last.iter().filter(|b| b.finished).collect();
    finished.sort_by(|a, b| b.score.total_cmp(&a.score));
    for (r, b) in finished.into_iter().enumerate() {
        let found = nodes
            .iter_mut()
            .find(|n| n.state == NodeState::Finished && n.group == b.group && n.path == b.ids);
        if let Some(n) = found {
            n.rank = Some(r);
        }
    }
}

/// Where keyboard focus goes from node `at` on `key`: the parent (left), the
/// best-placed child (right), the node above or below in the column (up,
/// down). None: the key does not move, or nothing is there.
pub fn neighbour(tree: &Tree, at: usize, key: &str) -> Option<usize> {
    let node = tree.nodes.get(at)?;
    let in_column = |row: usize| {
        tree.nodes
            .iter()
            .position(|n| n.column == node.column && n.row == row)
    };
    match key {
        "ArrowLeft" => node.parent,
        "ArrowRight" => tree
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.parent == Some(at))
            .min_by_key(|(_, n)| n.row)
            .map(|(i, _)| i),
        "ArrowUp" => in_column(node.row.checked_sub(1)?),
        "ArrowDown" => in_column(node.row + 1),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
