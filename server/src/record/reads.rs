//! The record as a patient or proxy reads it: the account's profiles with their capabilities
//! (one builder, shared by `GET /api/v1/me` and the synced profile document), each record
//! section with its own status, results with their trend, and a letter's body. Every read goes
//! through [`crate::access`] and is written to the patient's access log.

use crate::access::slice::{self, SectionItems};
use crate::access::viewer::{self, Holder};
use crate::access::{Capabilities, Section, Viewer, rules};
use crate::db::entities::{blobs, carers, documents, record_entries, results};
use crate::error::AppError;
use crate::record::access_log;
use crate::sync::live_writes::{LiveWrites, Write};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The text every messaging screen must show (docs/domain.md).
pub const NOT_FOR_EMERGENCIES: &str = "Messages are not for emergencies. If you need help \
    urgently call the practice or NHS 111; in an emergency call 999.";

/// A person the account may act for.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    /// The patient's id, used in every patient-scoped path.
    pub patient_id: Uuid,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// `self`, or the proxy relationship ("parent", "carer", …).
    pub relationship: String,
    /// Whether the account acts as a proxy for this person ("Acting for …").
    pub acting_as_proxy: bool,
    /// The practice's ODS code.
    pub ods_code: String,
    /// The practice's name.
    pub practice_name: String,
    /// What the account may see and do for this person.
    pub capabilities: Capabilities,
}

/// The signed-in account and everyone it may act for.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The account.
    pub account_id: Uuid,
    /// The account holder's name.
    pub given_name: String,
    /// The account holder's family name.
    pub family_name: String,
    /// The account holder themself (if a patient) first, then linked profiles.
    pub profiles: Vec<Profile>,
    /// Shown wherever messaging is offered.
    pub messaging_notice: &'static str,
}

/// The profile `viewer` has of the patient of `facts` today.
pub fn profile(viewer: &Viewer, facts: &rules::PatientFacts, today: NaiveDate) -> Profile {
    let relationship = match viewer {
        Viewer::Proxy { grant, .. } => grant.relationship.clone(),
        _ => "self".to_owned(),
    };
    Profile {
        patient_id: facts.patient.id,
        given_name: facts.patient.given_name.clone(),
        family_name: facts.patient.family_name.clone(),
        acting_as_proxy: matches!(viewer, Viewer::Proxy { .. }),
        relationship,
        ods_code: facts.practice.ods_code.clone(),
        practice_name: facts.practice.name.clone(),
        capabilities: rules::capabilities(viewer, facts, today),
    }
}

/// The account `holder` holds and everyone it may act for today: its own profile first (if it
/// is a patient's), then each person whose proxy grant is in force.
pub async fn me(
    db: &impl ConnectionTrait,
    holder: &Holder,
    today: NaiveDate,
) -> Result<Me, AppError> {
    let own = match holder.patient_id {
        Some(patient_id) => slice::facts(db, patient_id).await?,
        None => None,
    };
    let (given_name, family_name) = match &own {
        Some(facts) => (
            facts.patient.given_name.clone(),
            facts.patient.family_name.clone(),
        ),
        None => carer_name(db, holder).await?,
    };
    let mut profiles = Vec::new();
    if let Some(facts) = own {
        let viewer = Viewer::Patient {
            account_id: holder.account_id,
        };
        if rules::may_view_patient(&viewer, &facts, today) {
            profiles.push(profile(&viewer, &facts, today));
        }
    }
    for grant in viewer::grants_held(db, holder).await? {
        let Some(facts) = slice::facts(db, grant.patient_id).await? else {
            continue;
        };
        if !rules::grant_is_valid(&grant, &facts, today) {
            continue;
        }
        let viewer = Viewer::Proxy {
            account_id: holder.account_id,
            grant: Box::new(grant),
        };
        profiles.push(profile(&viewer, &facts, today));
    }
    Ok(Me {
        account_id: holder.account_id,
        given_name,
        family_name,
        profiles,
        messaging_notice: NOT_FOR_EMERGENCIES,
    })
}

/// A carer account holder's name (empty for an account that is neither patient nor carer).
async fn carer_name(
    db: &impl ConnectionTrait,
    holder: &Holder,
) -> Result<(String, String), AppError> {
    if let Some(id) = holder.carer_id
        && let Some(c) = carers::Entity::find_by_id(id).one(db).await?
    {
        return Ok((c.given_name, c.family_name));
    }
    Ok((String::new(), String::new()))
}

/// A coded entry as the patient sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entry {
    /// Id.
    pub id: Uuid,
    /// SNOMED CT concept id.
    pub snomed_code: String,
    /// The term.
    pub term: String,
    /// When it happened or was recorded.
    pub effective_date: NaiveDate,
    /// When it ended (problems, medications).
    pub end_date: Option<NaiveDate>,
    /// Free text (consultation notes).
    pub detail: Option<String>,
    /// Who recorded it.
    pub author: Option<String>,
}

impl From<record_entries::Model> for Entry {
    fn from(e: record_entries::Model) -> Self {
        Self {
            id: e.id,
            snomed_code: e.snomed_code,
            term: e.term,
            effective_date: e.effective_date,
            end_date: e.end_date,
            detail: e.detail,
            author: e.author,
        }
    }
}

/// An earlier value of the same test.
#[derive(Debug, Serialize, ToSchema)]
pub struct EarlierValue {
    /// Id of that result.
    pub id: Uuid,
    /// The value as reported.
    pub value: String,
    /// The value as a number, when it is one.
    pub numeric_value: Option<f64>,
    /// When the sample was taken.
    pub effective_date: NaiveDate,
}

/// A released test result.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultItem {
    /// Id.
    pub id: Uuid,
    /// The test's code.
    pub test_code: String,
    /// The test's name.
    pub test_name: String,
    /// The value as reported.
    pub value: String,
    /// The value as a number, when it is one.
    pub numeric_value: Option<f64>,
    /// Unit.
    pub unit: Option<String>,
    /// Lower end of the reference range.
    pub range_low: Option<f64>,
    /// Upper end of the reference range.
    pub range_high: Option<f64>,
    /// The reference range as reported.
    pub range_text: Option<String>,
    /// `normal`, `low`, `high`, `abnormal` or `unknown`.
    #[schema(value_type = String)]
    pub abnormal_flag: results::AbnormalFlag,
    /// Who requested the test.
    pub requester: Option<String>,
    /// When the sample was taken.
    pub effective_date: NaiveDate,
    /// When a clinician filed it.
    pub filed_at: Option<DateTime<Utc>>,
    /// The clinician's comment, e.g. "Normal – no action".
    pub clinician_comment: Option<String>,
    /// Earlier values of the same test, newest first (the trend).
    pub earlier: Vec<EarlierValue>,
}

/// A released letter's details; the body is at `content_path`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentItem {
    /// Id.
    pub id: Uuid,
    /// `discharge_summary`, `outpatient_letter`, `referral_letter` or `other_letter`.
    #[schema(value_type = String)]
    pub document_type: documents::DocumentType,
    /// Title.
    pub title: String,
    /// The organisation that wrote it.
    pub author_organisation: Option<String>,
    /// Its date.
    pub effective_date: NaiveDate,
    /// Media type of the body.
    pub content_type: String,
    /// Size of the body in bytes.
    pub size_bytes: i64,
    /// When a clinician filed it.
    pub filed_at: Option<DateTime<Utc>>,
    /// The clinician's comment.
    pub clinician_comment: Option<String>,
    /// Where to download the body.
    pub content_path: String,
}

impl From<documents::Model> for DocumentItem {
    fn from(d: documents::Model) -> Self {
        Self {
            content_path: format!(
                "/api/v1/patients/{}/documents/{}/content",
                d.patient_id, d.id
            ),
            id: d.id,
            document_type: d.document_type,
            title: d.title,
            author_organisation: d.author_organisation,
            effective_date: d.effective_date,
            content_type: d.content_type,
            size_bytes: d.size_bytes,
            filed_at: d.released_at,
            clinician_comment: d.clinician_comment,
        }
    }
}

/// One section of the record with its own status.
#[derive(Debug, Serialize, ToSchema)]
pub struct SectionView {
    /// The section.
    pub section: Section,
    /// `ok`; `unavailable` when the viewer has no access to it; `error` when it failed to load.
    pub status: &'static str,
    /// Coded entries (coded sections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<Entry>>,
    /// Results (the results section).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<ResultItem>>,
    /// Documents (the documents section).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documents: Option<Vec<DocumentItem>>,
}

impl SectionView {
    fn status(section: Section, status: &'static str) -> Self {
        Self {
            section,
            status,
            entries: None,
            results: None,
            documents: None,
        }
    }
}

/// The whole record.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordView {
    /// Every section, each with its own status.
    pub sections: Vec<SectionView>,
}

/// One section as `viewer` may see it at `now`, its read written to the access log (with the
/// reading device, when there is one); `unavailable` when the viewer may see none of it.
pub async fn section(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &rules::PatientFacts,
    section: Section,
    device_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<SectionView, AppError> {
    let Some(view) = permitted_view(db, viewer, facts, section, now).await? else {
        return Ok(SectionView::status(section, "unavailable"));
    };
    access_log::record_read(db, viewer, facts, section, None, device_id, now).await?;
    Ok(view)
}

/// What `viewer` may see of one section at `now`, not yet recorded; `None` when nothing.
async fn permitted_view(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &rules::PatientFacts,
    section: Section,
    now: DateTime<Utc>,
) -> Result<Option<SectionView>, AppError> {
    let Some(items) = slice::section(db, viewer, facts, section, now.date_naive()).await? else {
        return Ok(None);
    };
    let mut view = SectionView::status(section, "ok");
    match items {
        SectionItems::Entries(entries) => {
            view.entries = Some(entries.into_iter().map(Entry::from).collect());
        }
        SectionItems::Results(results) => view.results = Some(with_trends(&results)),
        SectionItems::Documents(documents) => {
            view.documents = Some(documents.into_iter().map(DocumentItem::from).collect());
        }
    }
    Ok(Some(view))
}

/// Every section, each with its own status: one that fails to load is `error`, logged by its
/// code only, and the others are still returned. The sections' access-log lines are written
/// together through `writes` (one commit shared with other requests) before anything is
/// returned; if they cannot be written, every section read is `error` instead.
pub async fn whole_record(
    db: &impl ConnectionTrait,
    writes: &LiveWrites,
    viewer: &Viewer,
    facts: &rules::PatientFacts,
    device_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> RecordView {
    let mut sections = Vec::with_capacity(Section::ALL.len());
    let mut lines = Vec::new();
    for each in Section::ALL {
        let view = match permitted_view(db, viewer, facts, each, now).await {
            Ok(None) => SectionView::status(each, "unavailable"),
            Ok(Some(view)) => {
                let line =
                    access_log::new_line(db, viewer, facts, each.as_str(), None, device_id, now);
                match line.await {
                    Ok(line) => {
                        lines.push(Write::AccessLog(line));
                        view
                    }
                    Err(error) => failed(each, &error.into()),
                }
            }
            Err(error) => failed(each, &error),
        };
        sections.push(view);
    }
    if let Err(error) = writes.write(lines).await {
        for view in sections.iter_mut().filter(|view| view.status == "ok") {
            *view = failed(view.section, &error);
        }
    }
    RecordView { sections }
}

/// A section that failed, logged by its code only.
fn failed(section: Section, error: &AppError) -> SectionView {
    tracing::error!(
        section = section.as_str(),
        code = error.code().as_str(),
        "record section failed"
    );
    SectionView::status(section, "error")
}

/// A released letter's body the viewer may see: its media type and bytes, the read written to
/// the access log; `None` for a letter that is not theirs to see (or not there at all).
pub async fn document_body(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &rules::PatientFacts,
    document_id: Uuid,
    device_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Option<(String, Vec<u8>)>, AppError> {
    let Some(document) = slice::document(db, viewer, facts, document_id, now.date_naive()).await?
    else {
        return Ok(None);
    };
    let Some(blob) = blobs::Entity::find_by_id(document.blob_sha256.clone())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    access_log::record_read(
        db,
        viewer,
        facts,
        Section::Documents,
        Some(document.id),
        device_id,
        now,
    )
    .await?;
    Ok(Some((document.content_type, blob.content)))
}

/// Each permitted result with the earlier permitted values of the same test.
fn with_trends(results: &[results::Model]) -> Vec<ResultItem> {
    results
        .iter()
        .map(|r| ResultItem {
            earlier: results
                .iter()
                .filter(|e| e.test_code == r.test_code && e.effective_date < r.effective_date)
                .map(|e| EarlierValue {
                    id: e.id,
                    value: e.value.clone(),
                    numeric_value: e.numeric_value,
                    effective_date: e.effective_date,
                })
                .collect(),
            id: r.id,
            test_code: r.test_code.clone(),
            test_name: r.test_name.clone(),
            value: r.value.clone(),
            numeric_value: r.numeric_value,
            unit: r.unit.clone(),
            range_low: r.range_low,
            range_high: r.range_high,
            range_text: r.range_text.clone(),
            abnormal_flag: r.abnormal_flag,
            requester: r.requester.clone(),
            effective_date: r.effective_date,
            filed_at: r.released_at,
            clinician_comment: r.clinician_comment.clone(),
        })
        .collect()
}
