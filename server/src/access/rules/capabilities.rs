//! What a viewer may see and do for a patient, as `GET /api/v1/me` and the profile document
//! give it.

use super::*;

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
