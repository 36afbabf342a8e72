//! Roster serves the Get Customer List API of a software marketplace's
//! partner platform: `GET /v3/resellers/{reseller_id}/customers`.
//!
//! The layers, top down: [`cli`] → [`demo`] → [`serve`] → [`http`] (the
//! request context, the routes, the error table, one file per resource) →
//! [`app`] (what a server runs on) → [`catalog`] (answers reads from memory
//! and follows the change log), [`auth`], [`limits`], [`import`] →
//! [`store`] (the database), [`generate`], [`logs`] → [`domain`] (validated
//! values). Each module says, in its first lines, what it may depend on;
//! `tests/layers.rs` fails if an import points up.

pub mod app;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod demo;
pub mod domain;
pub mod generate;
pub mod http;
pub mod import;
pub mod limits;
pub mod logs;
pub mod memory;
pub mod serve;
pub mod store;
pub mod telemetry;
