//! Ordering repeats: an order of several courses succeeds in part, with a code for each refused
//! course; a unique index keeps one pending request per course.

use super::*;
use crate::idempotent::{self, IdempotentCall};

/// A validated order: distinct course ids and an optional note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The courses, in the order given.
    pub course_ids: Vec<Uuid>,
    /// A note to the practice (trimmed; blank means none).
    pub note: Option<String>,
}

impl Order {
    /// Validates an order: 1 to [`MAX_COURSES_PER_ORDER`] distinct course ids and a note of at
    /// most [`MAX_NOTE_CHARS`] characters. Every bad field is reported at once.
    pub fn new(course_ids: Option<Vec<Uuid>>, note: Option<String>) -> Result<Self, AppError> {
        let mut v = Validator::new();
        let course_ids = course_ids.unwrap_or_default();
        if course_ids.is_empty() {
            v.check::<()>(
                "course_ids",
                Err(Invalid::new("required", "name at least one course")),
            );
        } else if course_ids.len() > MAX_COURSES_PER_ORDER {
            v.check::<()>(
                "course_ids",
                Err(Invalid::new(
                    "too_many",
                    format!("at most {MAX_COURSES_PER_ORDER} courses in one order"),
                )),
            );
        }
        let mut seen = HashSet::new();
        for (index, id) in course_ids.iter().enumerate() {
            if !seen.insert(*id) {
                v.check::<()>(
                    format!("course_ids[{index}]"),
                    Err(Invalid::new(
                        "duplicate",
                        "this course is already in the order",
                    )),
                );
            }
        }
        let note = v
            .check("note", optional_text(note, MAX_NOTE_CHARS))
            .flatten();
        v.finish()?;
        Ok(Self { course_ids, note })
    }
}

/// Why one course of an order was not requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// A request for this course is already waiting for the practice.
    AlreadyPending,
    /// It was issued or approved within the practice's reorder interval (30 days by default).
    OrderedRecently,
    /// It cannot be ordered online: acute, ended, not requestable, or not a course of this
    /// patient that the viewer can see.
    NotRequestable,
}

impl RefusalCode {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::AlreadyPending => "already_pending",
            Self::OrderedRecently => "ordered_recently",
            Self::NotRequestable => "not_requestable",
        }
    }
}

/// A course that was requested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OrderedCourse {
    /// The course.
    pub course_id: Uuid,
    /// Past its review date: a clinician will look at it before it is issued.
    pub routed_to_clinician: bool,
}

/// A course that was not requested, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RefusedCourse {
    /// The course id as given.
    pub course_id: Uuid,
    /// The stable reason.
    pub code: RefusalCode,
}

/// The reply to an order with at least one course requested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OrderReceipt {
    /// The new request.
    pub request_id: Uuid,
    /// Courses requested.
    pub successful: Vec<OrderedCourse>,
    /// Courses refused, each with its code.
    pub unsuccessful: Vec<RefusedCourse>,
}

/// What an order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderOutcome {
    /// A request was created for the successful courses.
    Ordered(OrderReceipt),
    /// No course could be requested; nothing was stored.
    NothingOrdered(Vec<RefusedCourse>),
}

/// Whether the course was issued, or a request for it approved, within the reorder interval.
pub(super) async fn ordered_recently(
    txn: &impl ConnectionTrait,
    course: &courses::Model,
    interval_days: u32,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    if interval_days == 0 {
        return Ok(false);
    }
    let since = now - Duration::days(i64::from(interval_days));
    if course
        .last_issue_date
        .is_some_and(|issued| issued > since.date_naive())
    {
        return Ok(true);
    }
    let approved = items::Entity::find()
        .filter(items::Column::CourseId.eq(course.id))
        .filter(items::Column::Status.eq(RequestItemStatus::Approved))
        .filter(items::Column::CreatedAt.gt(since))
        .one(txn)
        .await?;
    Ok(approved.is_some())
}

/// Orders repeat courses for the patient: each course is requested or refused on its own. The
/// request records the orderer, whether they are a proxy, and the pharmacy nominated now.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn order(
    db: &impl crate::db::Writer,
    actor: &Actor,
    facts: &PatientFacts,
    order: Order,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<OrderOutcome, AppError> {
    let today = now.date_naive();
    access::require_service(&actor.viewer, facts, Scope::Prescriptions, today)?;
    let interval = reorder_interval_days(facts);
    let txn = crate::db::begin_write(db).await?;
    let patient = patients::Entity::find_by_id(facts.patient.id)
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    let found: HashMap<Uuid, courses::Model> = courses::Entity::find()
        .filter(courses::Column::Id.is_in(order.course_ids.iter().copied()))
        .filter(courses::Column::PatientId.eq(patient.id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let request_id = Uuid::new_v4();
    let pharmacy = stored_code(patient.nominated_pharmacy_ods.as_deref());
    requests::ActiveModel {
        id: Set(request_id),
        practice_id: Set(patient.practice_id),
        patient_id: Set(patient.id),
        requested_by_account_id: Set(actor.account_id()),
        requested_by_proxy: Set(actor.is_proxy()),
        note: Set(order.note.clone()),
        pharmacy_ods: Set(pharmacy.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;

    let mut successful = Vec::new();
    let mut unsuccessful = Vec::new();
    for course_id in &order.course_ids {
        let refuse = |code| RefusedCourse {
            course_id: *course_id,
            code,
        };
        let Some(course) = found
            .get(course_id)
            .filter(|c| course_requestable(&actor.viewer, c, today))
        else {
            unsuccessful.push(refuse(RefusalCode::NotRequestable));
            continue;
        };
        if ordered_recently(&txn, course, interval, now).await? {
            unsuccessful.push(refuse(RefusalCode::OrderedRecently));
            continue;
        }
        let routed = review_due(course, today);
        // The unique index on pending_course_id decides: a course already pending elsewhere
        // (committed, or being committed by a concurrent order) inserts nothing.
        let inserted = items::Entity::insert(items::ActiveModel {
            id: Set(Uuid::new_v4()),
            practice_id: Set(patient.practice_id),
            request_id: Set(request_id),
            course_id: Set(course.id),
            pending_course_id: Set(Some(course.id)),
            status: Set(RequestItemStatus::Requested),
            routed_to_clinician: Set(routed),
            rejection_reason: Set(None),
            decided_at: Set(None),
            decided_by_staff_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(items::Column::PendingCourseId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if inserted == 0 {
            unsuccessful.push(refuse(RefusalCode::AlreadyPending));
        } else {
            successful.push(OrderedCourse {
                course_id: course.id,
                routed_to_clinician: routed,
            });
        }
    }

    let refused_detail: Vec<_> = unsuccessful
        .iter()
        .map(|r| serde_json::json!({"course_id": r.course_id, "code": r.code.as_str()}))
        .collect();
    if successful.is_empty() {
        txn.rollback().await?;
        let mut event = actor
            .audit("prescription.order", facts)
            .target("patient", patient.id)
            .detail(serde_json::json!({ "refused": refused_detail }));
        event.outcome = Outcome::Failure;
        event.record(db, now).await?;
        return Ok(OrderOutcome::NothingOrdered(unsuccessful));
    }
    actor
        .audit("prescription.order", facts)
        .target("prescription_request", request_id)
        .detail(serde_json::json!({
            "ordered": successful.iter().map(|s| s.course_id).collect::<Vec<_>>(),
            "routed_to_clinician": successful.iter().filter(|s| s.routed_to_clinician)
                .map(|s| s.course_id).collect::<Vec<_>>(),
            "refused": refused_detail,
            "with_note": order.note.is_some(),
            "pharmacy": pharmacy,
        }))
        .record(&txn, now)
        .await?;
    outbox::mark_dirty(
        &txn,
        patient.practice_id,
        patient.id,
        SECTION,
        "prescription.order",
        now,
    )
    .await?;
    let receipt = OrderReceipt {
        request_id,
        successful,
        unsuccessful,
    };
    idempotent::store(call, &txn, 201, &receipt).await?;
    txn.commit().await?;
    Ok(OrderOutcome::Ordered(receipt))
}
