//! Practice administration: operators create a practice and take it live (`gp-online practice
//! create`, `practice go-live`); the practice's admins read and change its settings (each
//! within the range the domain rules allow, every refusal naming the setting), its service
//! switches and its switch-on date for automatic record access (set or cleared). Every change
//! is audited and reaches `/me` capabilities (computed per request) and every synced document
//! of the practice's patients at once (one projection outbox row per patient).

use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::staff::StaffRole;
use crate::db::entities::{patients, practices, projection_outbox};
use crate::error::{AppError, ErrorCode};
use crate::settings::PracticeSettings;
use crate::validate::{Invalid, OdsCode, Validator, parse_date};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Most characters of a practice's name.
const MAX_NAME_CHARS: usize = 100;
/// Outbox rows per insert.
const OUTBOX_CHUNK: usize = 1_000;

/// A practice as its admins see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PracticeView {
    /// Id.
    pub id: Uuid,
    /// ODS code.
    pub ods_code: String,
    /// Name.
    pub name: String,
    /// Taking registrations.
    pub live: bool,
    /// The switch-on date of automatic (prospective) record access; absent: switched off.
    pub prospective_access_date: Option<NaiveDate>,
    /// Every setting and service switch, with the national defaults filled in.
    pub settings: PracticeSettings,
}

impl PracticeView {
    fn of(practice: practices::Model) -> Self {
        Self {
            settings: PracticeSettings::from_json(&practice.settings).unwrap_or_default(),
            id: practice.id,
            ods_code: practice.ods_code,
            name: practice.name,
            live: practice.live,
            prospective_access_date: practice.prospective_access_date,
        }
    }
}

/// A switch-on date to set.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchOnBody {
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub date: Option<String>,
}

/// The admin changing settings.
#[derive(Debug, Clone, Copy)]
pub struct Admin {
    /// The staff member.
    pub staff_id: Uuid,
    /// Their practice.
    pub practice_id: Uuid,
    /// Their role (admins only).
    pub role: StaffRole,
}

impl Admin {
    fn require(&self) -> Result<(), AppError> {
        if self.role == StaffRole::Admin {
            Ok(())
        } else {
            Err(AppError::new(ErrorCode::Forbidden)
                .with_detail("only a practice admin can change the practice's settings"))
        }
    }
}

async fn practice(db: &impl ConnectionTrait, id: Uuid) -> Result<practices::Model, AppError> {
    practices::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(AppError::not_found)
}

async fn practice_by_ods(
    db: &impl ConnectionTrait,
    ods: &OdsCode,
) -> Result<practices::Model, AppError> {
    practices::Entity::find()
        .filter(practices::Column::OdsCode.eq(ods.as_str()))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found().with_detail("no practice has this ODS code"))
}

/// Marks every patient of the practice for projection, so their synced documents follow a
/// practice-wide change.
pub async fn all_patients_dirty(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let ids: Vec<Uuid> = patients::Entity::find()
        .select_only()
        .column(patients::Column::Id)
        .filter(patients::Column::PracticeId.eq(practice_id))
        .into_tuple()
        .all(db)
        .await?;
    for chunk in ids.chunks(OUTBOX_CHUNK) {
        let rows = chunk
            .iter()
            .map(|id| crate::outbox::projection_row(practice_id, *id, None, None, reason, now));
        projection_outbox::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Creates a practice (not live, national default settings, automatic record access off until
/// it goes live). An operator's command; audited as the system.
pub async fn create(
    db: &DatabaseConnection,
    ods_code: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<PracticeView, AppError> {
    let mut v = Validator::new();
    let ods = v.check("ods", OdsCode::parse(ods_code));
    let name = name.trim();
    let name = v.check(
        "name",
        if name.is_empty() {
            Err(Invalid::new("required", "a name is required"))
        } else if name.chars().count() > MAX_NAME_CHARS {
            Err(Invalid::new(
                "too_long",
                format!("at most {MAX_NAME_CHARS} characters"),
            ))
        } else {
            Ok(name.to_owned())
        },
    );
    v.finish()?;
    let (Some(ods), Some(name)) = (ods, name) else {
        return Err(AppError::internal("a validated field was missing"));
    };
    let txn = crate::db::begin_write(db).await?;
    if practice_by_ods(&txn, &ods).await.is_ok() {
        return Err(AppError::new(ErrorCode::Conflict)
            .with_detail("a practice with this ODS code exists already"));
    }
    let created = practices::ActiveModel {
        id: Set(Uuid::new_v4()),
        ods_code: Set(ods.as_str().to_owned()),
        name: Set(name),
        live: Set(false),
        prospective_access_date: Set(None),
        settings: Set(PracticeSettings::default().to_json()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    AuditEvent::new("practice.create", ActorKind::System, Outcome::Success)
        .practice(created.id)
        .target("practice", created.id)
        .detail(serde_json::json!({ "ods_code": created.ods_code }))
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(PracticeView::of(created))
}

/// Takes a practice live: registration opens, and automatic record access starts today unless
/// the practice has a switch-on date already (or `switch_on` names one). Going live again
/// changes nothing.
pub async fn go_live(
    db: &DatabaseConnection,
    ods_code: &str,
    switch_on: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<PracticeView, AppError> {
    let ods = OdsCode::parse(ods_code).map_err(|e| AppError::invalid_field("ods", e))?;
    let txn = crate::db::begin_write(db).await?;
    let found = practice_by_ods(&txn, &ods).await?;
    let date = switch_on
        .or(found.prospective_access_date)
        .unwrap_or(now.date_naive());
    if found.live && found.prospective_access_date == Some(date) {
        return Ok(PracticeView::of(found));
    }
    let id = found.id;
    let mut row = found.into_active_model();
    row.live = Set(true);
    row.prospective_access_date = Set(Some(date));
    row.updated_at = Set(now);
    let updated = row.update(&txn).await?;
    AuditEvent::new("practice.go_live", ActorKind::System, Outcome::Success)
        .practice(id)
        .target("practice", id)
        .detail(serde_json::json!({ "prospective_access_date": date }))
        .record(&txn, now)
        .await?;
    all_patients_dirty(&txn, id, "practice_settings", now).await?;
    txn.commit().await?;
    Ok(PracticeView::of(updated))
}

/// The admin's practice. Any staff member may read it.
pub async fn read(db: &DatabaseConnection, practice_id: Uuid) -> Result<PracticeView, AppError> {
    Ok(PracticeView::of(practice(db, practice_id).await?))
}

/// Merges `patch` into `base`: objects key by key (so `{"features": {"letters": false}}`
/// changes one switch), anything else replaced.
fn merge(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
            for (key, value) in patch {
                merge(
                    base.entry(key.clone()).or_insert(serde_json::Value::Null),
                    value,
                );
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

/// Names every key of `patch` that is not a setting, or whose value is not of the setting's
/// type (tried one key at a time against `known`, so each refusal names its key and never
/// echoes the value).
fn check_keys(
    known: &serde_json::Value,
    patch: &serde_json::Value,
    prefix: &str,
    v: &mut Validator,
) {
    let Some(patch) = patch.as_object() else {
        return;
    };
    for (key, value) in patch {
        let name = format!("{prefix}{key}");
        let Some(current) = known.get(key) else {
            v.check::<()>(
                name,
                Err(Invalid::new("unknown_setting", "no such setting")),
            );
            continue;
        };
        if current.is_object() {
            if value.is_object() {
                check_keys(current, value, &format!("{name}."), v);
            } else {
                v.check::<()>(
                    name,
                    Err(Invalid::new("invalid_type", "expected an object")),
                );
            }
            continue;
        }
        let mut one = known.clone();
        if prefix.is_empty() {
            merge(&mut one, &serde_json::json!({ key.as_str(): value }));
            if PracticeSettings::from_json(&one).is_err() {
                v.check::<()>(
                    name,
                    Err(Invalid::new(
                        "invalid_type",
                        "not a value of this setting's type",
                    )),
                );
            }
        } else if std::mem::discriminant(current) != std::mem::discriminant(value) {
            v.check::<()>(
                name,
                Err(Invalid::new(
                    "invalid_type",
                    "not a value of this setting's type",
                )),
            );
        }
    }
}

/// Applies a partial change of settings and switches: keys left out keep their value; an
/// unknown key or a value outside the rules' range is refused, naming it, and nothing changes.
/// Admins only; audited with the names of the keys changed.
pub async fn update_settings(
    db: &DatabaseConnection,
    admin: &Admin,
    patch: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<PracticeView, AppError> {
    admin.require()?;
    if !patch.is_object() {
        return Err(AppError::new(ErrorCode::MalformedRequest)
            .with_detail("the settings to change are a JSON object"));
    }
    let txn = crate::db::begin_write(db).await?;
    let found = practice(&txn, admin.practice_id).await?;
    let current = PracticeSettings::from_json(&found.settings).unwrap_or_default();
    let mut merged = current.to_json();
    merge(&mut merged, patch);
    let mut v = Validator::new();
    check_keys(&current.to_json(), patch, "", &mut v);
    v.finish()?;
    let settings = PracticeSettings::from_json(&merged).map_err(AppError::internal)?;
    let current_json = current.to_json();
    let new_json = settings.to_json();
    let changed: Vec<String> = new_json
        .as_object()
        .map(|object| {
            object
                .iter()
                .filter(|(key, value)| current_json.get(key.as_str()) != Some(value))
                .map(|(key, _)| key.clone())
                .collect()
        })
        .unwrap_or_default();
    // Only the values this change sets are judged: a value stored before the ranges were
    // enforced does not block changing another setting.
    let mut v = Validator::new();
    settings.check("", &mut v);
    if let Err(fields) = v.finish() {
        let refused: Vec<_> = fields
            .into_iter()
            .filter(|f| changed.contains(&f.name))
            .collect();
        if !refused.is_empty() {
            return Err(refused.into());
        }
    }
    if changed.is_empty() {
        return Ok(PracticeView::of(found));
    }
    let id = found.id;
    let mut row = found.into_active_model();
    row.settings = Set(new_json);
    row.updated_at = Set(now);
    let updated = row.update(&txn).await?;
    AuditEvent::new("practice.settings", ActorKind::Staff, Outcome::Success)
        .actor(admin.staff_id)
        .practice(id)
        .target("practice", id)
        .detail(serde_json::json!({ "changed": changed }))
        .record(&txn, now)
        .await?;
    all_patients_dirty(&txn, id, "practice_settings", now).await?;
    txn.commit().await?;
    Ok(PracticeView::of(updated))
}

/// Sets (`Some`) or clears (`None`: automatic record access switched off) the practice's
/// switch-on date. Admins only; audited.
pub async fn set_switch_on(
    db: &DatabaseConnection,
    admin: &Admin,
    body: Option<&SwitchOnBody>,
    now: DateTime<Utc>,
) -> Result<PracticeView, AppError> {
    admin.require()?;
    let date = match body {
        None => None,
        Some(body) => {
            let mut v = Validator::new();
            let date = v.check(
                "date",
                match body.date.as_deref() {
                    None => Err(Invalid::new("required", "a date is required")),
                    Some(text) => parse_date(text),
                },
            );
            v.finish()?;
            date
        }
    };
    let txn = crate::db::begin_write(db).await?;
    let found = practice(&txn, admin.practice_id).await?;
    if found.prospective_access_date == date {
        return Ok(PracticeView::of(found));
    }
    let id = found.id;
    let previous = found.prospective_access_date;
    let mut row = found.into_active_model();
    row.prospective_access_date = Set(date);
    row.updated_at = Set(now);
    let updated = row.update(&txn).await?;
    AuditEvent::new(
        "practice.switch_on_date",
        ActorKind::Staff,
        Outcome::Success,
    )
    .actor(admin.staff_id)
    .practice(id)
    .target("practice", id)
    .detail(serde_json::json!({ "date": date, "previous": previous }))
    .record(&txn, now)
    .await?;
    all_patients_dirty(&txn, id, "practice_settings", now).await?;
    txn.commit().await?;
    Ok(PracticeView::of(updated))
}

#[cfg(test)]
mod tests {
    use super::merge;
    use serde_json::json;

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let mut base =
            json!({"features": {"record": true, "documents": true}, "slot_window_weeks": 8});
        merge(&mut base, &json!({"features": {"documents": false}}));
        assert_eq!(
            base,
            json!({"features": {"record": true, "documents": false}, "slot_window_weeks": 8})
        );
    }
}
