//! Repeat prescriptions: a patient's medication courses, orders of repeat courses, the
//! practice's decisions on them, the nominated pharmacy, and the clinical system's course feed.
//!
//! Every function takes its connection, the actor, the patient's facts (for patient-side calls),
//! its validated input and `now`, and returns a typed outcome, so the REST handlers and (later)
//! offline sync intents share one implementation. No HTTP types appear here.
//!
//! An order is partially successful by design: each course is accepted or refused on its own
//! with a stable code ([`RefusalCode`]). A course that already has a pending request is refused
//! by the database itself (`prescription_request_items.pending_course_id` is unique and equal to
//! the course id while the item is `requested`), so two concurrent orders of one course leave
//! exactly one pending. A course past its review date is accepted and routed to a clinician.
//!
//! The request item state machine:
//!
//! ```text
//!             approve (clinician)
//! requested ─────────────────────► approved   (course issued: last issue today)
//!     │  └──── reject (clinician) ─► rejected  (with a reason shown to the patient)
//!     └─────── cancel (patient) ───► cancelled
//! ```
//!
//! Repeating a decision an item already carries (approve an approved item, reject a rejected
//! one with the same reason) answers the current state and writes nothing; any other move from
//! a decided item is `request_not_pending`. Every change is one transaction with its audit event
//! (codes and ids only: never the note or the rejection reason), the `medications` projection
//! outbox row and, for decisions, the patient's content-free notification.

use crate::access::rules::{self, PatientFacts};
use crate::access::{self, Actor, Scope, StaffActor, Viewer};
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::courses::{self, CourseType};
use crate::db::entities::prescription_request_items::{self as items, RequestItemStatus};
use crate::db::entities::staff::StaffRole;
use crate::db::entities::{patients, prescription_requests as requests};
use crate::error::{AppError, ErrorCode};
use crate::identity::integration::IntegrationClient;
use crate::record::outbox;
use crate::record::review::QueuePatient;
use crate::validate::{Invalid, InvalidField, Validator};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use utoipa::ToSchema;
use uuid::Uuid;

/// Longest note on an order, in characters.
pub const MAX_NOTE_CHARS: usize = 500;
/// Most courses in one order.
pub const MAX_COURSES_PER_ORDER: usize = 50;
/// Longest rejection reason, in characters.
pub const MAX_REJECTION_REASON_CHARS: usize = 500;
/// Days an approved issue lasts: `next_issue_date` is the approval day plus this.
pub const ISSUE_INTERVAL_DAYS: i64 = 28;
/// Most requests listed for a patient (newest first).
pub const MAX_LISTED_REQUESTS: u64 = 100;
/// Queue size when none is asked for.
pub const DEFAULT_QUEUE_LIMIT: u64 = 100;
/// Largest queue page.
pub const MAX_QUEUE_LIMIT: u64 = 500;
/// Most courses in one integration feed.
pub const MAX_COURSES_PER_FEED: usize = 1000;
/// Longest free-text course field (medication, dosage, quantity, external ids).
const MAX_COURSE_TEXT: usize = 255;
/// The projection section courses and requests belong to.
const SECTION: &str = "medications";

// ---------------------------------------------------------------------------------------------
// Pharmacy ODS codes
// ---------------------------------------------------------------------------------------------

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
fn stored_code(code: Option<&str>) -> Option<String> {
    code.map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// Who may act
// ---------------------------------------------------------------------------------------------

/// Refuses (403) unless the staff member is a clinician: admins may view the queue only.
pub fn require_clinician(staff: &StaffActor) -> Result<(), AppError> {
    if staff.role == StaffRole::Clinician {
        Ok(())
    } else {
        Err(AppError::new(ErrorCode::Forbidden)
            .with_detail("only a clinician can approve or reject a prescription request"))
    }
}

fn reorder_interval_days(facts: &PatientFacts) -> u32 {
    facts.settings().reorder_interval_days
}

// ---------------------------------------------------------------------------------------------
// Courses
// ---------------------------------------------------------------------------------------------

/// A course's prescribing type, on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CourseKind {
    /// A one-off prescription: never requestable.
    Acute,
    /// A repeat prescription.
    Repeat,
    /// Electronic repeat dispensing (batch issues at the pharmacy).
    RepeatDispensing,
    /// Issued automatically.
    Automatic,
}

impl From<CourseType> for CourseKind {
    fn from(value: CourseType) -> Self {
        match value {
            CourseType::Acute => Self::Acute,
            CourseType::Repeat => Self::Repeat,
            CourseType::RepeatDispensing => Self::RepeatDispensing,
            CourseType::Automatic => Self::Automatic,
        }
    }
}

impl From<CourseKind> for CourseType {
    fn from(value: CourseKind) -> Self {
        match value {
            CourseKind::Acute => Self::Acute,
            CourseKind::Repeat => Self::Repeat,
            CourseKind::RepeatDispensing => Self::RepeatDispensing,
            CourseKind::Automatic => Self::Automatic,
        }
    }
}

/// Whether the viewer may order this course: visible, not acute, and marked requestable by the
/// clinical system.
pub fn course_requestable(viewer: &Viewer, course: &courses::Model, today: NaiveDate) -> bool {
    crate::access::rules::course_visible(viewer, course, today)
        && course.course_type != CourseType::Acute
        && course.can_be_requested
}

/// Whether the course is past its review date (an order is then routed to a clinician).
pub fn review_due(course: &courses::Model, today: NaiveDate) -> bool {
    course.review_date.is_some_and(|review| review < today)
}

/// A current course as the patient sees it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CourseView {
    /// The course (use it in `course_ids` of an order).
    pub id: Uuid,
    /// The medicine.
    pub medication: String,
    /// How to take it.
    pub dosage: String,
    /// How much is issued.
    pub quantity: String,
    /// `acute`, `repeat`, `repeat_dispensing` or `automatic`.
    #[serde(rename = "type")]
    pub course_type: CourseKind,
    /// Whether it can be ordered online now (not acute, marked requestable, not ended).
    pub can_be_requested: bool,
    /// When it was last issued.
    pub last_issue_date: Option<NaiveDate>,
    /// When the next issue is due.
    pub next_issue_date: Option<NaiveDate>,
    /// When a clinician should review it.
    pub review_date: Option<NaiveDate>,
    /// Past its review date: an order goes to a clinician.
    pub review_due: bool,
    /// Whether a request for it is waiting for the practice.
    pub request_pending: bool,
    /// That request, if any.
    pub pending_request_id: Option<Uuid>,
}

/// The patient's current courses the viewer may see, by medication name.
pub async fn list_courses(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facts: &PatientFacts,
    now: DateTime<Utc>,
) -> Result<Vec<CourseView>, AppError> {
    let today = now.date_naive();
    access::require_service(&actor.viewer, facts, Scope::Prescriptions, today)?;
    let visible: Vec<courses::Model> = courses::Entity::find()
        .filter(courses::Column::PatientId.eq(facts.patient.id))
        .order_by_asc(courses::Column::Medication)
        .order_by_asc(courses::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .filter(|c| crate::access::rules::course_visible(&actor.viewer, c, today))
        .collect();
    let ids: Vec<Uuid> = visible.iter().map(|c| c.id).collect();
    let pending: HashMap<Uuid, Uuid> = items::Entity::find()
        .filter(items::Column::PendingCourseId.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|item| (item.course_id, item.request_id))
        .collect();
    Ok(visible
        .into_iter()
        .map(|c| CourseView {
            can_be_requested: course_requestable(&actor.viewer, &c, today),
            review_due: review_due(&c, today),
            request_pending: pending.contains_key(&c.id),
            pending_request_id: pending.get(&c.id).copied(),
            id: c.id,
            medication: c.medication,
            dosage: c.dosage,
            quantity: c.quantity,
            course_type: c.course_type.into(),
            last_issue_date: c.last_issue_date,
            next_issue_date: c.next_issue_date,
            review_date: c.review_date,
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------------

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
                Err(invalid("required", "name at least one course")),
            );
        } else if course_ids.len() > MAX_COURSES_PER_ORDER {
            v.check::<()>(
                "course_ids",
                Err(invalid(
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
                    Err(invalid("duplicate", "this course is already in the order")),
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
    fn as_str(self) -> &'static str {
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
async fn ordered_recently(
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
pub async fn order(
    db: &DatabaseConnection,
    actor: &Actor,
    facts: &PatientFacts,
    order: Order,
    now: DateTime<Utc>,
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
    outbox::mark_dirty(&txn, patient.id, SECTION, "prescription.order", now).await?;
    txn.commit().await?;
    Ok(OrderOutcome::Ordered(OrderReceipt {
        request_id,
        successful,
        unsuccessful,
    }))
}

// ---------------------------------------------------------------------------------------------
// Requests as the patient sees them
// ---------------------------------------------------------------------------------------------

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
    fn as_str(self) -> &'static str {
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

fn item_view(item: items::Model, course: &courses::Model) -> RequestItemView {
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
async fn items_of(
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
fn views_for(
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
pub async fn cancel_request(
    db: &DatabaseConnection,
    actor: &Actor,
    facts: &PatientFacts,
    request_id: Uuid,
    now: DateTime<Utc>,
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
    outbox::mark_dirty(&txn, facts.patient.id, SECTION, "prescription.cancel", now).await?;
    let (all_items, courses) = items_of(&txn, vec![request.id]).await?;
    txn.commit().await?;
    views_for(actor, vec![request], all_items, &courses)
        .pop()
        .ok_or_else(AppError::not_found)
}

// ---------------------------------------------------------------------------------------------
// Nominated pharmacy
// ---------------------------------------------------------------------------------------------

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
    outbox::mark_dirty(&txn, patient.id, SECTION, "pharmacy.change", now).await?;
    txn.commit().await?;
    Ok(PharmacyView {
        ods_code: Some(pharmacy.as_str().to_owned()),
    })
}

// ---------------------------------------------------------------------------------------------
// The practice's queue and decisions
// ---------------------------------------------------------------------------------------------

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
        Some(_) => Err(invalid(
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
                optional_text(reason, MAX_REJECTION_REASON_CHARS)
                    .and_then(|r| r.ok_or_else(|| invalid("required", "a reason is required"))),
            )
            .unwrap_or_default();
        v.finish()?;
        Ok(Self::Reject { reason })
    }

    fn action(&self) -> &'static str {
        match self {
            Self::Approve => "prescription.approve",
            Self::Reject { .. } => "prescription.reject",
        }
    }

    fn target(&self) -> RequestItemStatus {
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
    require_clinician(staff)?;
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
    outbox::mark_dirty(&txn, request.patient_id, SECTION, action, now).await?;
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
fn patients_of(practice_id: Uuid) -> SelectStatement {
    Query::select()
        .column(patients::Column::Id)
        .from(patients::Entity)
        .and_where(patients::Column::PracticeId.eq(practice_id))
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// The clinical system's course feed
// ---------------------------------------------------------------------------------------------

/// One course from the clinical system.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CourseImport {
    /// The patient's id in the clinical system.
    pub patient_external_id: String,
    /// The course's id in the clinical system: re-sending it updates the course in place.
    pub external_id: String,
    /// SNOMED CT (dm+d) concept id of the medicine.
    pub snomed_code: String,
    /// The medicine.
    pub medication: String,
    /// How to take it.
    pub dosage: String,
    /// How much is issued.
    pub quantity: String,
    /// `acute`, `repeat`, `repeat_dispensing` or `automatic`.
    pub course_type: CourseKind,
    /// Whether the patient may order it online.
    pub can_be_requested: bool,
    /// When it was last issued.
    #[serde(default)]
    pub last_issue_date: Option<NaiveDate>,
    /// When the next issue is due.
    #[serde(default)]
    pub next_issue_date: Option<NaiveDate>,
    /// When a clinician should review it.
    #[serde(default)]
    pub review_date: Option<NaiveDate>,
    /// When it ended, if it has.
    #[serde(default)]
    pub ended_on: Option<NaiveDate>,
    /// Hidden from online access entirely.
    #[serde(default)]
    pub hidden: bool,
    /// Hidden from proxies (the patient still sees it).
    #[serde(default)]
    pub hidden_from_proxies: bool,
}

/// A feed of courses: all stored or none.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoursesImport {
    /// Up to [`MAX_COURSES_PER_FEED`] courses.
    pub courses: Vec<CourseImport>,
}

/// What a feed did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CoursesImported {
    /// Courses new to the server.
    pub created: u32,
    /// Courses updated in place (matched by patient and external id).
    pub updated: u32,
}

fn invalid(code: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        code,
        reason: reason.into(),
    }
}

/// Trimmed text of at most `max` characters; blank means none.
fn optional_text(value: Option<String>, max: usize) -> Result<Option<String>, Invalid> {
    let Some(value) = value else {
        return Ok(None);
    };
    let trimmed = value.trim();
    if trimmed.chars().count() > max {
        return Err(invalid("too_long", format!("at most {max} characters")));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// A required single line of at most `max` characters.
fn line(value: &str, max: usize) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid("required", "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(invalid("too_long", format!("at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

fn snomed_code(value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if (6..=18).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(invalid(
            "invalid_snomed_code",
            "a SNOMED CT code has 6 to 18 digits",
        ))
    }
}

/// A validated course of a feed.
struct ValidCourse {
    patient_external_id: String,
    external_id: String,
    snomed_code: String,
    medication: String,
    dosage: String,
    quantity: String,
    source: CourseImport,
}

/// Creates or updates the practice's courses, matched by (patient, external id), all or
/// nothing; a bad feed is a 422 naming every bad field (`courses[2].snomed_code`).
pub async fn import_courses(
    db: &DatabaseConnection,
    client: IntegrationClient,
    feed: CoursesImport,
    now: DateTime<Utc>,
) -> Result<CoursesImported, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let done = import_courses_in(&txn, client, feed, now).await?;
    txn.commit().await?;
    Ok(done)
}

/// [`import_courses`] on the caller's transaction, so several imports can commit as one.
pub async fn import_courses_in(
    txn: &DatabaseTransaction,
    client: IntegrationClient,
    feed: CoursesImport,
    now: DateTime<Utc>,
) -> Result<CoursesImported, AppError> {
    if feed.courses.len() > MAX_COURSES_PER_FEED {
        return Err(AppError::invalid_field(
            "courses",
            invalid(
                "too_many",
                format!("at most {MAX_COURSES_PER_FEED} courses in one feed"),
            ),
        ));
    }
    let mut v = Validator::new();
    let mut valid = Vec::new();
    let mut keys = HashSet::new();
    let mut patient_refs = Vec::new();
    for (i, course) in feed.courses.into_iter().enumerate() {
        let at = |field: &str| format!("courses[{i}].{field}");
        let patient = v.check(
            at("patient_external_id"),
            line(&course.patient_external_id, MAX_COURSE_TEXT),
        );
        let external = v.check(
            at("external_id"),
            line(&course.external_id, MAX_COURSE_TEXT),
        );
        let snomed = v.check(at("snomed_code"), snomed_code(&course.snomed_code));
        let medication = v.check(at("medication"), line(&course.medication, MAX_COURSE_TEXT));
        let dosage = v.check(at("dosage"), line(&course.dosage, MAX_COURSE_TEXT));
        let quantity = v.check(at("quantity"), line(&course.quantity, MAX_COURSE_TEXT));
        if let Some(p) = &patient {
            patient_refs.push((i, p.clone()));
        }
        if let (Some(p), Some(e)) = (&patient, &external)
            && !keys.insert((p.clone(), e.clone()))
        {
            v.check::<()>(
                at("external_id"),
                Err(invalid(
                    "duplicate_external_id",
                    "this course appears more than once in the feed",
                )),
            );
        }
        if let (Some(patient_external_id), Some(external_id), Some(snomed_code)) =
            (patient, external, snomed)
            && let (Some(medication), Some(dosage), Some(quantity)) = (medication, dosage, quantity)
        {
            valid.push((
                i,
                ValidCourse {
                    patient_external_id,
                    external_id,
                    snomed_code,
                    medication,
                    dosage,
                    quantity,
                    source: course,
                },
            ));
        }
    }

    let wanted: BTreeSet<&str> = patient_refs.iter().map(|(_, p)| p.as_str()).collect();
    let patients: HashMap<String, Uuid> = patients::Entity::find()
        .filter(patients::Column::PracticeId.eq(client.practice_id))
        .filter(patients::Column::ExternalId.is_in(wanted.iter().copied()))
        .all(txn)
        .await?
        .into_iter()
        .filter_map(|p| p.external_id.map(|e| (e, p.id)))
        .collect();
    for (i, patient_external_id) in &patient_refs {
        if !patients.contains_key(patient_external_id) {
            v.check::<()>(
                format!("courses[{i}].patient_external_id"),
                Err(invalid(
                    "unknown_patient",
                    "no patient with this external id at this practice",
                )),
            );
        }
    }
    if let Err(fields) = v.finish() {
        return Err(AppError::validation(fields));
    }

    let mut summary = CoursesImported {
        created: 0,
        updated: 0,
    };
    let mut dirty = BTreeSet::new();
    for (_, course) in valid {
        let Some(&patient_id) = patients.get(&course.patient_external_id) else {
            continue;
        };
        let existing = courses::Entity::find()
            .filter(courses::Column::PatientId.eq(patient_id))
            .filter(courses::Column::ExternalId.eq(course.external_id.as_str()))
            .one(txn)
            .await?;
        let s = &course.source;
        let mut model = courses::ActiveModel {
            patient_id: Set(patient_id),
            external_id: Set(Some(course.external_id.clone())),
            snomed_code: Set(course.snomed_code),
            medication: Set(course.medication),
            dosage: Set(course.dosage),
            quantity: Set(course.quantity),
            course_type: Set(s.course_type.into()),
            can_be_requested: Set(s.can_be_requested),
            last_issue_date: Set(s.last_issue_date),
            next_issue_date: Set(s.next_issue_date),
            review_date: Set(s.review_date),
            hidden: Set(s.hidden),
            hidden_from_proxies: Set(s.hidden_from_proxies),
            ended_on: Set(s.ended_on),
            updated_at: Set(now),
            ..Default::default()
        };
        match existing {
            Some(existing) => {
                model.id = Set(existing.id);
                model.update(txn).await?;
                summary.updated += 1;
            }
            None => {
                model.id = Set(Uuid::new_v4());
                model.created_at = Set(now);
                model.insert(txn).await?;
                summary.created += 1;
            }
        }
        dirty.insert(patient_id);
    }
    for patient_id in &dirty {
        outbox::mark_dirty(txn, *patient_id, SECTION, "courses.import", now).await?;
    }
    AuditEvent::new("courses.import", ActorKind::Integration, Outcome::Success)
        .actor(client.key_id)
        .practice(client.practice_id)
        .target("courses_feed", client.key_id)
        .detail(serde_json::json!({
            "created": summary.created,
            "updated": summary.updated,
            "patients_changed": dirty.len(),
        }))
        .record(txn, now)
        .await?;
    Ok(summary)
}

/// The invalid fields of a bad pharmacy nomination, for callers that build their own 422.
pub fn pharmacy_field(ods_code: Option<&str>) -> Result<PharmacyOdsCode, Vec<InvalidField>> {
    let mut v = Validator::new();
    let parsed = v.check(
        "ods_code",
        ods_code
            .ok_or_else(|| invalid("required", "a pharmacy ODS code is required"))
            .and_then(PharmacyOdsCode::parse),
    );
    v.finish()?;
    parsed.ok_or_else(Vec::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pharmacy_codes_are_five_characters_starting_with_f() {
        for valid in ["FQ123", "fq123", " FA1B2 ", "FLM49"] {
            assert!(PharmacyOdsCode::parse(valid).is_ok(), "{valid}");
        }
        assert_eq!(PharmacyOdsCode::parse("fq123").unwrap().as_str(), "FQ123");
        for invalid in ["A81001", "Q1234", "FQ12", "FQ1234", "F-123", "", "FQ12é"] {
            assert_eq!(
                PharmacyOdsCode::parse(invalid).err().map(|e| e.code),
                Some("invalid_pharmacy_ods_code"),
                "{invalid}"
            );
        }
        let missing = pharmacy_field(None).unwrap_err();
        assert_eq!(
            (missing[0].name.as_str(), missing[0].code),
            ("ods_code", "required")
        );
    }

    #[test]
    fn orders_need_distinct_courses_and_a_short_note() {
        let a = Uuid::new_v4();
        let order = Order::new(Some(vec![a]), Some("  ".to_owned())).unwrap();
        assert_eq!(order.note, None);
        let error = Order::new(Some(vec![]), None).unwrap_err();
        assert_eq!(error.invalid_params()[0].name, "course_ids");
        let error = Order::new(Some(vec![a, a]), Some("x".repeat(MAX_NOTE_CHARS + 1))).unwrap_err();
        let names: Vec<&str> = error
            .invalid_params()
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["course_ids[1]", "note"]);
        assert!(Order::new(Some(vec![a]), Some("é".repeat(MAX_NOTE_CHARS))).is_ok());
    }

    fn course(course_type: CourseType) -> courses::Model {
        let now = DateTime::<Utc>::default();
        courses::Model {
            id: Uuid::new_v4(),
            patient_id: Uuid::new_v4(),
            external_id: None,
            snomed_code: "322236009".to_owned(),
            medication: "Paracetamol 500mg tablets".to_owned(),
            dosage: "Two four times a day".to_owned(),
            quantity: "100 tablets".to_owned(),
            course_type,
            can_be_requested: true,
            last_issue_date: None,
            next_issue_date: None,
            review_date: None,
            hidden: false,
            hidden_from_proxies: false,
            ended_on: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn requestability_follows_type_flag_visibility_and_end() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let patient = Viewer::Patient {
            account_id: Uuid::new_v4(),
        };
        assert!(course_requestable(
            &patient,
            &course(CourseType::Repeat),
            today
        ));
        assert!(!course_requestable(
            &patient,
            &course(CourseType::Acute),
            today
        ));
        let not_flagged = courses::Model {
            can_be_requested: false,
            ..course(CourseType::Repeat)
        };
        assert!(!course_requestable(&patient, &not_flagged, today));
        let ended = courses::Model {
            ended_on: Some(today),
            ..course(CourseType::Repeat)
        };
        assert!(!crate::access::rules::course_visible(
            &patient, &ended, today
        ));
        let proxy_hidden = courses::Model {
            hidden_from_proxies: true,
            ..course(CourseType::Repeat)
        };
        assert!(crate::access::rules::course_visible(
            &patient,
            &proxy_hidden,
            today
        ));
        let due = courses::Model {
            review_date: today.pred_opt(),
            ..course(CourseType::Repeat)
        };
        assert!(review_due(&due, today));
        assert!(!review_due(&course(CourseType::Repeat), today));
    }

    #[test]
    fn decisions_move_requested_items_and_replay_the_same_decision() {
        let now = DateTime::<Utc>::default();
        let item = |status, reason: Option<&str>| items::Model {
            id: Uuid::new_v4(),
            request_id: Uuid::new_v4(),
            course_id: Uuid::new_v4(),
            pending_course_id: None,
            status,
            routed_to_clinician: false,
            rejection_reason: reason.map(str::to_owned),
            decided_at: None,
            decided_by_staff_id: None,
            created_at: now,
            updated_at: now,
        };
        let reject = Decision::reject(Some(" needs review ".to_owned())).unwrap();
        assert_eq!(
            reject,
            Decision::Reject {
                reason: "needs review".to_owned()
            }
        );
        let requested = item(RequestItemStatus::Requested, None);
        assert_eq!(
            transition(&requested, &Decision::Approve).unwrap(),
            Transition::Apply
        );
        assert_eq!(transition(&requested, &reject).unwrap(), Transition::Apply);
        let approved = item(RequestItemStatus::Approved, None);
        assert_eq!(
            transition(&approved, &Decision::Approve).unwrap(),
            Transition::Replay
        );
        assert_eq!(
            transition(&approved, &reject).unwrap_err().code(),
            ErrorCode::RequestNotPending
        );
        let rejected = item(RequestItemStatus::Rejected, Some("needs review"));
        assert_eq!(transition(&rejected, &reject).unwrap(), Transition::Replay);
        assert_eq!(
            transition(&rejected, &Decision::Approve)
                .unwrap_err()
                .code(),
            ErrorCode::RequestNotPending
        );
        let cancelled = item(RequestItemStatus::Cancelled, None);
        assert!(transition(&cancelled, &Decision::Approve).is_err());
        assert_eq!(
            Decision::reject(None).unwrap_err().invalid_params()[0].code,
            "required"
        );
    }
}
