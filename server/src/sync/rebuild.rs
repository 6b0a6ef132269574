//! `gp-online sync rebuild`: recomputes every stored section document (or one patient's) from
//! the access module as of `now`, each as a new generation with no history, so devices are told
//! their copy is superseded and download the recomputed one. Use it after a change to how items
//! are projected, or whenever stored documents are in doubt. Sections whose audience no longer
//! exists (a revoked grant, a deleted account) or may no longer see them are emptied, and so are
//! all superseded generations: each row stays only as the marker of its generation number, so
//! a later document starts a higher generation and no device mistakes it for the one it holds.
//! Personal documents are written by devices and cannot be recomputed: they are left alone.
//! Each run is audited (`sync.rebuild`, counts only).

use super::counts::Generation;
use super::projection::{self, audience};
use crate::access::rules::PatientFacts;
use crate::access::{Viewer, slice, viewer};
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::sync_documents;
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;
use std::collections::BTreeMap;
use sync_protocol::Section;
use uuid::Uuid;

/// What a rebuild did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RebuildReport {
    /// Section documents recomputed as a new generation.
    pub rebuilt: usize,
    /// Section documents emptied: their audience is gone or may no longer see the section.
    pub removed: usize,
    /// Superseded generations emptied (their content dropped from storage).
    pub superseded_emptied: u64,
}

/// Rebuilds every stored section document, or only those about `patient`.
pub async fn rebuild(
    db: &DatabaseConnection,
    patient: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<RebuildReport, AppError> {
    let mut report = RebuildReport::default();
    let current = sync_documents::Entity::find()
        .filter(sync_documents::Column::SupersededAt.is_null())
        .order_by_asc(sync_documents::Column::Audience)
        .all(db)
        .await?;
    let mut by_audience: BTreeMap<String, Vec<sync_documents::Model>> = BTreeMap::new();
    for row in current {
        if projection::SERVER_SECTIONS
            .iter()
            .any(|s| s.as_str() == row.section)
        {
            by_audience
                .entry(row.audience.clone())
                .or_default()
                .push(row);
        }
    }
    for (key, rows) in by_audience {
        let Some(patient_id) = projection::patient_of(db, &key).await? else {
            continue;
        };
        if patient.is_some_and(|p| p != patient_id) {
            continue;
        }
        let txn = crate::db::begin_write(db).await?;
        let today = now.date_naive();
        let found = match slice::facts(&txn, patient_id).await? {
            Some(facts) => viewer_of(&txn, &facts, &key, today)
                .await?
                .map(|viewer| (viewer, facts)),
            None => None,
        };
        for row in rows {
            let section = projection::SERVER_SECTIONS
                .into_iter()
                .find(|s| s.as_str() == row.section)
                .unwrap_or(Section::Profile);
            let wanted = match &found {
                Some((viewer, facts)) => {
                    projection::permitted(&txn, viewer, facts, section, now).await?
                }
                None => None,
            };
            match wanted {
                Some(wanted) => {
                    let next = Generation::from_column(row.generation)?.next()?.number();
                    projection::new_generation(&txn, &key, section, next, &wanted, now).await?;
                    report.rebuilt += 1;
                }
                None => {
                    projection::end_section(&txn, &key, &row.section, now).await?;
                    report.removed += 1;
                }
            }
        }
        txn.commit().await?;
    }
    report.superseded_emptied = sync_documents::Entity::update_many()
        .col_expr(
            sync_documents::Column::Document,
            Expr::value(empty_document()),
        )
        .col_expr(sync_documents::Column::ChangeCount, Expr::value(0))
        .filter(sync_documents::Column::SupersededAt.is_not_null())
        .filter(sync_documents::Column::ChangeCount.ne(0))
        .filter(
            sync_documents::Column::Section.is_in(projection::SERVER_SECTIONS.map(Section::as_str)),
        )
        .exec(db)
        .await?
        .rows_affected;
    let mut event = AuditEvent::new("sync.rebuild", ActorKind::System, Outcome::Success).detail(
        serde_json::json!({
            "rebuilt": report.rebuilt,
            "removed": report.removed,
            "superseded_emptied": report.superseded_emptied,
        }),
    );
    if let Some(patient_id) = patient {
        event = event.acting_for(patient_id);
    }
    event.record(db, now).await?;
    Ok(report)
}

/// The viewer behind an audience key today, if it still may act for the patient.
async fn viewer_of(
    db: &impl ConnectionTrait,
    facts: &PatientFacts,
    key: &str,
    today: chrono::NaiveDate,
) -> Result<Option<Viewer>, AppError> {
    Ok(viewer::audiences(db, facts, today)
        .await?
        .into_iter()
        .find(|viewer| audience(viewer, facts) == key))
}

fn empty_document() -> Vec<u8> {
    automerge::AutoCommit::new().save()
}
