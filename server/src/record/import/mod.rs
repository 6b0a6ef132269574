//! Import from the clinical system: the GP system of record pushes patients, coded entries,
//! test results, record-access codes and letters, each keyed by its own id (`external_id`).
//!
//! - **Validated as a whole.** Every field of a batch is checked before anything is written,
//!   and a bad batch is one 422 naming every bad field as a JSON path (`results[2].unit`).
//! - **Atomic.** A batch is one transaction: its rows, the audit event and the projection
//!   outbox rows commit together or not at all.
//! - **Idempotent by external id.** Re-sending an item updates its row in place (same id);
//!   re-sending a whole batch changes nothing.
//! - **Scoped to the key's practice.** A patient is found only among the practice's own
//!   patients, so another practice's patient is "unknown", never touched.
//! - **No clinical text leaves this module** except into its own rows: the audit event and
//!   the outbox carry counts, ids and section names only, and nothing here logs.

use crate::access::Section;
use crate::access::rules;
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::documents::{self, DocumentType};
use crate::db::entities::patients::{self, AccessLevel, Sex};
use crate::db::entities::record_entries::{self, RecordSection};
use crate::db::entities::results::{self, AbnormalFlag, ReviewState};
use crate::db::entities::{access_codes, accounts, blobs, practices, proxy_grants};
use crate::error::{AppError, ErrorCode};
use crate::identity::integration::IntegrationClient;
use crate::outbox;
use crate::settings::PracticeSettings;
use crate::validate::{
    Invalid, InvalidField, NhsNumber, Validator, parse_date, parse_date_of_birth,
};
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, IntoActiveModel, Iterable, QueryFilter, QuerySelect,
    QueryTrait,
};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

mod shapes;
pub use shapes::*;
mod fields;
use fields::*;
mod parse;
pub use parse::check_batch;
use parse::*;
mod batch;
pub use batch::*;
mod document;
pub use document::*;

/// The largest document accepted, in bytes after base64 decoding (docs/domain.md: 4 MB).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// Every synced section a change to a patient's access can affect.
const ACCESS_SECTIONS: [sync_protocol::Section; 4] = [
    sync_protocol::Section::Profile,
    sync_protocol::Section::Record,
    sync_protocol::Section::Results,
    sync_protocol::Section::Documents,
];

/// Bind parameters per statement, under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_BIND_PARAMS: usize = 30_000;
/// Ids per `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 1_000;

// Widths: the short ones are the columns' own (migrations); the others are sane limits.
const MAX_EXTERNAL_ID: usize = 100;
const MAX_NAME: usize = 100;
const MAX_TEXT: usize = 500;
const MAX_DETAIL: usize = 20_000;
const MAX_TEST_CODE: usize = 18;
const MAX_VALUE: usize = 64;
const MAX_UNIT: usize = 32;
const MAX_RANGE_TEXT: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_come_from_the_bytes() {
        assert_eq!(
            detect_content_type(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"),
            Some("application/pdf")
        );
        assert_eq!(
            detect_content_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some("image/png")
        );
        assert_eq!(
            detect_content_type(b"\xff\xd8\xff\xe0\0\x10JFIF"),
            Some("image/jpeg")
        );
        assert_eq!(detect_content_type(b"II*\0\x08\0\0\0"), Some("image/tiff"));
        assert_eq!(detect_content_type(b"MM\0*\0\0\0\x08"), Some("image/tiff"));
        assert_eq!(
            detect_content_type(b"{\\rtf1\\ansi Hello}"),
            Some("application/rtf")
        );
        assert_eq!(
            detect_content_type("Dear Dr Patel,\r\n\tThank you. Café.\n".as_bytes()),
            Some("text/plain; charset=utf-8")
        );
    }

    #[test]
    fn other_content_is_refused() {
        for refused in [
            &b"MZ\x90\x00\x03\x00\x00\x00"[..],
            b"\x7fELF\x02\x01\x01",
            b"PK\x03\x04zip",
            b"plain text with a NUL\0",
            b"bell \x07 character",
            b"\xff\xfe not utf-8",
            b"form feed \x0c",
        ] {
            assert_eq!(detect_content_type(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn base64_allows_line_breaks_and_refuses_garbage_and_empty() {
        assert_eq!(
            decode_base64("JVBE\nRi0x\r\nLjQ=").ok(),
            Some(b"%PDF-1.4".to_vec())
        );
        assert_eq!(
            decode_base64("JVBERi0xLjQ").ok(),
            Some(b"%PDF-1.4".to_vec())
        );
        assert_eq!(
            decode_base64("not base64!").err().map(|e| e.code),
            Some("invalid_base64")
        );
        assert_eq!(
            decode_base64("").err().map(|e| e.code),
            Some("empty_document")
        );
    }

    #[test]
    fn batch_validation_names_every_bad_field() {
        let batch: ImportBatch = serde_json::from_value(serde_json::json!({
            "patients": [
                {"external_id": "P1", "nhs_number": "9434765918", "given_name": "Ada",
                 "family_name": "Lovelace", "date_of_birth": "1980-02-30", "sex": "female"},
                {"external_id": "P1", "nhs_number": "9434765919", "given_name": " ",
                 "family_name": "Byron", "date_of_birth": "1980-01-01", "sex": "f"}
            ],
            "entries": [
                {"external_id": "E1", "patient_external_id": "P1", "section": "allergy",
                 "snomed_code": "12a", "term": "Penicillin", "effective_date": "2020-01-01",
                 "end_date": "2019-01-01"}
            ],
            "access_codes": [
                {"external_id": "C1", "patient_external_id": "P1",
                 "snomed_code": "123456", "recorded_at": "yesterday"}
            ]
        }))
        .unwrap_or_default();
        let mut v = Validator::new();
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        let parsed = Parsed::from_batch(&batch, today, &mut v);
        assert!(parsed.patients.is_empty());
        let names: Vec<String> = v
            .finish()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|f| format!("{}:{}", f.name, f.code))
            .collect();
        assert_eq!(
            names,
            [
                "patients[0].nhs_number:invalid_nhs_number",
                "patients[0].date_of_birth:invalid_date",
                "patients[1].external_id:duplicate_external_id",
                "patients[1].given_name:required",
                "patients[1].sex:invalid_value",
                "entries[0].section:invalid_value",
                "entries[0].snomed_code:invalid_snomed_code",
                "entries[0].entered_on:required",
                "entries[0].end_date:end_before_start",
                "access_codes[0].snomed_code:invalid_access_code",
                "access_codes[0].recorded_at:invalid_datetime",
            ]
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let refused = serde_json::from_value::<ImportBatch>(serde_json::json!({
            "patients": [], "appointments": []
        }));
        assert!(refused.is_err());
    }

    #[test]
    fn record_access_from_tells_left_out_from_null() {
        let patient = |extra: serde_json::Value| {
            let mut value = serde_json::json!({"external_id": "P", "nhs_number": "9434765919",
                "given_name": "A", "family_name": "B", "date_of_birth": "1980-01-01",
                "sex": "male"});
            if let (Some(object), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
                object.extend(extra.clone());
            }
            serde_json::from_value::<PatientImport>(value)
                .ok()
                .map(|p| p.record_access_from)
        };
        assert_eq!(patient(serde_json::json!({})), Some(None));
        assert_eq!(
            patient(serde_json::json!({"record_access_from": null})),
            Some(Some(None))
        );
        assert_eq!(
            patient(serde_json::json!({"record_access_from": "2020-01-01"})),
            Some(Some(Some("2020-01-01".to_owned())))
        );
    }
}
