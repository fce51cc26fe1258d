//! The page's components.

pub mod bench_panel;
pub mod branches;
pub mod chart;
pub mod controls;
pub mod export;
pub mod fields;
pub mod method_controls;
pub mod output;
pub mod prompt_surprise;
pub mod sampler_controls;
pub mod sampler_order;
pub mod score_panel;
pub mod status;
pub mod strategy_views;
pub mod timeline;
