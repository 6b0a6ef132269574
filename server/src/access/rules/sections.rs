//! What a viewer may see of each record section (historic, prospective and proxy windows,
//! the practice's switches), and which entries, results and letters of it.

use super::*;

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

pub(super) fn dated_hidden_visible(
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
