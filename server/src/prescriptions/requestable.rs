//! Repeat courses as a viewer sees them, and whether each may be ordered now.

use super::*;

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

/// The first day after `today` on which [`review_due`] answers differently for the course (the
/// day after its review date).
pub fn review_due_changes_on(course: &courses::Model, today: NaiveDate) -> Option<NaiveDate> {
    course
        .review_date
        .and_then(|review| review.succ_opt())
        .filter(|day| *day > today)
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
