//! Prescription requests as the patient sees them, and their cancellation while still requested.

use super::*;
use crate::idempotent::{self, IdempotentCall};

/// Where one requested course is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Waiting for the practice.
    Requested,
    /// Approved and issued.
    Approved,
    /// Rejected, with a reason.
    Rejected,
    /// Cancelled by the patient (or their proxy).
    Cancelled,
}

impl From<RequestItemStatus> for ItemStatus {
    fn from(value: RequestItemStatus) -> Self {
        match value {
            RequestItemStatus::Requested => Self::Requested,
            RequestItemStatus::Approved => Self::Approved,
            RequestItemStatus::Rejected => Self::Rejected,
            RequestItemStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl ItemStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One course of a request and its decision.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RequestItemView {
    /// The item (staff decide it by this id).
    pub id: Uuid,
    /// The course.
    pub course_id: Uuid,
    /// The medicine.
    pub medication: String,
    /// `requested`, `approved`, `rejected` or `cancelled`.
    pub status: ItemStatus,
    /// Past its review date when ordered: a clinician looks at it first.
    pub routed_to_clinician: bool,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
    /// When it was approved, rejected or cancelled.
    pub decided_at: Option<DateTime<Utc>>,
}

/// A prescription request with its items.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RequestView {
    /// The request.
    pub id: Uuid,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Whether a proxy made it on the patient's behalf.
    pub requested_by_proxy: bool,
    /// The pharmacy nominated when it was made.
    pub pharmacy_ods: Option<String>,
    /// The note, shown to whoever wrote it and to the patient.
    pub note: Option<String>,
    /// The courses requested.
    pub items: Vec<RequestItemView>,
}

pub(super) fn item_view(item: items::Model, course: &courses::Model) -> RequestItemView {
    RequestItemView {
        id: item.id,
        course_id: item.course_id,
        medication: course.medication.clone(),
        status: item.status.into(),
        routed_to_clinician: item.routed_to_clinician,
        rejection_reason: item.rejection_reason,
        decided_at: item.decided_at,
    }
}

/// The items of these requests, with their courses.
pub(super) async fn items_of(
    db: &impl ConnectionTrait,
    request_ids: Vec<Uuid>,
) -> Result<(Vec<items::Model>, HashMap<Uuid, courses::Model>), AppError> {
    let all = items::Entity::find()
        .filter(items::Column::RequestId.is_in(request_ids))
        .order_by_asc(items::Column::CreatedAt)
        .order_by_asc(items::Column::Id)
        .all(db)
        .await?;
    let course_ids: BTreeSet<Uuid> = all.iter().map(|i| i.course_id).collect();
    let courses = courses::Entity::find()
        .filter(courses::Column::Id.is_in(course_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    Ok((all, courses))
}

/// Requests as the viewer may see them: items of courses hidden from the viewer are left out,
/// and a request with nothing left is left out entirely. Ended courses stay: the history of
/// what was ordered remains.
pub(super) fn views_for(
    actor: &Actor,
    list: Vec<requests::Model>,
    all_items: Vec<items::Model>,
    courses: &HashMap<Uuid, courses::Model>,
) -> Vec<RequestView> {
    let mut by_request: HashMap<Uuid, Vec<RequestItemView>> = HashMap::new();
    for item in all_items {
        let Some(course) = courses.get(&item.course_id) else {
            continue;
        };
        if crate::access::rules::course_hidden(&actor.viewer, course) {
            continue;
        }
        by_request
            .entry(item.request_id)
            .or_default()
            .push(item_view(item, course));
    }
    list.into_iter()
        .filter_map(|request| {
            let items = by_request.remove(&request.id)?;
            let note_visible =
                rules::sees_written_text(&actor.viewer, request.requested_by_account_id);
            Some(RequestView {
                id: request.id,
                created_at: request.created_at,
                requested_by_proxy: request.requested_by_proxy,
                pharmacy_ods: stored_code(request.pharmacy_ods.as_deref()),
                note: request.note.filter(|_| note_visible),
                items,
            })
        })
        .collect()
}

/// The patient's requests, newest first (at most [`MAX_LISTED_REQUESTS`]).
pub async fn list_requests(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facts: &PatientFacts,
    now: DateTime<Utc>,
) -> Result<Vec<RequestView>, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Prescriptions, now.date_naive())?;
    let list = requests::Entity::find()
        .filter(requests::Column::PatientId.eq(facts.patient.id))
        .order_by_desc(requests::Column::CreatedAt)
        .order_by_desc(requests::Column::Id)
        .limit(MAX_LISTED_REQUESTS)
        .all(db)
        .await?;
    let (all_items, courses) = items_of(db, list.iter().map(|r| r.id).collect()).await?;
    Ok(views_for(actor, list, all_items, &courses))
}

/// Cancels the items of a request that are still `requested`. A request with none left is
/// `request_not_pending`; a request of another patient (or one the viewer cannot see) is 404.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write, so a
/// retry after a crash is told of the cancellation rather than `request_not_pending`.
pub async fn cancel_request(
    db: &DatabaseConnection,
    actor: &Actor,
    facts: &PatientFacts,
    request_id: Uuid,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<RequestView, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Prescriptions, now.date_naive())?;
    let txn = crate::db::begin_write(db).await?;
    let request = requests::Entity::find_by_id(request_id)
        .filter(requests::Column::PatientId.eq(facts.patient.id))
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    let locked = items::Entity::find()
        .filter(items::Column::RequestId.eq(request.id))
        .lock_exclusive()
        .all(&txn)
        .await?;
    let (_, courses) = items_of(&txn, vec![request.id]).await?;
    let visible: Vec<&items::Model> = locked
        .iter()
        .filter(|item| {
            courses
                .get(&item.course_id)
                .is_some_and(|c| !crate::access::rules::course_hidden(&actor.viewer, c))
        })
        .collect();
    if visible.is_empty() {
        return Err(AppError::not_found());
    }
    let cancelled: Vec<Uuid> = visible
        .iter()
        .filter(|item| item.status == RequestItemStatus::Requested)
        .map(|item| item.id)
        .collect();
    if cancelled.is_empty() {
        return Err(AppError::new(ErrorCode::RequestNotPending)
            .with_detail("every course of this request has already been decided or cancelled"));
    }
    items::Entity::update_many()
        .col_expr(
            items::Column::Status,
            Expr::value(RequestItemStatus::Cancelled),
        )
        .col_expr(
            items::Column::PendingCourseId,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(items::Column::DecidedAt, Expr::value(now))
        .col_expr(items::Column::UpdatedAt, Expr::value(now))
        .filter(items::Column::Id.is_in(cancelled.iter().copied()))
        .filter(items::Column::Status.eq(RequestItemStatus::Requested))
        .exec(&txn)
        .await?;
    actor
        .audit("prescription.cancel", facts)
        .target("prescription_request", request.id)
        .detail(serde_json::json!({ "items": cancelled, "from": "requested", "to": "cancelled" }))
        .record(&txn, now)
        .await?;
    outbox::mark_dirty(
        &txn,
        facts.patient.practice_id,
        facts.patient.id,
        SECTION,
        "prescription.cancel",
        now,
    )
    .await?;
    let (all_items, courses) = items_of(&txn, vec![request.id]).await?;
    let view = views_for(actor, vec![request], all_items, &courses)
        .pop()
        .ok_or_else(AppError::not_found)?;
    idempotent::store(call, &txn, 200, &view).await?;
    txn.commit().await?;
    Ok(view)
}
