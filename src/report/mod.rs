//! A run's and a sweep's presentation: the files a run directory holds ([`files`]:
//! `summary.json`, `trades.csv`, `equity.csv`, `events.csv`), charts and pages. The figures
//! they show come from [`crate::outcome`].

pub mod chart;
pub mod downsample;
pub mod files;
pub mod html;
pub mod run_page;
pub mod sweep_page;
pub mod ticks;
