#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
// keel_errors::ApiError is 160 bytes; handlers return it by value on purpose (it is the
// error type of the whole service). Reported to keel-errors: boxing its internals would
// make this allow unnecessary.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod health;
pub mod limits;
pub mod middleware;
pub mod migrate;
pub mod openapi;
pub mod repository;
pub mod routes;
pub mod server;
pub mod services;
pub mod state;

pub use config::Config;
pub use server::serve;
pub use state::AppState;
