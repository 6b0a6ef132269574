//! The access rules as pure functions. Nothing here reads the database or the clock: callers
//! pass the facts and `today`, which keeps every rule testable on its own.
//!
//! The model (docs/domain.md "Record access"):
//! - A patient's access level grants sections: `summary` → allergies, medications,
//!   immunisations; `detailed` → also problems, consultations and results; `documents` → also
//!   letters. `none` grants nothing.
//! - Summary sections show the whole history. Detailed sections and documents show items dated
//!   on or after the *record access date*: the date the practice recorded for this patient
//!   (`record_access_from`, e.g. older history granted by hand), otherwise the practice's
//!   prospective (automatic) access date — but automatic access applies only to patients aged
//!   16 or over whose record carries neither "enhanced review indicated" (1364731000000104,
//!   unless overridden by a later 1364751000000106) nor "declined" (1290331000000103).
//! - Hidden items are invisible to everyone online; items hidden from proxies are invisible
//!   to proxies. Results and documents are visible only once released and not retracted;
//!   retracted coded entries are invisible.
//! - A proxy sees the sections their grant's scopes cover, within the same date rule, while
//!   the grant is active and in date, at the practice that made it.
//! - Practice staff (of the patient's practice) see everything, including items in review.

use crate::db::entities::patients::AccessLevel;
use crate::db::entities::proxy_grants::{self, GrantStatus};
use crate::db::entities::results::ReviewState;
use crate::db::entities::{
    access_codes, courses, documents, message_threads, patients, practices, record_entries, results,
};
use crate::settings::PracticeSettings;
use crate::validate::age_on;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

/// SNOMED CT: enhanced review indicated before granting access to own health record.
pub const ENHANCED_REVIEW_INDICATED: &str = "1364731000000104";
/// SNOMED CT: enhanced review not indicated (overrides the above).
pub const ENHANCED_REVIEW_NOT_INDICATED: &str = "1364751000000106";
/// SNOMED CT: online access to own health record declined by patient.
pub const ACCESS_DECLINED: &str = "1290331000000103";
/// The three record-access codes, the only ones the clinical system may record through us.
pub const ACCESS_CODES: [&str; 3] = [
    ENHANCED_REVIEW_INDICATED,
    ENHANCED_REVIEW_NOT_INDICATED,
    ACCESS_DECLINED,
];

/// A section of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Allergies and adverse reactions (summary).
    Allergies,
    /// Medications (summary).
    Medications,
    /// Immunisations (summary).
    Immunisations,
    /// Problems and diagnoses (detailed).
    Problems,
    /// Consultations (detailed).
    Consultations,
    /// Test results (detailed).
    Results,
    /// Letters and other documents.
    Documents,
}

impl Section {
    /// Every section, in the order apps show them.
    pub const ALL: [Section; 7] = [
        Self::Allergies,
        Self::Medications,
        Self::Immunisations,
        Self::Problems,
        Self::Consultations,
        Self::Results,
        Self::Documents,
    ];

    /// The section's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allergies => "allergies",
            Self::Medications => "medications",
            Self::Immunisations => "immunisations",
            Self::Problems => "problems",
            Self::Consultations => "consultations",
            Self::Results => "results",
            Self::Documents => "documents",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The section a coded entry belongs to.
    pub fn of_entry(section: record_entries::RecordSection) -> Self {
        use record_entries::RecordSection as R;
        match section {
            R::Allergies => Self::Allergies,
            R::Medications => Self::Medications,
            R::Immunisations => Self::Immunisations,
            R::Problems => Self::Problems,
            R::Consultations => Self::Consultations,
        }
    }

    /// Summary sections show the whole history; the others start at the record access date.
    fn is_summary(self) -> bool {
        matches!(
            self,
            Self::Allergies | Self::Medications | Self::Immunisations
        )
    }

    /// The access level a patient needs for this section.
    fn needs(self) -> AccessLevel {
        match self {
            Self::Allergies | Self::Medications | Self::Immunisations => AccessLevel::Summary,
            Self::Problems | Self::Consultations | Self::Results => AccessLevel::Detailed,
            Self::Documents => AccessLevel::Documents,
        }
    }

    /// The proxy scope that covers this section.
    fn scope(self) -> Scope {
        match self {
            Self::Allergies | Self::Medications | Self::Immunisations => Scope::RecordSummary,
            Self::Problems | Self::Consultations | Self::Results => Scope::RecordDetailed,
            Self::Documents => Scope::Documents,
        }
    }
}

/// What a proxy grant covers (DAPB3051).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Book and cancel appointments.
    Appointments,
    /// Order repeat prescriptions.
    Prescriptions,
    /// Message the practice.
    Messages,
    /// Allergies, medications, immunisations.
    RecordSummary,
    /// Problems, consultations, results.
    RecordDetailed,
    /// Letters.
    Documents,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 6] = [
        Self::Appointments,
        Self::Prescriptions,
        Self::Messages,
        Self::RecordSummary,
        Self::RecordDetailed,
        Self::Documents,
    ];

    /// The scope's wire name, as stored in a grant.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appointments => "appointments",
            Self::Prescriptions => "prescriptions",
            Self::Messages => "messages",
            Self::RecordSummary => "record_summary",
            Self::RecordDetailed => "record_detailed",
            Self::Documents => "documents",
        }
    }

    /// The scopes of a grant (unknown names are ignored: they grant nothing).
    pub fn of_grant(grant: &proxy_grants::Model) -> Vec<Scope> {
        grant
            .scopes
            .split(',')
            .filter_map(|name| Self::ALL.into_iter().find(|s| s.as_str() == name.trim()))
            .collect()
    }
}

/// Who is looking.
#[derive(Debug, Clone, PartialEq)]
pub enum Viewer {
    /// The patient, on their own account.
    Patient {
        /// Their account.
        account_id: Uuid,
    },
    /// A proxy acting under a grant.
    Proxy {
        /// The proxy's account.
        account_id: Uuid,
        /// The grant they act under.
        grant: Box<proxy_grants::Model>,
    },
    /// Practice staff.
    Staff {
        /// The staff member.
        staff_id: Uuid,
        /// Their practice.
        practice_id: Uuid,
    },
}

/// The facts about a patient that access depends on.
#[derive(Debug, Clone)]
pub struct PatientFacts {
    /// The patient.
    pub patient: patients::Model,
    /// Their practice.
    pub practice: practices::Model,
    /// The SNOMED access codes on their record.
    pub codes: Vec<access_codes::Model>,
}

impl PatientFacts {
    /// The practice's settings, with the national defaults filled in.
    pub fn settings(&self) -> PracticeSettings {
        PracticeSettings::from_json(&self.practice.settings).unwrap_or_default()
    }
}

/// Whether a proxy grant lets its holder act for the patient today.
pub fn grant_is_valid(grant: &proxy_grants::Model, facts: &PatientFacts, today: NaiveDate) -> bool {
    grant.status == GrantStatus::Active
        && grant.patient_id == facts.patient.id
        && grant.practice_id == facts.patient.practice_id
        && grant.starts_on <= today
        && grant.ends_on.is_none_or(|end| today <= end)
        && grant.suspended_at.is_none()
        && grant.revoked_at.is_none()
}

/// Whether the viewer may see anything of this patient at all.
pub fn may_view_patient(viewer: &Viewer, facts: &PatientFacts, today: NaiveDate) -> bool {
    match viewer {
        Viewer::Patient { .. } => facts.patient.archived_at.is_none(),
        Viewer::Proxy { grant, .. } => {
            facts.patient.archived_at.is_none() && grant_is_valid(grant, facts, today)
        }
        Viewer::Staff { practice_id, .. } => *practice_id == facts.patient.practice_id,
    }
}

/// Whether automatic (prospective) access applies to the patient today.
fn automatic_access(facts: &PatientFacts, today: NaiveDate) -> bool {
    if age_on(facts.patient.date_of_birth, today) < 16 {
        return false;
    }
    let latest = |code: &str| {
        facts
            .codes
            .iter()
            .filter(|c| c.snomed_code == code)
            .map(|c| c.recorded_at)
            .max()
    };
    if latest(ACCESS_DECLINED).is_some() {
        return false;
    }
    let blocked = match (
        latest(ENHANCED_REVIEW_INDICATED),
        latest(ENHANCED_REVIEW_NOT_INDICATED),
    ) {
        (Some(indicated), Some(cleared)) => indicated > cleared,
        (Some(_), None) => true,
        _ => false,
    };
    !blocked
}

/// The date from which detailed sections and documents are visible, or `None` when they are
/// not visible at all.
fn record_access_date(facts: &PatientFacts, today: NaiveDate) -> Option<NaiveDate> {
    match facts.patient.record_access_from {
        Some(granted) => Some(granted),
        None if automatic_access(facts, today) => facts.practice.prospective_access_date,
        None => None,
    }
}

fn level_covers(level: AccessLevel, needed: AccessLevel) -> bool {
    let rank = |level: AccessLevel| match level {
        AccessLevel::None => 0,
        AccessLevel::Summary => 1,
        AccessLevel::Detailed => 2,
        AccessLevel::Documents => 3,
    };
    rank(level) >= rank(needed)
}

fn feature_on(section: Section, settings: &PracticeSettings) -> bool {
    match section {
        Section::Documents => settings.features.record && settings.features.documents,
        _ => settings.features.record,
    }
}

/// What a viewer may see of one section: nothing, or the items dated from a date on (or the
/// whole history), with or without items in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionAccess {
    /// Nothing of this section.
    Denied,
    /// Released, unhidden items dated on or after `from` (`None`: the whole history).
    Released {
        /// First visible date.
        from: Option<NaiveDate>,
        /// Whether the viewer is a proxy (items hidden from proxies are left out).
        proxy: bool,
    },
    /// Everything, including items in review, withheld and hidden (practice staff).
    Everything,
}

/// The rule for one section.
pub fn section_access(
    viewer: &Viewer,
    facts: &PatientFacts,
    section: Section,
    today: NaiveDate,
) -> SectionAccess {
    if !may_view_patient(viewer, facts, today) {
        return SectionAccess::Denied;
    }
    let (allowed, proxy) = match viewer {
        Viewer::Staff { .. } => return SectionAccess::Everything,
        Viewer::Patient { .. } => (
            level_covers(facts.patient.access_level, section.needs()),
            false,
        ),
        Viewer::Proxy { grant, .. } => (Scope::of_grant(grant).contains(&section.scope()), true),
    };
    if !allowed || !feature_on(section, &facts.settings()) {
        return SectionAccess::Denied;
    }
    if section.is_summary() {
        return SectionAccess::Released { from: None, proxy };
    }
    match record_access_date(facts, today) {
        Some(from) => SectionAccess::Released {
            from: Some(from),
            proxy,
        },
        None => SectionAccess::Denied,
    }
}

fn dated_hidden_visible(
    access: SectionAccess,
    date: NaiveDate,
    hidden: bool,
    hidden_from_proxies: bool,
) -> bool {
    match access {
        SectionAccess::Denied => false,
        SectionAccess::Everything => true,
        SectionAccess::Released { from, proxy } => {
            !(hidden || proxy && hidden_from_proxies) && from.is_none_or(|from| date >= from)
        }
    }
}

fn released(access: SectionAccess, state: ReviewState, retracted: Option<DateTime<Utc>>) -> bool {
    access == SectionAccess::Everything || (state == ReviewState::Released && retracted.is_none())
}

/// Whether a coded entry is in the permitted slice.
pub fn entry_visible(access: SectionAccess, entry: &record_entries::Model) -> bool {
    dated_hidden_visible(
        access,
        entry.effective_date,
        entry.hidden,
        entry.hidden_from_proxies,
    ) && (access == SectionAccess::Everything || entry.retracted_at.is_none())
}

/// Whether a result is in the permitted slice.
pub fn result_visible(access: SectionAccess, result: &results::Model) -> bool {
    dated_hidden_visible(
        access,
        result.effective_date,
        result.hidden,
        result.hidden_from_proxies,
    ) && released(access, result.review_state, result.retracted_at)
}

/// Whether a document is in the permitted slice.
pub fn document_visible(access: SectionAccess, document: &documents::Model) -> bool {
    dated_hidden_visible(
        access,
        document.effective_date,
        document.hidden,
        document.hidden_from_proxies,
    ) && released(access, document.review_state, document.retracted_at)
}

/// Whether the viewer may see a repeat or acute course at all: not hidden, not hidden from
/// proxies for a proxy, not ended by `today`. Anything else is treated exactly like a course
/// that does not exist.
pub fn course_visible(viewer: &Viewer, course: &courses::Model, today: NaiveDate) -> bool {
    let ended = course.ended_on.is_some_and(|end| end <= today);
    !(course_hidden(viewer, course) || ended)
}

/// Whether a course is hidden from the viewer (from everyone, or from proxies only). The
/// history of requests for ended courses stays visible; hidden ones never are.
pub fn course_hidden(viewer: &Viewer, course: &courses::Model) -> bool {
    let proxy = matches!(viewer, Viewer::Proxy { .. });
    course.hidden || (proxy && course.hidden_from_proxies)
}

/// Why a viewer may not use a service for the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceRefusal {
    /// The practice does not offer the service online.
    NotOffered,
    /// The viewer's access does not include it (a proxy without the scope).
    NotInScope,
}

/// Whether the viewer may use `service` (the appointments, prescriptions or messages scope)
/// for the patient today: the practice must offer it and the viewer hold the scope.
pub fn service_allowed(
    viewer: &Viewer,
    facts: &PatientFacts,
    service: Scope,
    today: NaiveDate,
) -> Result<(), ServiceRefusal> {
    let features = facts.settings().features;
    let offered = match service {
        Scope::Appointments => features.appointments,
        Scope::Prescriptions => features.prescriptions,
        Scope::Messages => features.messages,
        Scope::RecordSummary | Scope::RecordDetailed | Scope::Documents => true,
    };
    if !offered {
        return Err(ServiceRefusal::NotOffered);
    }
    if !holds_scope(viewer, facts, service, today) {
        return Err(ServiceRefusal::NotInScope);
    }
    Ok(())
}

/// Whether the viewer sees free text written with a booking or an order (the booking reason,
/// the order's note): the patient always; a proxy only what they wrote themselves, because the
/// patient may have written things not meant for the people who hold proxy access.
pub fn sees_written_text(viewer: &Viewer, written_by_account: Option<Uuid>) -> bool {
    match viewer {
        Viewer::Patient { .. } => true,
        Viewer::Proxy { account_id, .. } => written_by_account == Some(*account_id),
        Viewer::Staff { .. } => false,
    }
}

/// Whether a patient or proxy viewer sees a message thread: never one the patient deleted; a
/// proxy never one the patient started themself (they did not share that conversation with the
/// people who hold proxy access). Staff read threads through the practice's queue instead.
pub fn thread_visible(
    viewer: &Viewer,
    thread: &message_threads::Model,
    started_by_patient: bool,
) -> bool {
    if thread.deleted_by_patient_at.is_some() {
        return false;
    }
    match viewer {
        Viewer::Patient { .. } => true,
        Viewer::Proxy { .. } => !started_by_patient,
        Viewer::Staff { .. } => false,
    }
}

/// What a viewer may see and do for a patient: the answer `GET /api/v1/me` gives per profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Capabilities {
    /// Record sections the viewer can read.
    pub record_sections: Vec<Section>,
    /// May book and cancel appointments.
    pub appointments: bool,
    /// May order repeat prescriptions.
    pub prescriptions: bool,
    /// May message the practice.
    pub messages: bool,
    /// May see who has looked at the record (the patient only).
    pub access_log: bool,
}

/// Whether a patient or proxy viewer may act in `scope` for the patient today: the patient
/// always, a proxy when their valid grant includes it (feature switches aside).
pub fn holds_scope(viewer: &Viewer, facts: &PatientFacts, scope: Scope, today: NaiveDate) -> bool {
    let viewable = may_view_patient(viewer, facts, today);
    match viewer {
        Viewer::Patient { .. } => viewable,
        Viewer::Proxy { grant, .. } => viewable && Scope::of_grant(grant).contains(&scope),
        Viewer::Staff { .. } => false,
    }
}

/// The capabilities of a patient or proxy viewer (staff use the staff API instead).
pub fn capabilities(viewer: &Viewer, facts: &PatientFacts, today: NaiveDate) -> Capabilities {
    let settings = facts.settings();
    let record_sections = Section::ALL
        .into_iter()
        .filter(|s| section_access(viewer, facts, *s, today) != SectionAccess::Denied)
        .collect();
    let viewable = may_view_patient(viewer, facts, today);
    let scoped = |scope: Scope| holds_scope(viewer, facts, scope, today);
    Capabilities {
        record_sections,
        appointments: settings.features.appointments && scoped(Scope::Appointments),
        prescriptions: settings.features.prescriptions && scoped(Scope::Prescriptions),
        messages: settings.features.messages && scoped(Scope::Messages),
        access_log: matches!(viewer, Viewer::Patient { .. }) && viewable,
    }
}

/// Whether the viewer sees the patient's identifiers and personal details (NHS number, date of
/// birth, sex, practice) beside their name: the patient themself. A proxy sees the name the
/// app shows them ("Acting for …") and the record their scopes allow, not the identifiers.
pub fn sees_identifiers(viewer: &Viewer) -> bool {
    matches!(viewer, Viewer::Patient { .. } | Viewer::Staff { .. })
}
