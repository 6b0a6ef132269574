//! Transactional services: appointment slots and bookings, repeat courses and prescription
//! requests, and message threads with the practice.

use crate::builders::{code, create_all, drop_all, index, owned_by, refers_to, table, timestamps};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "slots",
    "appointments",
    "courses",
    "prescription_requests",
    "prescription_request_items",
    "message_threads",
    "messages",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut slots = table("slots");
        owned_by(&mut slots, "practice_id", "practices").col(col::string_null("external_id"));
        refers_to(&mut slots, "clinician_staff_id", "staff")
            .col(col::string("clinician_name"))
            .col(col::string("slot_type"))
            .col(col::string("session_name"))
            .col(col::string("location"))
            .col(code("channel"))
            .col(col::timestamp_with_time_zone("starts_at"))
            .col(col::timestamp_with_time_zone("ends_at"))
            .col(code("status"));
        timestamps(&mut slots);

        let mut appointments = table("appointments");
        owned_by(&mut appointments, "slot_id", "slots");
        owned_by(&mut appointments, "patient_id", "patients")
            // Equal to slot_id while booked and NULL otherwise: the unique index on it makes
            // double booking impossible in the database itself, on both backends.
            .col(col::uuid_null("active_slot_id"))
            .col(code("status"))
            .col(col::text_null("reason"));
        refers_to(&mut appointments, "booked_by_account_id", "accounts")
            .col(col::boolean("booked_by_proxy"))
            .col(col::string_null("cancellation_reason"))
            .col(col::timestamp_with_time_zone("booked_at"))
            .col(col::timestamp_with_time_zone_null("cancelled_at"));
        timestamps(&mut appointments);

        let mut courses = table("courses");
        owned_by(&mut courses, "patient_id", "patients")
            .col(col::string_null("external_id"))
            .col(col::string_len("snomed_code", 18))
            .col(col::string("medication"))
            .col(col::string("dosage"))
            .col(col::string("quantity"))
            .col(code("course_type"))
            .col(col::boolean("can_be_requested"))
            .col(col::date_null("last_issue_date"))
            .col(col::date_null("next_issue_date"))
            .col(col::date_null("review_date"))
            .col(col::boolean("hidden"))
            .col(col::boolean("hidden_from_proxies"))
            .col(col::date_null("ended_on"));
        timestamps(&mut courses);

        let mut requests = table("prescription_requests");
        owned_by(&mut requests, "patient_id", "patients");
        refers_to(&mut requests, "requested_by_account_id", "accounts")
            .col(col::boolean("requested_by_proxy"))
            .col(col::text_null("note"))
            .col(col::char_len_null("pharmacy_ods", 6));
        timestamps(&mut requests);

        let mut items = table("prescription_request_items");
        owned_by(&mut items, "request_id", "prescription_requests");
        owned_by(&mut items, "course_id", "courses")
            // Equal to course_id while the item is pending, NULL once decided: at most one
            // pending request per course, enforced by a unique index.
            .col(col::uuid_null("pending_course_id"))
            .col(code("status"))
            .col(col::boolean("routed_to_clinician"))
            .col(col::text_null("rejection_reason"))
            .col(col::timestamp_with_time_zone_null("decided_at"));
        refers_to(&mut items, "decided_by_staff_id", "staff");
        timestamps(&mut items);

        let mut threads = table("message_threads");
        owned_by(&mut threads, "patient_id", "patients")
            .col(col::string_null("subject"))
            .col(code("status"))
            .col(col::timestamp_with_time_zone_null("deleted_by_patient_at"));
        timestamps(&mut threads);

        let mut messages = table("messages");
        owned_by(&mut messages, "thread_id", "message_threads").col(code("sender_kind"));
        refers_to(&mut messages, "sender_account_id", "accounts");
        refers_to(&mut messages, "sender_staff_id", "staff")
            .col(col::text("body"))
            .col(col::timestamp_with_time_zone("sent_at"))
            .col(col::timestamp_with_time_zone_null("read_by_patient_at"))
            .col(col::timestamp_with_time_zone_null("read_by_practice_at"));

        create_all(
            manager,
            vec![
                slots,
                appointments,
                courses,
                requests,
                items,
                threads,
                messages,
            ],
            vec![
                index("slots", &["practice_id", "starts_at"], false),
                index("slots", &["practice_id", "external_id"], true),
                index("appointments", &["active_slot_id"], true),
                index("appointments", &["patient_id", "status"], false),
                index("courses", &["patient_id"], false),
                index("courses", &["patient_id", "external_id"], true),
                index("prescription_requests", &["patient_id"], false),
                index("prescription_request_items", &["pending_course_id"], true),
                index("prescription_request_items", &["course_id"], false),
                index("message_threads", &["patient_id"], false),
                index("messages", &["thread_id", "sent_at"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
