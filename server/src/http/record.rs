//! Patient-facing record routes: the signed-in account's profiles with their capabilities,
//! record sections (each with its own status, so one failing section does not fail the rest),
//! results with their trend, document downloads and the access log. Every route resolves the
//! viewer and filters through [`crate::access`]; an unknown patient and a patient the account
//! may not act for get the same 404.

use super::AppState;
use super::auth::AccountSession;
use crate::access::slice::{self, SectionItems};
use crate::access::{Capabilities, Section, Viewer, rules, viewer};
use crate::db::entities::{accounts, blobs, carers, documents, patients, record_entries, results};
use crate::error::{AppError, ErrorCode};
use crate::record::access_log::{self, AccessLogLine};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::EntityTrait;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(whole_record))
        .routes(routes!(record_section))
        .routes(routes!(document_content))
        .routes(routes!(access_log_list))
}

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

/// The account and its profiles (self and linked), each with its capabilities.
#[utoipa::path(get, path = "/api/v1/me", tag = "record",
    responses((status = 200, body = Me), (status = 401, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn me(State(state): State<AppState>, session: AccountSession) -> Result<Json<Me>, AppError> {
    let today = state.clock.now().date_naive();
    let account = accounts::Entity::find_by_id(session.account_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::SessionEnded))?;
    let (given_name, family_name) = holder_name(&state, &account).await?;
    let mut profiles = Vec::new();
    if let Some(patient_id) = account.patient_id
        && let Some(facts) = slice::facts(&state.db, patient_id).await?
    {
        let viewer = Viewer::Patient {
            account_id: account.id,
        };
        if rules::may_view_patient(&viewer, &facts, today) {
            profiles.push(profile(&viewer, &facts, "self".to_owned(), today));
        }
    }
    for grant in viewer::grants_held(&state.db, &account).await? {
        let Some(facts) = slice::facts(&state.db, grant.patient_id).await? else {
            continue;
        };
        if !rules::grant_is_valid(&grant, &facts, today) {
            continue;
        }
        let relationship = grant.relationship.clone();
        let viewer = Viewer::Proxy {
            account_id: account.id,
            grant: Box::new(grant),
        };
        profiles.push(profile(&viewer, &facts, relationship, today));
    }
    Ok(Json(Me {
        account_id: account.id,
        given_name,
        family_name,
        profiles,
        messaging_notice: NOT_FOR_EMERGENCIES,
    }))
}

async fn holder_name(
    state: &AppState,
    account: &accounts::Model,
) -> Result<(String, String), AppError> {
    if let Some(id) = account.patient_id
        && let Some(p) = patients::Entity::find_by_id(id).one(&state.db).await?
    {
        return Ok((p.given_name, p.family_name));
    }
    if let Some(id) = account.carer_id
        && let Some(c) = carers::Entity::find_by_id(id).one(&state.db).await?
    {
        return Ok((c.given_name, c.family_name));
    }
    Ok((String::new(), String::new()))
}

fn profile(
    viewer: &Viewer,
    facts: &rules::PatientFacts,
    relationship: String,
    today: NaiveDate,
) -> Profile {
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

/// Resolves the account acting for `patient_id`, or 404 whether the patient is absent or the
/// account may not act for them.
async fn resolve(
    state: &AppState,
    session: &AccountSession,
    patient_id: Uuid,
) -> Result<(Viewer, rules::PatientFacts), AppError> {
    super::auth::acting_for(state, session, patient_id).await
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

async fn view_section(
    state: &AppState,
    session: &AccountSession,
    viewer: &Viewer,
    facts: &rules::PatientFacts,
    section: Section,
) -> Result<SectionView, AppError> {
    let now = state.clock.now();
    let Some(items) = slice::section(&state.db, viewer, facts, section, now.date_naive()).await?
    else {
        return Ok(SectionView::status(section, "unavailable"));
    };
    access_log::record_read(
        &state.db,
        viewer,
        facts,
        section,
        None,
        Some(session.device_id),
        now,
    )
    .await?;
    let mut view = SectionView::status(section, "ok");
    match items {
        SectionItems::Entries(entries) => {
            view.entries = Some(entries.into_iter().map(Entry::from).collect());
        }
        SectionItems::Results(results) => view.results = Some(with_trends(&results)),
        SectionItems::Documents(documents) => {
            view.documents = Some(
                documents
                    .into_iter()
                    .map(|d| DocumentItem {
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
                    })
                    .collect(),
            );
        }
    }
    Ok(view)
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

/// Every record section the app shows, each with its own status.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/record", tag = "record",
    params(("patient_id" = Uuid, Path)),
    responses((status = 200, body = RecordView), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn whole_record(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
) -> Result<Json<RecordView>, AppError> {
    let (viewer, facts) = resolve(&state, &session, patient_id).await?;
    let mut sections = Vec::with_capacity(Section::ALL.len());
    for section in Section::ALL {
        let view = match view_section(&state, &session, &viewer, &facts, section).await {
            Ok(view) => view,
            Err(error) => {
                tracing::error!(
                    section = section.as_str(),
                    code = error.code().as_str(),
                    "record section failed"
                );
                SectionView::status(section, "error")
            }
        };
        sections.push(view);
    }
    Ok(Json(RecordView { sections }))
}

/// One record section.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/record/{section}", tag = "record",
    params(("patient_id" = Uuid, Path), ("section" = String, Path,
        description = "allergies, medications, immunisations, problems, consultations, results or documents")),
    responses((status = 200, body = SectionView), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn record_section(
    State(state): State<AppState>,
    session: AccountSession,
    Path((patient_id, section)): Path<(Uuid, String)>,
) -> Result<Json<SectionView>, AppError> {
    let section = Section::parse(&section).ok_or_else(AppError::not_found)?;
    let (viewer, facts) = resolve(&state, &session, patient_id).await?;
    Ok(Json(
        view_section(&state, &session, &viewer, &facts, section).await?,
    ))
}

/// A released document's body, with its content type.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/documents/{document_id}/content", tag = "record",
    params(("patient_id" = Uuid, Path), ("document_id" = Uuid, Path)),
    responses((status = 200, description = "The document", content_type = "application/octet-stream"),
              (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn document_content(
    State(state): State<AppState>,
    session: AccountSession,
    Path((patient_id, document_id)): Path<(Uuid, Uuid)>,
) -> Result<impl IntoResponse, AppError> {
    let (viewer, facts) = resolve(&state, &session, patient_id).await?;
    let now = state.clock.now();
    let document = slice::document(&state.db, &viewer, &facts, document_id, now.date_naive())
        .await?
        .ok_or_else(AppError::not_found)?;
    let blob = blobs::Entity::find_by_id(document.blob_sha256.clone())
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    access_log::record_read(
        &state.db,
        &viewer,
        &facts,
        Section::Documents,
        Some(document.id),
        Some(session.device_id),
        now,
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, document.content_type),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
            (header::CONTENT_DISPOSITION, "attachment".to_owned()),
        ],
        blob.content,
    ))
}

/// Who has read the patient's record: shown to the patient only, never to proxies.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/access-log", tag = "record",
    params(("patient_id" = Uuid, Path)),
    responses((status = 200, body = [AccessLogLine]), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn access_log_list(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
) -> Result<Json<Vec<AccessLogLine>>, AppError> {
    let (viewer, _) = resolve(&state, &session, patient_id).await?;
    if !matches!(viewer, Viewer::Patient { .. }) {
        return Err(AppError::not_found());
    }
    Ok(Json(access_log::list(&state.db, patient_id, 500).await?))
}
