//! The age rules of proxy access (DAPB3051) decided at request time: a child's birthdays,
//! the review of parental record access, the grant in force today, and whether a viewer may see
//! the patient at all.

use super::*;

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
pub(super) struct AgeRules {
    /// The 16th birthday, for a grant decided before it without the young person's consent.
    pub(super) sixteen: Option<NaiveDate>,
    /// The birthday at the practice's review age, for a parental grant with record scopes
    /// decided before it (and only when it comes before 16).
    pub(super) review: Option<NaiveDate>,
}

pub(super) fn age_rules(grant: &proxy_grants::Model, facts: &PatientFacts) -> AgeRules {
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
