//! The run as a tree: the run the strategy makes and its branches, each a
//! path of forced choices ([`crate::settings::forced`]) taken from a step's
//! chart. Every finished run is kept under its path, so reopening a branch
//! shows it again without a forward pass — while the other settings are
//! those it ran under; once they change, the tree starts again and a
//! reopened branch is run anew.

use crate::settings::Settings;
use crate::state::RunView;

/// One branch: its forced choices and its last finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    pub forced: Vec<(usize, u32)>,
    pub run: Option<RunView>,
}

/// The branches run under one set of settings (all but the path).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BranchTree {
    /// The settings' URL form without their path ([`base_key`]).
    pub base: String,
    /// In the order they were first run.
    pub branches: Vec<Branch>,
}

/// What identifies the settings a branch ran under: their URL form without
/// the forced choices.
pub fn base_key(settings: &Settings) -> String {
    Settings {
        forced: Vec::new(),
        ..settings.clone()
    }
    .to_query()
}

impl BranchTree {
    /// Keeps `run`, made under `settings`, as its path's branch; other
    /// settings than the tree's start a new tree.
    pub fn keep(&mut self, settings: &Settings, run: RunView) {
        let base = base_key(settings);
        if base != self.base {
            *self = BranchTree {
                base,
                branches: Vec::new(),
            };
        }
        let forced = settings.forced.clone();
        match self.branches.iter_mut().find(|b| b.forced == forced) {
            Some(branch) => branch.run = Some(run),
            None => self.branches.push(Branch {
                forced,
                run: Some(run),
            }),
        }
    }

    /// Branch `index`: its path, and its kept run if `settings` (but the
    /// path) are still those it ran under.
    pub fn reopen(&self, index: usize, settings: &Settings) -> Option<Branch> {
        let branch = self.branches.get(index)?;
        Some(Branch {
            forced: branch.forced.clone(),
            run: branch
                .run
                .clone()
                .filter(|_| base_key(settings) == self.base),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Strategy;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn run(ids: &[u32]) -> RunView {
        let mut view = RunView::new(Strategy::Greedy, vec![1], None);
        view.text = format!("{ids:?}");
        view
    }

    #[test]
    fn runs_are_kept_per_path_and_reopened_while_the_settings_hold() {
        let mut tree = BranchTree::default();
        let root = Settings::default();
        let branch = Settings {
            forced: vec![(2, 40)],
            ..root.clone()
        };
        tree.keep(&root, run(&[1]));
        tree.keep(&branch, run(&[2]));
        tree.keep(&branch, run(&[3]));
        assert_eq!(tree.branches.len(), 2);
        let Branch { forced, run: kept } = tree.reopen(1, &root).unwrap();
        assert_eq!(forced, [(2, 40)]);
        assert_eq!(kept.unwrap().text, "[3]");
        // Other settings: the path comes back, the kept run does not.
        let hotter = Settings {
            temperature: 0.5,
            ..root.clone()
        };
        assert_eq!(tree.reopen(0, &hotter).unwrap().run, None);
        assert!(tree.reopen(2, &root).is_none());
        // A run under them starts a new tree.
        tree.keep(&hotter, run(&[4]));
        assert_eq!(tree.branches.len(), 1);
        assert_eq!(tree.branches[0].forced, []);
    }
}
