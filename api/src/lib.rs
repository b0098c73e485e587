//! The donations API: totals from memory, donations into storage, payments through gateways.
//! See ARCHITECTURE.md for the map; `startup::Application` is the entry point.

mod clicks;
pub mod db;
pub mod domain;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
mod metrics;
mod page_headers;
mod prometheus;
mod rate_limit;
mod reconcile;
mod request_spans;
mod routes;
pub mod settings;
mod settle;
pub mod startup;
mod state;
pub mod totals;
mod visitors;

pub use settings::Settings;
pub use startup::{Application, StartupError};
