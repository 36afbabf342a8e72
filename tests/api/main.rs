//! Roster's integration tests: the real server on a random port, spoken to
//! over HTTP, and the real binary, checked against SPEC.md.

mod accounts;
mod auth;
mod cli;
mod errors;
mod freshness;
mod instances;
mod limits;
mod listing;
mod model;
mod operations;
mod property;
mod support;
