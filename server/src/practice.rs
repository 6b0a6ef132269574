//! What practice staff see of their own practice beside the service queues: themselves, their
//! patients found by NHS number or name, one patient's online access (record access level and
//! date, SNOMED access codes, hidden items, linkage details, accounts and devices), and the
//! diary of slots with their bookings. Read models only: every change goes through the service
//! modules. Everything is scoped to the staff member's practice, so another practice's patient
//! is `None`, exactly like one that does not exist.

pub mod admin;

use crate::access::StaffActor;
use crate::db::entities::{
    access_codes, accounts, appointments, devices, linkage_keys, patients, practices,
    record_entries, slots, staff,
};
use crate::error::AppError;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// Most patients one search answers.
pub const MAX_SEARCH_RESULTS: u64 = 20;
/// Most slots one diary page holds.
pub const MAX_DIARY_SLOTS: u64 = 500;

/// The signed-in staff member and their practice.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffMember {
    /// The staff member.
    pub id: Uuid,
    /// Their name as the practice shows it.
    pub display_name: String,
    /// `clinician` or `admin`.
    #[schema(value_type = String)]
    pub role: staff::StaffRole,
    /// Their job title, if recorded.
    pub job_title: Option<String>,
    /// The practice's id.
    pub practice_id: Uuid,
    /// The practice's name.
    pub practice_name: String,
    /// The practice's ODS code.
    pub ods_code: String,
}

/// The staff member `actor`.
pub async fn staff_member(
    db: &impl ConnectionTrait,
    actor: &StaffActor,
) -> Result<StaffMember, AppError> {
    let member = staff::Entity::find_by_id(actor.staff_id)
        .one(db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let practice = practices::Entity::find_by_id(actor.practice_id)
        .one(db)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(StaffMember {
        id: member.id,
        display_name: member.display_name,
        role: member.role,
        job_title: member.job_title,
        practice_id: practice.id,
        practice_name: practice.name,
        ods_code: practice.ods_code,
    })
}

/// A patient as a search lists them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PatientListing {
    /// The patient.
    pub id: Uuid,
    /// Ten digits.
    pub nhs_number: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// Whether the practice has archived them (left the practice, died).
    pub archived: bool,
}

impl From<patients::Model> for PatientListing {
    fn from(p: patients::Model) -> Self {
        Self {
            id: p.id,
            nhs_number: p.nhs_number,
            given_name: p.given_name,
            family_name: p.family_name,
            date_of_birth: p.date_of_birth,
            archived: p.archived_at.is_some(),
        }
    }
}

/// The practice's patients matching `query`: ten digits (spaces allowed) match the NHS number
/// exactly; anything else matches the start of the family or given name, or the whole name
/// "given family", ignoring case. At most [`MAX_SEARCH_RESULTS`], by family then given name.
pub async fn search_patients(
    db: &impl ConnectionTrait,
    actor: &StaffActor,
    query: &str,
) -> Result<Vec<PatientListing>, AppError> {
    let query = query.trim();
    let digits: String = query.chars().filter(|c| !c.is_whitespace()).collect();
    let matching = if digits.len() == 10 && digits.chars().all(|c| c.is_ascii_digit()) {
        Condition::all().add(patients::Column::NhsNumber.eq(digits))
    } else {
        let text = query.to_lowercase().replace(['%', '_', '\\'], "");
        let lower = |column: patients::Column| Expr::expr(Func::lower(Expr::col(column)));
        let starts = format!("{text}%");
        let mut any = Condition::any()
            .add(lower(patients::Column::FamilyName).like(starts.clone()))
            .add(lower(patients::Column::GivenName).like(starts));
        if let Some((given, family)) = text.split_once(' ') {
            any = any.add(
                Condition::all()
                    .add(lower(patients::Column::GivenName).eq(given.trim().to_owned()))
                    .add(lower(patients::Column::FamilyName).like(format!("{}%", family.trim()))),
            );
        }
        Condition::all().add(any)
    };
    Ok(patients::Entity::find()
        .filter(patients::Column::PracticeId.eq(actor.practice_id))
        .filter(matching)
        .order_by_asc(patients::Column::FamilyName)
        .order_by_asc(patients::Column::GivenName)
        .order_by_asc(patients::Column::Id)
        .limit(MAX_SEARCH_RESULTS)
        .all(db)
        .await?
        .into_iter()
        .map(PatientListing::from)
        .collect())
}

/// One patient's online access, as the practice manages it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PatientOverview {
    /// Who they are.
    pub patient: PatientListing,
    /// `none`, `summary`, `detailed` or `documents`.
    #[schema(value_type = String)]
    pub access_level: patients::AccessLevel,
    /// Historic access: detailed sections and letters (as the level allows) entered from this
    /// date are visible (absent: none beyond the summary; ADR 0002).
    pub record_access_from: Option<NaiveDate>,
    /// The practice's prospective access date.
    pub practice_prospective_access_date: Option<NaiveDate>,
    /// Recorded as competent to manage their own access (under 16).
    pub competent: bool,
    /// SNOMED codes recorded on the patient that block or restore online access.
    pub access_codes: Vec<AccessCode>,
    /// Coded entries hidden from the patient online, or from their proxies.
    pub hidden_items: Vec<HiddenItem>,
    /// Linkage details issued for the patient, newest first (never the key itself).
    pub linkage: Vec<LinkageIssue>,
    /// The patient's own online accounts with their devices.
    pub accounts: Vec<OnlineAccount>,
}

/// A SNOMED access code on the record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccessCode {
    /// The code's id (to end it).
    pub id: Uuid,
    /// The concept id.
    pub snomed_code: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The first day it no longer applies.
    pub ended_on: Option<NaiveDate>,
}

/// A coded entry hidden online.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HiddenItem {
    /// The entry.
    pub id: Uuid,
    /// Its record section.
    #[schema(value_type = String)]
    pub section: record_entries::RecordSection,
    /// Its term.
    pub term: String,
    /// Its date.
    pub effective_date: NaiveDate,
    /// Hidden from the patient (and so from everyone online).
    pub hidden: bool,
    /// Hidden from proxies only.
    pub hidden_from_proxies: bool,
}

/// Linkage details issued for the patient (the key is never stored in the clear).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinkageIssue {
    /// The Account ID printed on the letter.
    pub account_id: String,
    /// Issued after an identity check to replace lost access.
    pub recovery: bool,
    /// When.
    pub issued_at: DateTime<Utc>,
    /// Until when it works.
    pub expires_at: DateTime<Utc>,
    /// When it was used to register.
    pub used_at: Option<DateTime<Utc>>,
    /// When it was revoked (a reissue revokes the earlier one).
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was locked after failed attempts.
    pub locked_at: Option<DateTime<Utc>>,
}

/// An online account of the patient with its devices.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OnlineAccount {
    /// The account.
    pub id: Uuid,
    /// `active`, `suspended` or `closed`.
    #[schema(value_type = String)]
    pub status: accounts::AccountStatus,
    /// When it registered.
    pub created_at: DateTime<Utc>,
    /// Its last sign-in.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Its devices, revoked ones included.
    pub devices: Vec<OnlineDevice>,
}

/// A device of an account.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OnlineDevice {
    /// The device.
    pub id: Uuid,
    /// The name given at registration.
    pub name: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it was last used.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The online access of `patient_id`, a patient of the actor's practice.
pub async fn patient_overview(
    db: &impl ConnectionTrait,
    actor: &StaffActor,
    patient_id: Uuid,
) -> Result<Option<PatientOverview>, AppError> {
    let Some(patient) = patients::Entity::find_by_id(patient_id)
        .filter(patients::Column::PracticeId.eq(actor.practice_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let practice = practices::Entity::find_by_id(actor.practice_id)
        .one(db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let access_codes = access_codes::Entity::find()
        .filter(access_codes::Column::PatientId.eq(patient_id))
        .order_by_asc(access_codes::Column::RecordedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|c| AccessCode {
            id: c.id,
            snomed_code: c.snomed_code,
            recorded_at: c.recorded_at,
            ended_on: c.ended_on,
        })
        .collect();
    let hidden_items = record_entries::Entity::find()
        .filter(record_entries::Column::PatientId.eq(patient_id))
        .filter(
            Condition::any()
                .add(record_entries::Column::Hidden.eq(true))
                .add(record_entries::Column::HiddenFromProxies.eq(true)),
        )
        .order_by_desc(record_entries::Column::EffectiveDate)
        .all(db)
        .await?
        .into_iter()
        .map(|e| HiddenItem {
            id: e.id,
            section: e.section,
            term: e.term,
            effective_date: e.effective_date,
            hidden: e.hidden,
            hidden_from_proxies: e.hidden_from_proxies,
        })
        .collect();
    let linkage = linkage_keys::Entity::find()
        .filter(linkage_keys::Column::PatientId.eq(patient_id))
        .order_by_desc(linkage_keys::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|k| LinkageIssue {
            account_id: k.account_code,
            recovery: k.recovery,
            issued_at: k.created_at,
            expires_at: k.expires_at,
            used_at: k.used_at,
            revoked_at: k.revoked_at,
            locked_at: k.locked_at,
        })
        .collect();
    let account_rows = accounts::Entity::find()
        .filter(accounts::Column::PatientId.eq(patient_id))
        .order_by_asc(accounts::Column::CreatedAt)
        .all(db)
        .await?;
    let mut devices_by_account: HashMap<Uuid, Vec<OnlineDevice>> = HashMap::new();
    for device in devices::Entity::find()
        .filter(devices::Column::AccountId.is_in(account_rows.iter().map(|a| a.id)))
        .order_by_asc(devices::Column::CreatedAt)
        .all(db)
        .await?
    {
        devices_by_account
            .entry(device.account_id)
            .or_default()
            .push(OnlineDevice {
                id: device.id,
                name: device.name,
                created_at: device.created_at,
                last_seen_at: device.last_seen_at,
                revoked_at: device.revoked_at,
            });
    }
    let accounts = account_rows
        .into_iter()
        .map(|a| OnlineAccount {
            devices: devices_by_account.remove(&a.id).unwrap_or_default(),
            id: a.id,
            status: a.status,
            created_at: a.created_at,
            last_login_at: a.last_login_at,
        })
        .collect();
    Ok(Some(PatientOverview {
        access_level: patient.access_level,
        record_access_from: patient.record_access_from,
        practice_prospective_access_date: practice.prospective_access_date,
        competent: patient.competent,
        patient: PatientListing::from(patient),
        access_codes,
        hidden_items,
        linkage,
        accounts,
    }))
}

/// A slot of the diary with its booking, if any.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiarySlot {
    /// The slot.
    pub id: Uuid,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Who sees the patient.
    pub clinician_name: String,
    /// E.g. "GP appointment".
    pub slot_type: String,
    /// Where.
    pub location: String,
    /// `in_person`, `telephone` or `video`.
    #[schema(value_type = String)]
    pub channel: slots::Channel,
    /// `open` or `withdrawn`.
    #[schema(value_type = String)]
    pub status: slots::SlotStatus,
    /// The appointment booked on it, if any.
    pub booking: Option<DiaryBooking>,
}

/// A booked appointment in the diary.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiaryBooking {
    /// The appointment, to move it.
    pub appointment_id: Uuid,
    /// Whose it is.
    pub patient: PatientListing,
    /// Booked by a proxy for the patient.
    pub booked_by_proxy: bool,
    /// When it was booked.
    pub booked_at: DateTime<Utc>,
}

/// The practice's slots starting in `[from, to)`, earliest first, with their live bookings;
/// at most [`MAX_DIARY_SLOTS`].
pub async fn diary(
    db: &impl ConnectionTrait,
    actor: &StaffActor,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DiarySlot>, AppError> {
    let slot_rows = slots::Entity::find()
        .filter(slots::Column::PracticeId.eq(actor.practice_id))
        .filter(slots::Column::StartsAt.gte(from))
        .filter(slots::Column::StartsAt.lt(to))
        .order_by_asc(slots::Column::StartsAt)
        .order_by_asc(slots::Column::Id)
        .limit(MAX_DIARY_SLOTS)
        .all(db)
        .await?;
    let bookings = appointments::Entity::find()
        .filter(appointments::Column::ActiveSlotId.is_in(slot_rows.iter().map(|s| s.id)))
        .all(db)
        .await?;
    let patients: HashMap<Uuid, patients::Model> = patients::Entity::find()
        .filter(patients::Column::Id.is_in(bookings.iter().map(|b| b.patient_id)))
        .filter(patients::Column::PracticeId.eq(actor.practice_id))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut by_slot: HashMap<Uuid, DiaryBooking> = HashMap::new();
    for booking in bookings {
        let (Some(slot_id), Some(patient)) =
            (booking.active_slot_id, patients.get(&booking.patient_id))
        else {
            continue;
        };
        by_slot.insert(
            slot_id,
            DiaryBooking {
                appointment_id: booking.id,
                patient: PatientListing::from(patient.clone()),
                booked_by_proxy: booking.booked_by_proxy,
                booked_at: booking.booked_at,
            },
        );
    }
    Ok(slot_rows
        .into_iter()
        .map(|s| DiarySlot {
            booking: by_slot.remove(&s.id),
            id: s.id,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            clinician_name: s.clinician_name,
            slot_type: s.slot_type,
            location: s.location,
            channel: s.channel,
            status: s.status,
        })
        .collect())
}

/// A suspended proxy grant waiting for the practice's review (an age review or the 16th
/// birthday), with its patient.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AwaitingReview {
    /// The patient the proxy acts for.
    pub patient: PatientListing,
    /// The suspended grant.
    pub grant: crate::proxy::Grant,
}

/// The practice's suspended proxy grants, oldest suspension first (at most 200).
pub async fn grants_awaiting_review(
    db: &sea_orm::DatabaseConnection,
    actor: &StaffActor,
) -> Result<Vec<AwaitingReview>, AppError> {
    use crate::db::entities::proxy_grants;
    let suspended = proxy_grants::Entity::find()
        .filter(proxy_grants::Column::PracticeId.eq(actor.practice_id))
        .filter(proxy_grants::Column::Status.eq(proxy_grants::GrantStatus::Suspended))
        .order_by_asc(proxy_grants::Column::SuspendedAt)
        .limit(200)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(suspended.len());
    let mut grants_of: HashMap<Uuid, Vec<crate::proxy::Grant>> = HashMap::new();
    for row in suspended {
        if let std::collections::hash_map::Entry::Vacant(entry) = grants_of.entry(row.patient_id) {
            entry.insert(
                crate::proxy::list_for_practice(db, actor.practice_id, row.patient_id).await?,
            );
        }
        let Some(grant) = grants_of[&row.patient_id].iter().find(|g| g.id == row.id) else {
            continue;
        };
        let Some(patient) = patients::Entity::find_by_id(row.patient_id).one(db).await? else {
            continue;
        };
        out.push(AwaitingReview {
            patient: PatientListing::from(patient),
            grant: grant.clone(),
        });
    }
    Ok(out)
}
