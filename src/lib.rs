//! Roster serves a software marketplace's partner API for customer
//! accounts: `GET /v3/resellers/{reseller_id}/customers` (a reseller's
//! customers, filtered, sorted and counted exactly), and reading, creating
//! and updating one customer (`/v3/customers[/{id}]`), with idempotent
//! writes and two versions of the list's shape. One binary on an embedded
//! SQLite database, or several instances on PostgreSQL with Redis.
//!
//! The layers, following a request down: [`cli`] → [`demo`] → [`serve`] →
//! [`http`] (the request context, the routes, one file per resource) →
//! [`app`] (what a server runs on, and the writer that commits API writes
//! in groups) → [`catalog`] (answers reads from memory and follows the
//! change log), [`auth`], [`limits`], [`import`] → [`store`] (the `Store`
//! trait, the write protocol once, one module of SQL per backend),
//! [`generate`], [`logs`] → [`domain`] (validated values, the error table,
//! what a write asks for and decides). `tests/layers.rs` holds the layers
//! as a table and fails if an import points up.

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
