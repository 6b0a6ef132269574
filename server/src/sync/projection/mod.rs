//! Projection: the items of a section document are exactly what [`crate::access`] permits for
//! the viewer now. The stored document is reconciled to them with a minimal diff; when an item
//! the document holds is no longer permitted (retracted, hidden, out of scope, a narrowed grant,
//! an age rule), when a value that was information is corrected or removed (clinical text,
//! values, names, comments: `sync_protocol::redaction` classifies every field), or the history
//! grows past the threshold, a new generation starts from the permitted items alone, so nothing
//! that must disappear stays in the history devices receive.
//!
//! `permitted` says what each section document should hold, `stored` reads and locks what is
//! stored, and `write` makes the stored document equal to what is permitted.

mod permitted;
mod stored;
mod write;

pub(in crate::sync) use permitted::enum_name;
pub use permitted::{ITEM_SECTIONS, permitted, permitted_among};
pub use stored::{
    Stored, current, current_all, decode_heads, encode_heads, keep_heads, load, lock, saved,
};
pub use write::{COMPACT_AFTER, end_section, new_generation, project, project_items};

use crate::access::Viewer;
use crate::access::rules::PatientFacts;
use crate::db::entities::proxy_grants;
use crate::error::AppError;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sync_protocol::Section;
use uuid::Uuid;

/// The audience key of a viewer: one per patient viewing themself, one per proxy grant.
pub fn audience(viewer: &Viewer, facts: &PatientFacts) -> String {
    match viewer {
        Viewer::Patient { .. } => format!("self:{}", facts.patient.id),
        Viewer::Proxy { grant, .. } => format!("grant:{}", grant.id),
        Viewer::Staff { staff_id, .. } => format!("staff:{staff_id}:{}", facts.patient.id),
    }
}

/// The audience keys that may hold documents about `patient_id`: the patient's own, and one
/// per proxy grant the patient has ever had.
pub async fn patient_audiences(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
) -> Result<Vec<String>, AppError> {
    let mut keys = vec![format!("self:{patient_id}")];
    keys.extend(
        proxy_grants::Entity::find()
            .filter(proxy_grants::Column::PatientId.eq(patient_id))
            .all(db)
            .await?
            .into_iter()
            .map(|grant| format!("grant:{}", grant.id)),
    );
    Ok(keys)
}

/// The patient an audience key is about (`self:<patient>`, `grant:<grant>` or
/// `personal:<account>:<patient>`).
pub async fn patient_of(db: &impl ConnectionTrait, key: &str) -> Result<Option<Uuid>, AppError> {
    if let Some(id) = key.strip_prefix("self:") {
        return Ok(id.parse().ok());
    }
    if let Some(rest) = key.strip_prefix("personal:") {
        return Ok(rest.rsplit_once(':').and_then(|(_, id)| id.parse().ok()));
    }
    let Some(grant_id) = key.strip_prefix("grant:").and_then(|id| id.parse().ok()) else {
        return Ok(None);
    };
    Ok(proxy_grants::Entity::find_by_id::<Uuid>(grant_id)
        .one(db)
        .await?
        .map(|grant| grant.patient_id))
}

/// The sections the server writes (all but the personal document).
pub const SERVER_SECTIONS: [Section; 7] = [
    Section::Profile,
    Section::Record,
    Section::Results,
    Section::Documents,
    Section::Appointments,
    Section::Medications,
    Section::Messages,
];
