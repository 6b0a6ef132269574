//! End-to-end tests of the workspace, compiled into one binary: the real server on port 0 over
//! HTTPS against a real database (SQLite, or PostgreSQL when `GP_ONLINE_TEST_DATABASE_URL` is
//! set). Add a module here rather than a new test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code.

mod access;
mod appointments;
mod authorization;
mod db_outage;
mod demo;
mod exactly_once;
mod fhir;
mod gp_patient;
mod hazard_log;
mod http_basics;
mod identity;
mod import;
mod local_reads;
mod messages;
mod migrations;
mod practice_scope;
mod prescriptions;
mod proxy;
mod push;
mod readme_routes;
mod record_access;
mod review;
mod sdk;
mod sync;
mod sync_calendar;
mod sync_compressed;
mod sync_cost;
mod sync_demo;
mod sync_followed;
mod sync_history;
mod sync_hostile;
mod sync_memory;
mod sync_personal;
mod sync_rebuild;
mod sync_services;
mod sync_settle;
