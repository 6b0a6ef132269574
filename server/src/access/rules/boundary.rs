//! The next day on which the rules may answer differently with nothing written, so the
//! synced documents can be projected again on that day (`sync::calendar`).

use super::*;

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
    let mut days: Vec<NaiveDate> = prospective_start(facts).into_iter().collect();
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
