//! Roster serves the Get Customer List API of a software marketplace's
//! partner platform: `GET /v3/resellers/{reseller_id}/customers`.
//!
//! The request path, in modules: [`http`] (router, middleware, errors) →
//! [`domain`] (the typed query) → [`auth`] → [`limits`] → [`catalog`] (the
//! in-memory index that answers queries) → [`store`] (the database) → JSON.

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
pub mod serve;
pub mod store;
