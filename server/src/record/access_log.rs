//! The patient-facing access log: every read of a record by the patient, a proxy or staff,
//! recorded with who (role and organisation), what (section or item), when and from which
//! device. The line is written before the data is returned, so no read goes unrecorded; reads
//! through sync are recorded per delivery to a device ([`record_sync_delivery`]).

use crate::access::rules::PatientFacts;
use crate::access::{Section, Viewer};
use crate::db::entities::access_log::{self, ViewerKind};
use crate::db::entities::{devices, staff};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use uuid::Uuid;

/// Records that `viewer` read `section` (and `item_id`, for one document) of a patient.
pub async fn record_read(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    section: Section,
    item_id: Option<Uuid>,
    device_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let line = new_line(db, viewer, facts, section.as_str(), item_id, device_id, now).await?;
    write_line(db, line).await
}

/// Records that sync delivered items of a synced document (`record`, `results` or
/// `documents`, the sync section's name) to `device_id` of `viewer`: one line per delivery,
/// whatever the number of items in it.
pub async fn record_sync_delivery(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    section: &str,
    device_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let line = new_line(db, viewer, facts, section, None, Some(device_id), now).await?;
    write_line(db, line).await
}

async fn write_line(db: &impl ConnectionTrait, line: access_log::Model) -> Result<(), DbErr> {
    line.into_active_model().reset_all().insert(db).await?;
    Ok(())
}

/// The line recording that `viewer` read `section` (and `item_id`) of a patient from
/// `device_id`, not yet written: for a caller that writes several lines together
/// (`sync::live_writes`). A patient or proxy is named by their account (a proxy with their
/// relationship); a staff member by their job title (or role) and the practice.
pub async fn new_line(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    section: &str,
    item_id: Option<Uuid>,
    device_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<access_log::Model, DbErr> {
    let who = match viewer {
        Viewer::Patient { account_id } => (
            ViewerKind::Patient,
            *account_id,
            "patient".to_owned(),
            String::new(),
        ),
        Viewer::Proxy { account_id, grant } => (
            ViewerKind::Proxy,
            *account_id,
            format!("proxy ({})", grant.relationship),
            String::new(),
        ),
        Viewer::Staff { staff_id, .. } => {
            let member = staff::Entity::find_by_id(*staff_id).one(db).await?;
            let role = member.map_or_else(
                || "staff".to_owned(),
                |m| {
                    m.job_title
                        .unwrap_or_else(|| format!("{:?}", m.role).to_lowercase())
                },
            );
            (
                ViewerKind::Staff,
                *staff_id,
                role,
                facts.practice.name.clone(),
            )
        }
    };
    Ok(line(facts, who, section, item_id, device_id, now))
}

/// A new line: who read (kind, id, role, organisation) which `section` (and item) of the
/// patient, from which device, when.
fn line(
    facts: &PatientFacts,
    (viewer_kind, viewer_id, viewer_role, viewer_organisation): (ViewerKind, Uuid, String, String),
    section: &str,
    item_id: Option<Uuid>,
    device_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> access_log::Model {
    access_log::Model {
        id: Uuid::new_v4(),
        practice_id: facts.patient.practice_id,
        patient_id: facts.patient.id,
        viewer_kind,
        viewer_id,
        viewer_role,
        viewer_organisation,
        section: section.to_owned(),
        item_id,
        device_id,
        accessed_at: now,
    }
}

/// Records that a staff member saw items of several patients at once (the review queue): one
/// line per item, with the staff member's role and the practice as organisation.
pub async fn record_staff_reads(
    db: &impl ConnectionTrait,
    staff_id: Uuid,
    items: &[(Uuid, Section, Uuid)],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use crate::db::entities::practices;
    if items.is_empty() {
        return Ok(());
    }
    let Some(member) = staff::Entity::find_by_id(staff_id).one(db).await? else {
        return Ok(());
    };
    let organisation = practices::Entity::find_by_id(member.practice_id)
        .one(db)
        .await?
        .map(|p| p.name)
        .unwrap_or_default();
    let role = member
        .job_title
        .clone()
        .unwrap_or_else(|| format!("{:?}", member.role).to_lowercase());
    let rows = items
        .iter()
        .map(|(patient_id, section, item_id)| access_log::ActiveModel {
            id: Set(Uuid::new_v4()),
            practice_id: Set(member.practice_id),
            patient_id: Set(*patient_id),
            viewer_kind: Set(ViewerKind::Staff),
            viewer_id: Set(staff_id),
            viewer_role: Set(role.clone()),
            viewer_organisation: Set(organisation.clone()),
            section: Set(section.as_str().to_owned()),
            item_id: Set(Some(*item_id)),
            device_id: Set(None),
            accessed_at: Set(now),
        });
    access_log::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// One line of the access log as the patient sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccessLogLine {
    /// When.
    pub accessed_at: DateTime<Utc>,
    /// `you`, `proxy` or `staff`.
    pub viewer: &'static str,
    /// The viewer's role: a proxy's relationship, a staff member's job title or role.
    pub role: String,
    /// The staff member's organisation (empty for the patient and proxies).
    pub organisation: String,
    /// The section read: a record section's name over REST, or, for a delivery through sync,
    /// the synced document's (`record`, `results`, `documents`).
    pub section: String,
    /// The item, when one document was opened.
    pub item_id: Option<Uuid>,
    /// The name of the patient's own device, when it was theirs.
    pub device_name: Option<String>,
}

/// The newest `limit` lines of a patient's access log.
pub async fn list(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
    limit: u64,
) -> Result<Vec<AccessLogLine>, DbErr> {
    use sea_orm::QuerySelect;
    let rows = access_log::Entity::find()
        .filter(access_log::Column::PatientId.eq(patient_id))
        .order_by_desc(access_log::Column::AccessedAt)
        .order_by_desc(access_log::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        let device_name = match (row.viewer_kind, row.device_id) {
            (ViewerKind::Patient, Some(device_id)) => devices::Entity::find_by_id(device_id)
                .one(db)
                .await?
                .map(|d| d.name),
            _ => None,
        };
        lines.push(AccessLogLine {
            accessed_at: row.accessed_at,
            viewer: match row.viewer_kind {
                ViewerKind::Patient => "you",
                ViewerKind::Proxy => "proxy",
                ViewerKind::Staff => "staff",
            },
            role: row.viewer_role,
            organisation: row.viewer_organisation,
            section: row.section,
            item_id: row.item_id,
            device_name,
        });
    }
    Ok(lines)
}
