//! Hiding a whole coded entry, result or letter from everyone online, or from proxies only
//! (DOMAIN.md: never part of one). Clinicians only. The item's section is projected again at
//! once, so a device that may no longer hold it gets a new generation without it.

use super::{Decider, practice_patient};
use crate::db::entities::{documents, record_entries, results};
use crate::error::AppError;
use crate::idempotent::{self, IdempotentCall};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Set};
use serde::{Deserialize, Serialize};
use sync_protocol::Section;
use utoipa::ToSchema;
use uuid::Uuid;

/// The kind of record item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A coded entry (any summary or detailed section).
    Entries,
    /// A test result.
    Results,
    /// A letter or other document.
    Documents,
}

/// From whom an item is hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HiddenFrom {
    /// Nobody: shown as the rules allow.
    Nobody,
    /// Proxies only; the patient still sees it.
    Proxies,
    /// Everyone online.
    Everyone,
}

impl HiddenFrom {
    fn of(hidden: bool, from_proxies: bool) -> Self {
        match (hidden, from_proxies) {
            (true, _) => Self::Everyone,
            (false, true) => Self::Proxies,
            (false, false) => Self::Nobody,
        }
    }

    fn flags(self) -> (bool, bool) {
        match self {
            Self::Nobody => (false, false),
            Self::Proxies => (false, true),
            Self::Everyone => (true, false),
        }
    }
}

/// A hiding to apply.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HideBody {
    /// `everyone` or `proxies`.
    pub from: HiddenFrom,
}

/// An item's hiding as it now stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ItemHiding {
    /// The item.
    pub id: Uuid,
    /// Its kind.
    pub kind: ItemKind,
    /// From whom it is hidden.
    pub hidden_from: HiddenFrom,
}

/// Sets from whom an item of a patient of the practice is hidden (`Nobody` unhides it).
/// Setting what already stands changes nothing.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn set(
    db: &DatabaseConnection,
    decider: &Decider,
    kind: ItemKind,
    id: Uuid,
    from: HiddenFrom,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<ItemHiding, AppError> {
    decider.require_clinician()?;
    let (hidden, hidden_from_proxies) = from.flags();
    let txn = crate::db::begin_write(db).await?;
    let (patient_id, section, before) = match kind {
        ItemKind::Entries => {
            let item = record_entries::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(AppError::not_found)?;
            practice_patient(&txn, decider.practice_id, item.patient_id).await?;
            let current = HiddenFrom::of(item.hidden, item.hidden_from_proxies);
            let (patient_id, section) = (item.patient_id, Section::Record);
            if current != from {
                let mut row = item.into_active_model();
                row.hidden = Set(hidden);
                row.hidden_from_proxies = Set(hidden_from_proxies);
                row.updated_at = Set(now);
                row.update(&txn).await?;
            }
            (patient_id, section, current)
        }
        ItemKind::Results => {
            let item = results::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(AppError::not_found)?;
            practice_patient(&txn, decider.practice_id, item.patient_id).await?;
            let current = HiddenFrom::of(item.hidden, item.hidden_from_proxies);
            let patient_id = item.patient_id;
            if current != from {
                let mut row = item.into_active_model();
                row.hidden = Set(hidden);
                row.hidden_from_proxies = Set(hidden_from_proxies);
                row.updated_at = Set(now);
                row.update(&txn).await?;
            }
            (patient_id, Section::Results, current)
        }
        ItemKind::Documents => {
            let item = documents::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(AppError::not_found)?;
            practice_patient(&txn, decider.practice_id, item.patient_id).await?;
            let current = HiddenFrom::of(item.hidden, item.hidden_from_proxies);
            let patient_id = item.patient_id;
            if current != from {
                let mut row = item.into_active_model();
                row.hidden = Set(hidden);
                row.hidden_from_proxies = Set(hidden_from_proxies);
                row.updated_at = Set(now);
                row.update(&txn).await?;
            }
            (patient_id, Section::Documents, current)
        }
    };
    if before != from {
        let action = if from == HiddenFrom::Nobody {
            "record.unhide"
        } else {
            "record.hide"
        };
        decider
            .event(action, patient_id)
            .target(
                match kind {
                    ItemKind::Entries => "record_entry",
                    ItemKind::Results => "result",
                    ItemKind::Documents => "document",
                },
                id,
            )
            .detail(serde_json::json!({ "hidden_from": from, "previous": before }))
            .record(&txn, now)
            .await?;
        crate::outbox::mark_dirty(
            &txn,
            decider.practice_id,
            patient_id,
            section,
            "record_hidden",
            now,
        )
        .await?;
    }
    let hiding = ItemHiding {
        id,
        kind,
        hidden_from: from,
    };
    idempotent::store(call, &txn, 200, &hiding).await?;
    txn.commit().await?;
    Ok(hiding)
}
