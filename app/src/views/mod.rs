//! The page's components.

pub mod beam_tree;
pub mod bench_panel;
pub mod branches;
pub mod chart;
pub mod controls;
pub mod export;
pub mod fields;
pub mod funnel;
pub mod lanes;
pub mod logit_lens;
pub mod method_controls;
pub mod output;
pub mod prompt_surprise;
pub mod sampler_controls;
pub mod sampler_order;
pub mod score_panel;
pub mod status;
pub mod strategy_views;
pub mod timeline;
