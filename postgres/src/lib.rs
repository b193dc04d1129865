#![doc = include_str!("../README.md")]

mod error;
mod ldk;
mod names;
mod sql;
mod store;
mod task;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use error::PostgresError;
pub use store::{PostgresOptions, PostgresStore, DEFAULT_TABLE};
