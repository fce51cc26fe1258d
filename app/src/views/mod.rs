//! The page's components.

pub mod bench_panel;
pub mod chart;
pub mod controls;
pub mod output;
pub mod score_panel;
pub mod status;
pub mod strategy_views;
