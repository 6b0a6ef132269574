//! The access rules as pure functions. Nothing here reads the database or the clock: callers
//! pass the facts and `today`, which keeps every rule testable on its own.
//!
//! The model (`docs/adr/0002-record-access-model.md`; docs/domain.md "Record access"):
//! - **Prospective access**: a patient sees everything *entered or filed* (`entered_on`) on or
//!   after the later of the practice's switch-on date, their 16th birthday and the day their
//!   account was created — every section, letters included — unless an access code in force
//!   blocks it: "declined" (1290331000000103), or "enhanced review indicated"
//!   (1364731000000104) not overridden by a later "not indicated" (1364751000000106). A code
//!   applies from the day it was recorded until its `ended_on`.
//! - **Historic access**: what the practice granted by import, by a staff action or on the
//!   patient's request, as a level and a from-date (`access_level`, `record_access_from`). A
//!   level covering the summary shows the summary sections' whole history; detailed sections
//!   and documents show items entered on or after the from-date. Codes do not touch it.
//! - **Proxy access** is the grant's scopes with the grant's own from-date
//!   (`record_access_from`, else the day the grant starts), never the patient's entitlements.
//!   Age rules hold at request time: at the practice's review age a parental grant's record
//!   scopes stop until the practice reviews it; at 16 the whole grant stops unless the young
//!   person consented.
//! - Hidden items are invisible to everyone online; items hidden from proxies are invisible
//!   to proxies. Results and documents are visible only once released and not retracted;
//!   retracted coded entries are invisible. An archived patient is visible to nobody online.
//! - Practice staff (of the patient's practice) see everything, including items in review.

use crate::db::entities::patients::AccessLevel;
use crate::db::entities::proxy_grants::{self, GrantStatus, LegalBasis};
use crate::db::entities::results::ReviewState;
use crate::db::entities::{
    access_codes, courses, documents, message_threads, patients, practices, record_entries, results,
};
use crate::settings::PracticeSettings;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
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

    /// Whether the scope is one of the record's (summary, detailed, documents).
    pub fn is_record(self) -> bool {
        matches!(
            self,
            Self::RecordSummary | Self::RecordDetailed | Self::Documents
        )
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
    /// The day the patient's own online account was created (the earliest, if several), or
    /// `None` without one.
    pub account_created_on: Option<NaiveDate>,
}

impl PatientFacts {
    /// The practice's settings, with the national defaults filled in.
    pub fn settings(&self) -> PracticeSettings {
        PracticeSettings::from_json(&self.practice.settings).unwrap_or_default()
    }
}

/// The day a person born on `date_of_birth` turns `years` (29 February birthdays fall on
/// 1 March, as in [`crate::validate::age_on`]).
pub fn birthday(date_of_birth: NaiveDate, years: u32) -> NaiveDate {
    let year = date_of_birth.year() + i32::try_from(years).unwrap_or(0);
    NaiveDate::from_ymd_opt(year, date_of_birth.month(), date_of_birth.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))
        .unwrap_or(NaiveDate::MAX)
}

/// What the age rules of DAPB3051 hold back from a proxy grant today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgeHold {
    /// Nothing.
    None,
    /// The record scopes, until the practice reviews the grant (parental responsibility, from
    /// the child's birthday at the practice's review age).
    RecordReview,
    /// The whole grant (from the 16th birthday, unless the young person consented).
    Sixteen,
}

/// The age rule that applies to a grant today. A rule whose birthday came before the decision
/// was decided with the age in view and does not apply (a review is a new decision).
pub fn age_hold(grant: &proxy_grants::Model, facts: &PatientFacts, today: NaiveDate) -> AgeHold {
    let rules = age_rules(grant, facts);
    if rules.sixteen.is_some_and(|on| today >= on) {
        return AgeHold::Sixteen;
    }
    if rules.review.is_some_and(|on| today >= on) {
        return AgeHold::RecordReview;
    }
    AgeHold::None
}

/// The days on which the age rules start to apply to a grant, when they apply to it at all.
struct AgeRules {
    /// The 16th birthday, for a grant decided before it without the young person's consent.
    sixteen: Option<NaiveDate>,
    /// The birthday at the practice's review age, for a parental grant with record scopes
    /// decided before it (and only when it comes before 16).
    review: Option<NaiveDate>,
}

fn age_rules(grant: &proxy_grants::Model, facts: &PatientFacts) -> AgeRules {
    let decided = grant.decided_at.date_naive();
    let dob = facts.patient.date_of_birth;
    let sixteen = birthday(dob, 16);
    let review = birthday(dob, facts.settings().parental_record_access_review_age);
    let record_scopes = Scope::of_grant(grant).iter().any(|s| s.is_record());
    AgeRules {
        sixteen: (grant.young_person_consent_at.is_none() && decided < sixteen).then_some(sixteen),
        review: (grant.legal_basis == LegalBasis::ParentalResponsibility
            && record_scopes
            && decided < review
            && review < sixteen)
            .then_some(review),
    }
}

/// The scopes a grant gives today: its own, less what the age rules hold back (and, for a
/// grant the sweep recorded as suspended for the review, its record scopes until reviewed).
pub fn grant_scopes(
    grant: &proxy_grants::Model,
    facts: &PatientFacts,
    today: NaiveDate,
) -> Vec<Scope> {
    let scopes = Scope::of_grant(grant);
    let in_review = grant.status == GrantStatus::Suspended
        && grant.suspended_reason.as_deref() == Some(AGE_REVIEW);
    match age_hold(grant, facts, today) {
        AgeHold::Sixteen => Vec::new(),
        AgeHold::RecordReview => scopes.into_iter().filter(|s| !s.is_record()).collect(),
        AgeHold::None if in_review => scopes.into_iter().filter(|s| !s.is_record()).collect(),
        AgeHold::None => scopes,
    }
}

/// Whether a proxy grant lets its holder act for the patient today: in force (active, or
/// suspended for the age review only, which stops its record scopes alone), in date, at the
/// practice that made it, for a patient not archived, with a scope left after the age rules.
pub fn grant_is_valid(grant: &proxy_grants::Model, facts: &PatientFacts, today: NaiveDate) -> bool {
    let in_force = match grant.status {
        GrantStatus::Active => grant.suspended_at.is_none(),
        GrantStatus::Suspended => grant.suspended_reason.as_deref() == Some(AGE_REVIEW),
        _ => false,
    };
    in_force
        && grant.patient_id == facts.patient.id
        && grant.practice_id == facts.patient.practice_id
        && facts.patient.archived_at.is_none()
        && grant.starts_on <= today
        && grant.ends_on.is_none_or(|end| today <= end)
        && grant.revoked_at.is_none()
        && !grant_scopes(grant, facts, today).is_empty()
}

/// The `suspended_reason` of a grant suspended for the age review (record scopes only).
pub const AGE_REVIEW: &str = "age_review";

/// Whether the viewer may see anything of this patient at all.
pub fn may_view_patient(viewer: &Viewer, facts: &PatientFacts, today: NaiveDate) -> bool {
    match viewer {
        Viewer::Patient { .. } => facts.patient.archived_at.is_none(),
        Viewer::Proxy { grant, .. } => grant_is_valid(grant, facts, today),
        Viewer::Staff { practice_id, .. } => *practice_id == facts.patient.practice_id,
    }
}

/// Whether the access codes in force today block automatic (prospective) access. A code is in
/// force from the day it was recorded until the day before its `ended_on`.
pub fn automatic_access_blocked(codes: &[access_codes::Model], today: NaiveDate) -> bool {
    let in_force = |c: &&access_codes::Model| {
        c.recorded_at.date_naive() <= today && c.ended_on.is_none_or(|end| today < end)
    };
    let latest = |code: &str| {
        codes
            .iter()
            .filter(in_force)
            .filter(|c| c.snomed_code == code)
            .map(|c| c.recorded_at)
            .max()
    };
    if latest(ACCESS_DECLINED).is_some() {
        return true;
    }
    match (
        latest(ENHANCED_REVIEW_INDICATED),
        latest(ENHANCED_REVIEW_NOT_INDICATED),
    ) {
        (Some(indicated), Some(cleared)) => indicated > cleared,
        (Some(_), None) => true,
        _ => false,
    }
}

/// The first entered date of prospective (automatic) access, when it applies today: the later
/// of the practice's switch-on date, the 16th birthday and the day the account was created,
/// once that day has come, unless a code in force blocks it.
pub fn prospective_from(facts: &PatientFacts, today: NaiveDate) -> Option<NaiveDate> {
    let switch_on = facts.practice.prospective_access_date?;
    let account = facts.account_created_on?;
    let from = switch_on
        .max(account)
        .max(birthday(facts.patient.date_of_birth, 16));
    (from <= today && !automatic_access_blocked(&facts.codes, today)).then_some(from)
}

/// The first day after `today` on which any of these rules may answer differently for this
/// patient with nothing written: the day prospective access begins (the later of the switch-on
/// date, the 16th birthday and the account's creation), the day an access code comes into
/// force or ends, for each of the patient's proxy `grants` the day it starts, the day after its
/// last day and the birthdays of the age rules that apply to it, and for each of the patient's
/// `courses` the day it ends (`course_visible`). `None` when nothing is dated ahead. A day given
/// may change nothing in the end (a grant that was revoked anyway): callers project again and
/// find nothing to do; a day that changes something is never missed.
pub fn next_boundary(
    facts: &PatientFacts,
    grants: &[proxy_grants::Model],
    courses: &[courses::Model],
    today: NaiveDate,
) -> Option<NaiveDate> {
    let mut days: Vec<NaiveDate> = Vec::new();
    if let (Some(switch_on), Some(account)) = (
        facts.practice.prospective_access_date,
        facts.account_created_on,
    ) {
        days.push(
            switch_on
                .max(account)
                .max(birthday(facts.patient.date_of_birth, 16)),
        );
    }
    for code in &facts.codes {
        days.push(code.recorded_at.date_naive());
        days.extend(code.ended_on);
    }
    for grant in grants.iter().filter(|g| g.patient_id == facts.patient.id) {
        days.push(grant.starts_on);
        days.extend(grant.ends_on.and_then(|end| end.succ_opt()));
        let rules = age_rules(grant, facts);
        days.extend(rules.sixteen);
        days.extend(rules.review);
    }
    days.extend(courses.iter().filter_map(|course| course.ended_on));
    days.into_iter().filter(|day| *day > today).min()
}

/// The window of historic access to one section: `Some(None)` the whole history, `Some(from)`
/// items entered from that day, `None` nothing.
fn historic_window(facts: &PatientFacts, section: Section) -> Option<Option<NaiveDate>> {
    if !level_covers(facts.patient.access_level, section.needs()) {
        return None;
    }
    if section.is_summary() {
        return Some(None);
    }
    facts.patient.record_access_from.map(Some)
}

/// The window of a proxy grant's record scope: summary sections' whole history; detailed
/// sections and documents from the grant's own date.
fn grant_window(grant: &proxy_grants::Model, section: Section) -> Option<NaiveDate> {
    if section.is_summary() {
        return None;
    }
    Some(grant.record_access_from.unwrap_or(grant.starts_on))
}

/// The wider of two windows (`None` is the whole history).
fn wider(a: Option<Option<NaiveDate>>, b: Option<Option<NaiveDate>>) -> Option<Option<NaiveDate>> {
    match (a, b) {
        (Some(None), _) | (_, Some(None)) => Some(None),
        (Some(Some(x)), Some(Some(y))) => Some(Some(x.min(y))),
        (x, None) => x,
        (None, y) => y,
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

/// What a viewer may see of one section: nothing, or the items entered from a date on (or the
/// whole history), with or without items in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionAccess {
    /// Nothing of this section.
    Denied,
    /// Released, unhidden items entered on or after `from` (`None`: the whole history).
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
    if matches!(viewer, Viewer::Staff { .. }) {
        return SectionAccess::Everything;
    }
    if !feature_on(section, &facts.settings()) {
        return SectionAccess::Denied;
    }
    let (window, proxy) = match viewer {
        Viewer::Staff { .. } => return SectionAccess::Everything,
        Viewer::Patient { .. } => (
            wider(
                historic_window(facts, section),
                prospective_from(facts, today).map(Some),
            ),
            false,
        ),
        Viewer::Proxy { grant, .. } => (
            grant_scopes(grant, facts, today)
                .contains(&section.scope())
                .then(|| grant_window(grant, section)),
            true,
        ),
    };
    match window {
        Some(from) => SectionAccess::Released { from, proxy },
        None => SectionAccess::Denied,
    }
}

fn dated_hidden_visible(
    access: SectionAccess,
    entered: NaiveDate,
    hidden: bool,
    hidden_from_proxies: bool,
) -> bool {
    match access {
        SectionAccess::Denied => false,
        SectionAccess::Everything => true,
        SectionAccess::Released { from, proxy } => {
            !(hidden || proxy && hidden_from_proxies) && from.is_none_or(|from| entered >= from)
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
        entry.entered_on,
        entry.hidden,
        entry.hidden_from_proxies,
    ) && (access == SectionAccess::Everything || entry.retracted_at.is_none())
}

/// Whether a result is in the permitted slice.
pub fn result_visible(access: SectionAccess, result: &results::Model) -> bool {
    dated_hidden_visible(
        access,
        result.entered_on,
        result.hidden,
        result.hidden_from_proxies,
    ) && released(access, result.review_state, result.retracted_at)
}

/// Whether a document is in the permitted slice.
pub fn document_visible(access: SectionAccess, document: &documents::Model) -> bool {
    dated_hidden_visible(
        access,
        document.entered_on,
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
    /// For each of those sections, from when: items entered or filed on or after `from`
    /// (absent: the whole history), so an app can explain an empty section. It says nothing
    /// of what is hidden, in review or withheld.
    pub record_access: Vec<SectionWindow>,
    /// May book and cancel appointments.
    pub appointments: bool,
    /// May order repeat prescriptions.
    pub prescriptions: bool,
    /// May message the practice.
    pub messages: bool,
    /// May see who has looked at the record (the patient only).
    pub access_log: bool,
}

/// A section a viewer can read and the first entered date they see of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SectionWindow {
    /// The section.
    pub section: Section,
    /// First entered or filed date shown; absent for the whole history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
}

/// Whether a patient or proxy viewer may act in `scope` for the patient today: the patient
/// always, a proxy when their valid grant includes it (feature switches aside).
pub fn holds_scope(viewer: &Viewer, facts: &PatientFacts, scope: Scope, today: NaiveDate) -> bool {
    let viewable = may_view_patient(viewer, facts, today);
    match viewer {
        Viewer::Patient { .. } => viewable,
        Viewer::Proxy { grant, .. } => {
            viewable && grant_scopes(grant, facts, today).contains(&scope)
        }
        Viewer::Staff { .. } => false,
    }
}

/// The capabilities of a patient or proxy viewer (staff use the staff API instead).
pub fn capabilities(viewer: &Viewer, facts: &PatientFacts, today: NaiveDate) -> Capabilities {
    let settings = facts.settings();
    let record_access: Vec<SectionWindow> = Section::ALL
        .into_iter()
        .filter_map(
            |section| match section_access(viewer, facts, section, today) {
                SectionAccess::Released { from, .. } => Some(SectionWindow { section, from }),
                SectionAccess::Everything => Some(SectionWindow {
                    section,
                    from: None,
                }),
                SectionAccess::Denied => None,
            },
        )
        .collect();
    let record_sections = record_access.iter().map(|w| w.section).collect();
    let viewable = may_view_patient(viewer, facts, today);
    let scoped = |scope: Scope| holds_scope(viewer, facts, scope, today);
    Capabilities {
        record_sections,
        record_access,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::entities::patients::Sex;
    use crate::db::entities::proxy_grants::{GrantStatus, LegalBasis};
    use chrono::TimeZone;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
    }

    fn at(date: NaiveDate) -> DateTime<Utc> {
        Utc.from_utc_datetime(&date.and_hms_opt(10, 0, 0).unwrap_or_default())
    }

    const TODAY: (i32, u32, u32) = (2026, 12, 6);

    fn today() -> NaiveDate {
        day(TODAY.0, TODAY.1, TODAY.2)
    }

    /// An adult at a practice switched on 2023-10-31, with an account since 2024-01-10,
    /// historic level `none`.
    fn facts() -> PatientFacts {
        let now = at(today());
        PatientFacts {
            patient: patients::Model {
                id: Uuid::from_u128(1),
                practice_id: Uuid::from_u128(2),
                external_id: None,
                nhs_number: "9434765919".to_owned(),
                given_name: "Ada".to_owned(),
                family_name: "Lovelace".to_owned(),
                date_of_birth: day(1980, 5, 17),
                sex: Sex::Female,
                access_level: AccessLevel::None,
                record_access_from: None,
                competent: false,
                nominated_pharmacy_ods: None,
                archived_at: None,
                created_at: now,
                updated_at: now,
            },
            practice: practices::Model {
                id: Uuid::from_u128(2),
                ods_code: "A81001".to_owned(),
                name: "Test Surgery".to_owned(),
                live: true,
                prospective_access_date: Some(day(2023, 10, 31)),
                settings: PracticeSettings::default().to_json(),
                created_at: now,
                updated_at: now,
            },
            codes: Vec::new(),
            account_created_on: Some(day(2024, 1, 10)),
        }
    }

    fn code(snomed: &str, recorded: NaiveDate, ended_on: Option<NaiveDate>) -> access_codes::Model {
        access_codes::Model {
            id: Uuid::new_v4(),
            practice_id: Uuid::from_u128(2),
            patient_id: Uuid::from_u128(1),
            external_id: None,
            snomed_code: snomed.to_owned(),
            recorded_at: at(recorded),
            recorded_by_staff_id: None,
            ended_on,
        }
    }

    fn grant(scopes: &str, basis: LegalBasis, decided: NaiveDate) -> proxy_grants::Model {
        proxy_grants::Model {
            id: Uuid::from_u128(9),
            practice_id: Uuid::from_u128(2),
            patient_id: Uuid::from_u128(1),
            proxy_patient_id: Some(Uuid::from_u128(3)),
            proxy_carer_id: None,
            relationship: "parent".to_owned(),
            status: GrantStatus::Active,
            scopes: scopes.to_owned(),
            legal_basis: basis,
            decided_by_staff_id: None,
            decided_at: at(decided),
            starts_on: decided,
            ends_on: None,
            no_end_date_exception: true,
            young_person_consent_at: None,
            suspended_at: None,
            suspended_reason: None,
            revoked_at: None,
            revoked_by: None,
            refusal_reason: None,
            last_used_at: None,
            record_access_from: None,
            created_at: at(decided),
            updated_at: at(decided),
        }
    }

    fn patient() -> Viewer {
        Viewer::Patient {
            account_id: Uuid::from_u128(7),
        }
    }

    fn proxy(grant: proxy_grants::Model) -> Viewer {
        Viewer::Proxy {
            account_id: Uuid::from_u128(8),
            grant: Box::new(grant),
        }
    }

    fn from(access: SectionAccess) -> Option<Option<NaiveDate>> {
        match access {
            SectionAccess::Released { from, .. } => Some(from),
            SectionAccess::Everything => Some(None),
            SectionAccess::Denied => None,
        }
    }

    #[test]
    fn prospective_access_starts_at_the_latest_of_switch_on_sixteen_and_account() {
        let mut f = facts();
        assert_eq!(prospective_from(&f, today()), Some(day(2024, 1, 10)));
        f.account_created_on = Some(day(2020, 1, 1));
        assert_eq!(prospective_from(&f, today()), Some(day(2023, 10, 31)));
        f.patient.date_of_birth = day(2009, 3, 1);
        assert_eq!(prospective_from(&f, today()), Some(day(2025, 3, 1)));
        // Under 16 today: nothing yet.
        f.patient.date_of_birth = day(2011, 3, 1);
        assert_eq!(prospective_from(&f, today()), None);
        // No account, or a practice that switched access off: nothing.
        let mut f = facts();
        f.account_created_on = None;
        assert_eq!(prospective_from(&f, today()), None);
        let mut f = facts();
        f.practice.prospective_access_date = None;
        assert_eq!(prospective_from(&f, today()), None);
    }

    // Defect 1: automatic access covers letters whatever the historic level.
    #[test]
    fn automatic_access_includes_letters() {
        let mut f = facts();
        f.patient.access_level = AccessLevel::Detailed;
        let access = section_access(&patient(), &f, Section::Documents, today());
        assert_eq!(from(access), Some(Some(day(2024, 1, 10))));
    }

    // Defect 2: the entered date decides, not the clinical date.
    #[test]
    fn the_entered_date_decides_not_the_clinical_date() {
        let f = facts();
        let access = section_access(&patient(), &f, Section::Documents, today());
        let mut letter = documents::Model {
            id: Uuid::new_v4(),
            practice_id: f.patient.practice_id,
            patient_id: f.patient.id,
            external_id: None,
            document_type: documents::DocumentType::DischargeSummary,
            title: "Discharge".to_owned(),
            author_organisation: None,
            effective_date: day(2023, 6, 1),
            content_type: "text/plain".to_owned(),
            size_bytes: 1,
            blob_sha256: String::new(),
            received_at: at(day(2025, 2, 1)),
            entered_on: day(2025, 2, 1),
            review_state: ReviewState::Released,
            reviewed_at: None,
            reviewed_by_staff_id: None,
            clinician_comment: None,
            withhold_reason: None,
            released_at: None,
            retracted_at: None,
            retraction_reason: None,
            hidden: false,
            hidden_from_proxies: false,
            created_at: at(today()),
            updated_at: at(today()),
        };
        assert!(
            document_visible(access, &letter),
            "filed after, about before"
        );
        letter.effective_date = day(2025, 6, 1);
        letter.entered_on = day(2023, 12, 1);
        assert!(!document_visible(access, &letter), "filed before access");
    }

    // Defect 7: a code ends; the opt-out no longer blocks from its end date.
    #[test]
    fn codes_apply_from_recorded_until_ended() {
        let mut f = facts();
        f.codes = vec![code(
            ACCESS_DECLINED,
            day(2025, 1, 1),
            Some(day(2025, 6, 1)),
        )];
        assert_eq!(prospective_from(&f, day(2025, 3, 1)), None);
        assert_eq!(
            prospective_from(&f, day(2025, 6, 1)),
            Some(day(2024, 1, 10))
        );
        // Enhanced review indicated blocks until a later "not indicated".
        f.codes = vec![code(ENHANCED_REVIEW_INDICATED, day(2024, 2, 1), None)];
        assert_eq!(prospective_from(&f, today()), None);
        f.codes
            .push(code(ENHANCED_REVIEW_NOT_INDICATED, day(2024, 3, 1), None));
        assert!(prospective_from(&f, today()).is_some());
        // Ending the override brings the block back.
        f.codes[1].ended_on = Some(day(2024, 4, 1));
        assert_eq!(prospective_from(&f, today()), None);
    }

    #[test]
    fn a_block_leaves_access_granted_by_hand() {
        let mut f = facts();
        f.codes = vec![code(ENHANCED_REVIEW_INDICATED, day(2024, 2, 1), None)];
        f.patient.access_level = AccessLevel::Detailed;
        f.patient.record_access_from = Some(day(2015, 4, 1));
        let problems = section_access(&patient(), &f, Section::Problems, today());
        assert_eq!(from(problems), Some(Some(day(2015, 4, 1))));
        let allergies = section_access(&patient(), &f, Section::Allergies, today());
        assert_eq!(from(allergies), Some(None), "summary history whole");
        let letters = section_access(&patient(), &f, Section::Documents, today());
        assert_eq!(
            from(letters),
            None,
            "not covered by the level, automatic blocked"
        );
    }

    #[test]
    fn historic_and_prospective_windows_combine_to_the_wider() {
        let mut f = facts();
        f.patient.access_level = AccessLevel::Documents;
        f.patient.record_access_from = Some(day(2020, 1, 1));
        let letters = section_access(&patient(), &f, Section::Documents, today());
        assert_eq!(from(letters), Some(Some(day(2020, 1, 1))));
        f.patient.record_access_from = None;
        let problems = section_access(&patient(), &f, Section::Problems, today());
        assert_eq!(from(problems), Some(Some(day(2024, 1, 10))));
    }

    // Defect 3: the review at 11 holds record scopes only.
    #[test]
    fn the_review_age_holds_record_scopes_only() {
        let mut f = facts();
        f.patient.date_of_birth = day(2015, 12, 6);
        let g = grant(
            "appointments,messages,record_summary,record_detailed",
            LegalBasis::ParentalResponsibility,
            day(2020, 1, 1),
        );
        let eve = day(2026, 12, 5);
        assert_eq!(age_hold(&g, &f, eve), AgeHold::None);
        assert_eq!(age_hold(&g, &f, today()), AgeHold::RecordReview);
        assert_eq!(
            grant_scopes(&g, &f, today()),
            vec![Scope::Appointments, Scope::Messages]
        );
        assert!(grant_is_valid(&g, &f, today()));
        let v = proxy(g.clone());
        assert_eq!(
            section_access(&v, &f, Section::Allergies, today()),
            SectionAccess::Denied
        );
        assert!(holds_scope(&v, &f, Scope::Appointments, today()));
        // The practice's review is a new decision: the rule no longer applies.
        let mut reviewed = g;
        reviewed.decided_at = at(today());
        assert_eq!(age_hold(&reviewed, &f, today()), AgeHold::None);
        // With record scopes only, nothing is left: the grant does not act at all.
        let records_only = grant(
            "record_summary",
            LegalBasis::ParentalResponsibility,
            day(2020, 1, 1),
        );
        assert!(grant_is_valid(&records_only, &f, eve));
        assert!(!grant_is_valid(&records_only, &f, today()));
    }

    #[test]
    fn the_review_age_is_the_practices() {
        let mut f = facts();
        f.patient.date_of_birth = day(2014, 12, 6);
        let settings = PracticeSettings {
            parental_record_access_review_age: 13,
            ..PracticeSettings::default()
        };
        f.practice.settings = settings.to_json();
        let g = grant(
            "record_summary,appointments",
            LegalBasis::ParentalResponsibility,
            day(2020, 1, 1),
        );
        assert_eq!(age_hold(&g, &f, today()), AgeHold::None, "12 today");
        assert_eq!(age_hold(&g, &f, day(2027, 12, 6)), AgeHold::RecordReview);
    }

    // Defect 4: validity is decided at request time, on the birthday itself.
    #[test]
    fn sixteen_holds_everything_without_consent_on_the_day() {
        let mut f = facts();
        f.patient.date_of_birth = day(2010, 12, 6);
        let mut g = grant(
            "appointments,record_summary",
            LegalBasis::ParentalResponsibility,
            day(2024, 1, 1),
        );
        g.decided_at = at(day(2022, 1, 1));
        assert!(grant_is_valid(&g, &f, day(2026, 12, 5)));
        assert_eq!(age_hold(&g, &f, today()), AgeHold::Sixteen);
        assert!(!grant_is_valid(&g, &f, today()));
        g.young_person_consent_at = Some(at(day(2026, 11, 1)));
        assert!(grant_is_valid(&g, &f, today()));
    }

    // Defect 5: an archived patient is nobody's to see.
    #[test]
    fn an_archived_patient_is_visible_to_no_patient_or_proxy() {
        let mut f = facts();
        f.patient.archived_at = Some(at(day(2026, 1, 1)));
        let g = grant(
            "appointments,record_summary",
            LegalBasis::PatientConsent,
            day(2020, 1, 1),
        );
        assert!(!may_view_patient(&patient(), &f, today()));
        assert!(!grant_is_valid(&g, &f, today()));
        assert!(!may_view_patient(&proxy(g), &f, today()));
    }

    // Defect 6: hidden results and letters; hidden from proxies only.
    #[test]
    fn hidden_and_hidden_from_proxies() {
        let released = |proxy| SectionAccess::Released { from: None, proxy };
        assert!(!dated_hidden_visible(released(false), today(), true, false));
        assert!(dated_hidden_visible(released(false), today(), false, true));
        assert!(!dated_hidden_visible(released(true), today(), false, true));
        assert!(dated_hidden_visible(
            SectionAccess::Everything,
            today(),
            true,
            true
        ));
    }

    // Defect 8: a proxy has the grant's own entitlements, never the patient's.
    #[test]
    fn a_proxy_sees_the_grants_scopes_from_the_grants_date() {
        let mut f = facts();
        // The patient's own access: none historic, automatic blocked by their opt-out.
        f.codes = vec![code(ACCESS_DECLINED, day(2024, 2, 1), None)];
        let mut g = grant(
            "record_summary,record_detailed",
            LegalBasis::LastingPowerOfAttorney,
            day(2025, 1, 1),
        );
        let v = proxy(g.clone());
        assert_eq!(
            from(section_access(&v, &f, Section::Problems, today())),
            Some(Some(day(2025, 1, 1)))
        );
        assert_eq!(
            from(section_access(&v, &f, Section::Allergies, today())),
            Some(None)
        );
        assert_eq!(
            from(section_access(&v, &f, Section::Documents, today())),
            None
        );
        g.record_access_from = Some(day(2010, 1, 1));
        let v = proxy(g);
        assert_eq!(
            from(section_access(&v, &f, Section::Results, today())),
            Some(Some(day(2010, 1, 1)))
        );
        // The patient's automatic access is not the proxy's: with no opt-out the patient
        // sees documents, the proxy without the scope still does not.
        f.codes.clear();
        assert_eq!(
            from(section_access(&v, &f, Section::Documents, today())),
            None
        );
    }

    #[test]
    fn switches_turn_sections_off() {
        let mut f = facts();
        let mut settings = PracticeSettings::default();
        settings.features.documents = false;
        f.practice.settings = settings.to_json();
        assert_eq!(
            section_access(&patient(), &f, Section::Documents, today()),
            SectionAccess::Denied
        );
        assert_ne!(
            section_access(&patient(), &f, Section::Problems, today()),
            SectionAccess::Denied
        );
        settings.features.record = false;
        f.practice.settings = settings.to_json();
        let caps = capabilities(&patient(), &f, today());
        assert!(caps.record_sections.is_empty() && caps.record_access.is_empty());
    }

    #[test]
    fn capabilities_say_from_when() {
        let mut f = facts();
        f.patient.access_level = AccessLevel::Summary;
        let caps = capabilities(&patient(), &f, today());
        let allergies = caps
            .record_access
            .iter()
            .find(|w| w.section == Section::Allergies);
        assert_eq!(allergies.and_then(|w| w.from), None);
        let letters = caps
            .record_access
            .iter()
            .find(|w| w.section == Section::Documents);
        assert_eq!(letters.and_then(|w| w.from), Some(day(2024, 1, 10)));
    }

    fn course(ended_on: Option<NaiveDate>) -> courses::Model {
        courses::Model {
            id: Uuid::from_u128(20),
            practice_id: Uuid::from_u128(2),
            patient_id: Uuid::from_u128(1),
            external_id: None,
            snomed_code: "322236009".to_owned(),
            medication: "Paracetamol".to_owned(),
            dosage: "1 tablet".to_owned(),
            quantity: "32".to_owned(),
            course_type: courses::CourseType::Repeat,
            can_be_requested: true,
            last_issue_date: None,
            next_issue_date: None,
            review_date: None,
            hidden: false,
            hidden_from_proxies: false,
            ended_on,
            created_at: at(day(2020, 1, 1)),
            updated_at: at(day(2020, 1, 1)),
        }
    }

    #[test]
    fn the_next_boundary_of_a_child_is_the_review_birthday_then_sixteen() {
        let mut f = facts();
        f.patient.date_of_birth = day(2016, 3, 10);
        let parent = grant(
            "appointments,record_summary",
            LegalBasis::ParentalResponsibility,
            day(2020, 1, 1),
        );
        let grants = [parent.clone()];
        assert_eq!(
            next_boundary(&f, &grants, &[], today()),
            Some(day(2027, 3, 10)),
            "the 11th birthday"
        );
        assert_eq!(
            next_boundary(&f, &grants, &[], day(2027, 3, 10)),
            Some(day(2032, 3, 10)),
            "then the 16th"
        );
        // A grant reviewed after the 11th birthday has no review day ahead; with the young
        // person's consent, no 16th either. Prospective access at 16 remains.
        let mut reviewed = parent;
        reviewed.decided_at = at(day(2027, 4, 1));
        reviewed.young_person_consent_at = Some(at(day(2027, 4, 1)));
        assert_eq!(
            next_boundary(&f, &[reviewed.clone()], &[], day(2027, 4, 1)),
            Some(day(2032, 3, 10))
        );
        f.account_created_on = None;
        assert_eq!(next_boundary(&f, &[reviewed], &[], day(2027, 4, 1)), None);
    }

    #[test]
    fn the_next_boundary_follows_grants_codes_switch_on_and_courses() {
        let mut f = facts();
        assert_eq!(next_boundary(&f, &[], &[], today()), None, "nothing ahead");
        let mut ending = grant("appointments", LegalBasis::PatientConsent, day(2020, 1, 1));
        ending.ends_on = Some(day(2027, 1, 31));
        assert_eq!(
            next_boundary(&f, &[ending.clone()], &[], today()),
            Some(day(2027, 2, 1)),
            "the day after the last day"
        );
        let mut starting = ending.clone();
        starting.starts_on = day(2026, 12, 20);
        assert_eq!(
            next_boundary(&f, &[starting], &[], today()),
            Some(day(2026, 12, 20))
        );
        f.codes = vec![code(
            ACCESS_DECLINED,
            day(2025, 1, 1),
            Some(day(2027, 1, 15)),
        )];
        assert_eq!(
            next_boundary(&f, &[ending], &[], today()),
            Some(day(2027, 1, 15)),
            "the code's end"
        );
        f.codes = vec![code(ENHANCED_REVIEW_INDICATED, day(2026, 12, 9), None)];
        assert_eq!(
            next_boundary(&f, &[], &[], today()),
            Some(day(2026, 12, 9)),
            "a code recorded ahead comes into force"
        );
        f.codes.clear();
        f.practice.prospective_access_date = Some(day(2027, 4, 1));
        assert_eq!(
            next_boundary(&f, &[], &[], today()),
            Some(day(2027, 4, 1)),
            "the switch-on date"
        );
        f.practice.prospective_access_date = None;
        let courses = [course(Some(day(2027, 2, 14))), course(None)];
        assert_eq!(
            next_boundary(&f, &[], &courses, today()),
            Some(day(2027, 2, 14))
        );
        // Another patient's grant says nothing of this one.
        let mut other = grant("appointments", LegalBasis::PatientConsent, day(2020, 1, 1));
        other.patient_id = Uuid::from_u128(99);
        other.ends_on = Some(day(2026, 12, 10));
        assert_eq!(next_boundary(&f, &[other], &[], today()), None);
    }

    /// Everything the rules answer for the patient and each grant on `on`.
    fn answers(
        f: &PatientFacts,
        grants: &[proxy_grants::Model],
        courses: &[courses::Model],
        on: NaiveDate,
    ) -> String {
        let mut out = format!("{:?}", capabilities(&patient(), f, on));
        for g in grants {
            let v = proxy(g.clone());
            out += &format!(
                "|{}{:?}{:?}",
                grant_is_valid(g, f, on),
                age_hold(g, f, on),
                capabilities(&v, f, on)
            );
        }
        for c in courses {
            out += &format!("|{}", course_visible(&patient(), c, on));
        }
        out
    }

    // Walking day by day: the rules never answer differently on a day the boundary did not
    // name, so a projection kept until its boundary is never stale.
    #[test]
    fn no_answer_changes_between_boundaries() {
        let mut f = facts();
        f.patient.date_of_birth = day(2016, 6, 1);
        f.account_created_on = Some(day(2026, 1, 1));
        f.practice.prospective_access_date = Some(day(2027, 9, 1));
        f.codes = vec![
            code(ENHANCED_REVIEW_INDICATED, day(2025, 1, 1), None),
            code(
                ENHANCED_REVIEW_NOT_INDICATED,
                day(2025, 2, 1),
                Some(day(2029, 5, 5)),
            ),
        ];
        let parent = grant(
            "appointments,record_summary,record_detailed",
            LegalBasis::ParentalResponsibility,
            day(2016, 1, 1),
        );
        let mut carer = grant(
            "messages,documents",
            LegalBasis::PatientConsent,
            day(2026, 1, 1),
        );
        carer.starts_on = day(2027, 2, 2);
        carer.ends_on = Some(day(2028, 8, 30));
        let grants = [parent, carer];
        let courses = [course(Some(day(2027, 11, 11)))];
        let mut on = today();
        let mut seen = answers(&f, &grants, &courses, on);
        let mut boundary = next_boundary(&f, &grants, &courses, on);
        let mut changes = 0;
        while on < day(2034, 1, 1) {
            on = on.succ_opt().unwrap_or(NaiveDate::MAX);
            let now = answers(&f, &grants, &courses, on);
            if boundary.is_some_and(|b| on >= b) {
                assert_eq!(boundary, Some(on), "a boundary is a day walked");
                boundary = next_boundary(&f, &grants, &courses, on);
            } else {
                assert_eq!(now, seen, "the answers changed on {on} with no boundary");
            }
            changes += usize::from(now != seen);
            seen = now;
        }
        // The carer's start and end, the 11th birthday, the course's end, the 16th birthday
        // (the switch-on date and the code's end come before 16 and change nothing).
        assert!(
            changes >= 5,
            "the walk crossed the rules' changes: {changes}"
        );
    }
}
