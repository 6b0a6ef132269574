//! sea-orm entities, one module per database table (see `gp-online-migrations` for the schema).

#![allow(missing_docs)] // sea-orm derives generate undocumented items.

use sea_orm::sea_query::ColumnType;
use sea_orm::{ColumnTrait, EntityTrait, IdenStatic, Iterable};
use std::collections::HashMap;
use std::sync::OnceLock;

pub mod access_codes;
pub mod access_log;
pub mod accounts;
pub mod appointments;
pub mod audit_events;
pub mod blobs;
pub mod carers;
pub mod ceremonies;
pub mod courses;
pub mod device_sync_states;
pub mod devices;
pub mod documents;
pub mod idempotency_keys;
pub mod integration_keys;
pub mod linkage_keys;
pub mod message_threads;
pub mod messages;
pub mod notification_deliveries;
pub mod notification_outbox;
pub mod notification_preferences;
pub mod passkeys;
pub mod patients;
pub mod practices;
pub mod prescription_request_items;
pub mod prescription_requests;
pub mod projection_due;
pub mod projection_outbox;
pub mod proxy_grants;
pub mod push_subscriptions;
pub mod record_access_requests;
pub mod record_entries;
pub mod results;
pub mod server_keys;
pub mod session_families;
pub mod session_tokens;
pub mod slots;
pub mod staff;
pub mod staff_enrolments;
pub mod sync_document_digests;
pub mod sync_documents;

/// The column type of every column of every table, by (table, column): how
/// [`crate::db::local_reads`] types the values it reads.
pub fn column_types() -> &'static HashMap<(&'static str, &'static str), ColumnType> {
    static TYPES: OnceLock<HashMap<(&'static str, &'static str), ColumnType>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let mut types = HashMap::new();
        add::<access_codes::Entity>(&mut types);
        add::<access_log::Entity>(&mut types);
        add::<accounts::Entity>(&mut types);
        add::<appointments::Entity>(&mut types);
        add::<audit_events::Entity>(&mut types);
        add::<blobs::Entity>(&mut types);
        add::<carers::Entity>(&mut types);
        add::<ceremonies::Entity>(&mut types);
        add::<courses::Entity>(&mut types);
        add::<device_sync_states::Entity>(&mut types);
        add::<devices::Entity>(&mut types);
        add::<documents::Entity>(&mut types);
        add::<idempotency_keys::Entity>(&mut types);
        add::<integration_keys::Entity>(&mut types);
        add::<linkage_keys::Entity>(&mut types);
        add::<message_threads::Entity>(&mut types);
        add::<messages::Entity>(&mut types);
        add::<notification_deliveries::Entity>(&mut types);
        add::<notification_outbox::Entity>(&mut types);
        add::<notification_preferences::Entity>(&mut types);
        add::<passkeys::Entity>(&mut types);
        add::<patients::Entity>(&mut types);
        add::<practices::Entity>(&mut types);
        add::<prescription_request_items::Entity>(&mut types);
        add::<prescription_requests::Entity>(&mut types);
        add::<projection_due::Entity>(&mut types);
        add::<projection_outbox::Entity>(&mut types);
        add::<proxy_grants::Entity>(&mut types);
        add::<push_subscriptions::Entity>(&mut types);
        add::<record_access_requests::Entity>(&mut types);
        add::<record_entries::Entity>(&mut types);
        add::<results::Entity>(&mut types);
        add::<server_keys::Entity>(&mut types);
        add::<session_families::Entity>(&mut types);
        add::<session_tokens::Entity>(&mut types);
        add::<slots::Entity>(&mut types);
        add::<staff::Entity>(&mut types);
        add::<staff_enrolments::Entity>(&mut types);
        add::<sync_document_digests::Entity>(&mut types);
        add::<sync_documents::Entity>(&mut types);
        types
    })
}

fn add<E: EntityTrait + Default>(types: &mut HashMap<(&'static str, &'static str), ColumnType>) {
    let table = E::default().table_name();
    for column in E::Column::iter() {
        types.insert(
            (table, column.as_str()),
            column.def().get_column_type().clone(),
        );
    }
}
