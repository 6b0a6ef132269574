//! The gp-online database schema as sea-orm migrations, runnable on SQLite and PostgreSQL.
//!
//! Each migration covers one area of the product and has a `down` that removes exactly what its
//! `up` created, so `down` to zero then `up` rebuilds an identical schema (tested on both
//! backends). Migrations are frozen once released: a change to the schema is a new migration,
//! never an edit of an old one. Columns holding an enumeration are short strings checked by the
//! application, because SQLite has no enum type and a portable schema keeps both backends alike.

pub use sea_orm_migration::prelude::*;

mod builders;
mod m20261122_000001_practices;
mod m20261122_000002_identity;
mod m20261122_000003_record;
mod m20261122_000004_services;
mod m20261122_000005_proxy;
mod m20261122_000006_platform;
mod m20261122_000007_sync_digests;
mod m20261205_130001_sync_document_heads;
mod m20261205_160001_push_delivery;
mod m20261206_120001_idempotency_claims;
mod m20261206_140001_record_access_model;
mod m20261206_200001_patient_rows_carry_practice;
mod m20261207_090001_projection_due;
mod m20261207_150001_projection_outbox_items;

/// The ordered list of every migration of the product.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_practices::Migration),
            Box::new(m20261122_000002_identity::Migration),
            Box::new(m20261122_000003_record::Migration),
            Box::new(m20261122_000004_services::Migration),
            Box::new(m20261122_000005_proxy::Migration),
            Box::new(m20261122_000006_platform::Migration),
            Box::new(m20261122_000007_sync_digests::Migration),
            Box::new(m20261205_130001_sync_document_heads::Migration),
            Box::new(m20261205_160001_push_delivery::Migration),
            Box::new(m20261206_120001_idempotency_claims::Migration),
            Box::new(m20261206_140001_record_access_model::Migration),
            Box::new(m20261206_200001_patient_rows_carry_practice::Migration),
            Box::new(m20261207_090001_projection_due::Migration),
            Box::new(m20261207_150001_projection_outbox_items::Migration),
        ]
    }
}
