//! The practice's queue of requests and a clinician's approve/reject decisions on them.

use super::*;

/// A request as the practice sees it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StaffRequestView {
    /// The request.
    pub id: Uuid,
    /// Its patient.
    pub patient: QueuePatient,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Whether a proxy made it.
    pub requested_by_proxy: bool,
    /// The pharmacy nominated when it was made.
    pub pharmacy_ods: Option<String>,
    /// The patient's note.
    pub note: Option<String>,
    /// Whether an item in the queried status needs a clinician (past its review date).
    pub routed_to_clinician: bool,
    /// Every course of the request, whatever its status.
    pub items: Vec<RequestItemView>,
}

/// The practice's requests that have an item in `status`: clinician-routed first, then oldest
/// first, at most `limit`.
pub async fn queue(
    db: &impl ConnectionTrait,
    staff: &StaffActor,
    status: ItemStatus,
    limit: u64,
    _now: DateTime<Utc>,
) -> Result<Vec<StaffRequestView>, AppError> {
    let stored = match status {
        ItemStatus::Requested => RequestItemStatus::Requested,
        ItemStatus::Approved => RequestItemStatus::Approved,
        ItemStatus::Rejected => RequestItemStatus::Rejected,
        ItemStatus::Cancelled => RequestItemStatus::Cancelled,
    };
    let with_items = |routed_only: bool| {
        let mut query = Query::select()
            .column(items::Column::RequestId)
            .from(items::Entity)
            .and_where(items::Column::Status.eq(stored))
            .to_owned();
        if routed_only {
            query.and_where(items::Column::RoutedToClinician.eq(true));
        }
        query
    };
    let find = |routed_only: bool| {
        requests::Entity::find()
            .filter(requests::Column::PatientId.in_subquery(patients_of(staff.practice_id)))
            .filter(requests::Column::Id.in_subquery(with_items(routed_only)))
            .order_by_asc(requests::Column::CreatedAt)
            .order_by_asc(requests::Column::Id)
            .limit(limit)
    };
    let mut list = find(true).all(db).await?;
    let routed: HashSet<Uuid> = list.iter().map(|r| r.id).collect();
    for request in find(false).all(db).await? {
        if list.len() as u64 >= limit {
            break;
        }
        if !routed.contains(&request.id) {
            list.push(request);
        }
    }
    list.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let (all_items, courses) = items_of(db, list.iter().map(|r| r.id).collect()).await?;
    let patient_ids: BTreeSet<Uuid> = list.iter().map(|r| r.patient_id).collect();
    let patients: HashMap<Uuid, patients::Model> = patients::Entity::find()
        .filter(patients::Column::Id.is_in(patient_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut by_request: HashMap<Uuid, Vec<RequestItemView>> = HashMap::new();
    for item in all_items {
        let course = courses
            .get(&item.course_id)
            .ok_or_else(|| AppError::internal("a requested course is missing"))?;
        by_request
            .entry(item.request_id)
            .or_default()
            .push(item_view(item, course));
    }
    list.into_iter()
        .map(|request| {
            let patient = patients
                .get(&request.patient_id)
                .ok_or_else(|| AppError::internal("a request's patient is missing"))?;
            let items = by_request.remove(&request.id).unwrap_or_default();
            Ok(StaffRequestView {
                id: request.id,
                patient: QueuePatient {
                    id: patient.id,
                    given_name: patient.given_name.clone(),
                    family_name: patient.family_name.clone(),
                    nhs_number: patient.nhs_number.clone(),
                    date_of_birth: patient.date_of_birth,
                },
                created_at: request.created_at,
                requested_by_proxy: request.requested_by_proxy,
                pharmacy_ods: stored_code(request.pharmacy_ods.as_deref()),
                note: request.note,
                routed_to_clinician: routed.contains(&request.id),
                items,
            })
        })
        .collect()
}

/// Parses the queue's `status` (default `requested`).
pub fn parse_status(text: Option<&str>) -> Result<ItemStatus, Invalid> {
    match text.map(str::trim) {
        None | Some("requested") => Ok(ItemStatus::Requested),
        Some("approved") => Ok(ItemStatus::Approved),
        Some("rejected") => Ok(ItemStatus::Rejected),
        Some("cancelled") => Ok(ItemStatus::Cancelled),
        Some(_) => Err(Invalid::new(
            "invalid_value",
            "one of requested, approved, rejected, cancelled",
        )),
    }
}

/// Parses the queue's `limit` (default [`DEFAULT_QUEUE_LIMIT`], 1 to [`MAX_QUEUE_LIMIT`]).
pub fn parse_limit(text: Option<&str>) -> Result<u64, Invalid> {
    crate::validate::limit(text, DEFAULT_QUEUE_LIMIT, MAX_QUEUE_LIMIT)
}

/// A clinician's decision on one requested course, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Issue it.
    Approve,
    /// Refuse it, with a reason shown to the patient.
    Reject {
        /// Why (at most [`MAX_REJECTION_REASON_CHARS`] characters).
        reason: String,
    },
}

impl Decision {
    /// A rejection; the reason is required.
    pub fn reject(reason: Option<String>) -> Result<Self, AppError> {
        let mut v = Validator::new();
        let reason = v
            .check(
                "reason",
                optional_text(reason, MAX_REJECTION_REASON_CHARS).and_then(|r| {
                    r.ok_or_else(|| Invalid::new("required", "a reason is required"))
                }),
            )
            .unwrap_or_default();
        v.finish()?;
        Ok(Self::Reject { reason })
    }

    pub(super) fn action(&self) -> &'static str {
        match self {
            Self::Approve => "prescription.approve",
            Self::Reject { .. } => "prescription.reject",
        }
    }

    pub(super) fn target(&self) -> RequestItemStatus {
        match self {
            Self::Approve => RequestItemStatus::Approved,
            Self::Reject { .. } => RequestItemStatus::Rejected,
        }
    }
}

/// What a decision does to an item in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The item moves to the decision's state.
    Apply,
    /// The item already carries this decision: nothing to write.
    Replay,
}

/// The state machine without I/O: apply, replay, or `request_not_pending`.
pub fn transition(current: &items::Model, decision: &Decision) -> Result<Transition, AppError> {
    match (current.status, decision) {
        (RequestItemStatus::Requested, _) => Ok(Transition::Apply),
        (RequestItemStatus::Approved, Decision::Approve) => Ok(Transition::Replay),
        (RequestItemStatus::Rejected, Decision::Reject { reason })
            if current.rejection_reason.as_deref() == Some(reason.as_str()) =>
        {
            Ok(Transition::Replay)
        }
        (status, _) => Err(AppError::new(ErrorCode::RequestNotPending)
            .with_detail(format!("the item is {}", ItemStatus::from(status).as_str()))),
    }
}

/// An item after a decision.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DecidedItem {
    /// The request.
    pub request_id: Uuid,
    /// Its patient.
    pub patient_id: Uuid,
    /// The item as it now is.
    pub item: RequestItemView,
    /// The course's issue dates as they now are.
    pub last_issue_date: Option<NaiveDate>,
    /// When the next issue is due.
    pub next_issue_date: Option<NaiveDate>,
}

/// Applies a clinician's decision to one requested course of their practice, in one transaction
/// with its audit event, the projection outbox row and the patient's notification. Approval
/// issues the course: last issue today, next issue [`ISSUE_INTERVAL_DAYS`] later.
pub async fn decide(
    db: &DatabaseConnection,
    staff: &StaffActor,
    request_id: Uuid,
    item_id: Uuid,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<DecidedItem, AppError> {
    staff.require_clinician(CLINICIAN_DECIDES)?;
    let today = now.date_naive();
    let txn = crate::db::begin_write(db).await?;
    let request = requests::Entity::find_by_id(request_id)
        .filter(requests::Column::PatientId.in_subquery(patients_of(staff.practice_id)))
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    let item = items::Entity::find_by_id(item_id)
        .filter(items::Column::RequestId.eq(request.id))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    let course = courses::Entity::find_by_id(item.course_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::internal("a requested course is missing"))?;
    if transition(&item, decision)? == Transition::Replay {
        txn.rollback().await?;
        return Ok(DecidedItem {
            request_id,
            patient_id: request.patient_id,
            last_issue_date: course.last_issue_date,
            next_issue_date: course.next_issue_date,
            item: item_view(item, &course),
        });
    }
    let reason = match decision {
        Decision::Approve => None,
        Decision::Reject { reason } => Some(reason.clone()),
    };
    items::Entity::update_many()
        .col_expr(items::Column::Status, Expr::value(decision.target()))
        .col_expr(
            items::Column::PendingCourseId,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(items::Column::RejectionReason, Expr::value(reason.clone()))
        .col_expr(items::Column::DecidedAt, Expr::value(now))
        .col_expr(items::Column::DecidedByStaffId, Expr::value(staff.staff_id))
        .col_expr(items::Column::UpdatedAt, Expr::value(now))
        .filter(items::Column::Id.eq(item.id))
        .exec(&txn)
        .await?;
    let (mut last, mut next) = (course.last_issue_date, course.next_issue_date);
    if *decision == Decision::Approve {
        last = Some(today);
        next = Some(today + Duration::days(ISSUE_INTERVAL_DAYS));
        courses::Entity::update_many()
            .col_expr(courses::Column::LastIssueDate, Expr::value(last))
            .col_expr(courses::Column::NextIssueDate, Expr::value(next))
            .col_expr(courses::Column::UpdatedAt, Expr::value(now))
            .filter(courses::Column::Id.eq(course.id))
            .exec(&txn)
            .await?;
    }
    let action = decision.action();
    staff
        .audit(action, request.patient_id)
        .target("prescription_request_item", item.id)
        .detail(serde_json::json!({
            "request_id": request.id,
            "course_id": course.id,
            "from": ItemStatus::from(item.status).as_str(),
            "to": ItemStatus::from(decision.target()).as_str(),
            "routed_to_clinician": item.routed_to_clinician,
        }))
        .record(&txn, now)
        .await?;
    outbox::mark_dirty(
        &txn,
        request.practice_id,
        request.patient_id,
        SECTION,
        action,
        now,
    )
    .await?;
    outbox::notify(
        &txn,
        request.patient_id,
        "prescription_updated",
        now,
        |viewer, facts, today| {
            rules::holds_scope(viewer, facts, Scope::Prescriptions, today)
                && !rules::course_hidden(viewer, &course)
        },
    )
    .await?;
    txn.commit().await?;
    let decided = items::Model {
        status: decision.target(),
        pending_course_id: None,
        rejection_reason: reason,
        decided_at: Some(now),
        decided_by_staff_id: Some(staff.staff_id),
        updated_at: now,
        ..item
    };
    Ok(DecidedItem {
        request_id,
        patient_id: request.patient_id,
        item: item_view(decided, &course),
        last_issue_date: last,
        next_issue_date: next,
    })
}

/// The ids of the practice's patients, as a subquery.
pub(super) fn patients_of(practice_id: Uuid) -> SelectStatement {
    Query::select()
        .column(patients::Column::Id)
        .from(patients::Entity)
        .and_where(patients::Column::PracticeId.eq(practice_id))
        .to_owned()
}
