//! The nominated pharmacy: its ODS code (five characters starting with `F`), shown to the
//! patient and changed by them.

use super::*;

/// An ODS code of a community pharmacy: five characters starting with `F`, e.g. `FQ123`
/// (practice codes are one letter and five digits instead: see [`crate::validate::OdsCode`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PharmacyOdsCode(String);

impl PharmacyOdsCode {
    /// Parses a pharmacy ODS code, accepting lower case and surrounding spaces.
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let code = input.trim().to_ascii_uppercase();
        let bytes = code.as_bytes();
        let valid = bytes.len() == 5
            && bytes[0] == b'F'
            && bytes[1..].iter().all(u8::is_ascii_alphanumeric);
        if valid {
            Ok(Self(code))
        } else {
            Err(Invalid {
                code: "invalid_pharmacy_ods_code",
                reason: "a pharmacy ODS code is five letters or digits starting with F, e.g. FQ123"
                    .to_owned(),
            })
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PharmacyOdsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored ODS code (PostgreSQL pads `CHAR(6)` with a space).
pub(super) fn stored_code(code: Option<&str>) -> Option<String> {
    code.map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

/// The patient's nominated pharmacy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PharmacyView {
    /// Its ODS code, e.g. `FQ123`; none when no pharmacy is nominated.
    pub ods_code: Option<String>,
}

/// The nominated pharmacy.
pub async fn get_pharmacy(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facts: &PatientFacts,
    now: DateTime<Utc>,
) -> Result<PharmacyView, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Prescriptions, now.date_naive())?;
    let patient = patients::Entity::find_by_id(facts.patient.id)
        .one(db)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(PharmacyView {
        ods_code: stored_code(patient.nominated_pharmacy_ods.as_deref()),
    })
}

/// Nominates a pharmacy. Nominating the one already nominated changes nothing.
pub async fn set_pharmacy(
    db: &DatabaseConnection,
    actor: &Actor,
    facts: &PatientFacts,
    pharmacy: PharmacyOdsCode,
    now: DateTime<Utc>,
) -> Result<PharmacyView, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Prescriptions, now.date_naive())?;
    let txn = crate::db::begin_write(db).await?;
    let patient = patients::Entity::find_by_id(facts.patient.id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    let previous = stored_code(patient.nominated_pharmacy_ods.as_deref());
    if previous.as_deref() == Some(pharmacy.as_str()) {
        txn.rollback().await?;
        return Ok(PharmacyView { ods_code: previous });
    }
    patients::Entity::update_many()
        .col_expr(
            patients::Column::NominatedPharmacyOds,
            Expr::value(pharmacy.as_str()),
        )
        .col_expr(patients::Column::UpdatedAt, Expr::value(now))
        .filter(patients::Column::Id.eq(patient.id))
        .exec(&txn)
        .await?;
    actor
        .audit("pharmacy.change", facts)
        .target("patient", patient.id)
        .detail(serde_json::json!({ "from": previous, "to": pharmacy.as_str() }))
        .record(&txn, now)
        .await?;
    outbox::mark_dirty(
        &txn,
        patient.practice_id,
        patient.id,
        SECTION,
        "pharmacy.change",
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(PharmacyView {
        ods_code: Some(pharmacy.as_str().to_owned()),
    })
}
