//! Prospective (automatic) access: when it starts, and the access codes that block it.

use super::*;

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
    let from = prospective_start(facts)?;
    (from <= today && !automatic_access_blocked(&facts.codes, today)).then_some(from)
}

/// The day prospective access starts, whether or not it has come or is blocked: the later of
/// the practice's switch-on date, the 16th birthday and the day the account was created.
pub(super) fn prospective_start(facts: &PatientFacts) -> Option<NaiveDate> {
    let switch_on = facts.practice.prospective_access_date?;
    let account = facts.account_created_on?;
    Some(
        switch_on
            .max(account)
            .max(birthday(facts.patient.date_of_birth, 16)),
    )
}
