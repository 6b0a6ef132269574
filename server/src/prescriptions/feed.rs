//! The clinical system's course feed: courses created or updated idempotently by external id.

use super::*;

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

/// Trimmed text of at most `max` characters; blank means none.
pub(super) fn optional_text(value: Option<String>, max: usize) -> Result<Option<String>, Invalid> {
    let Some(value) = value else {
        return Ok(None);
    };
    let trimmed = value.trim();
    if trimmed.chars().count() > max {
        return Err(Invalid::new(
            "too_long",
            format!("at most {max} characters"),
        ));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// A required single line of at most `max` characters.
pub(super) fn line(value: &str, max: usize) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Invalid::new("required", "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(Invalid::new(
            "too_long",
            format!("at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Invalid::new(
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

pub(super) fn snomed_code(value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if (6..=18).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(Invalid::new(
            "invalid_snomed_code",
            "a SNOMED CT code has 6 to 18 digits",
        ))
    }
}

/// A validated course of a feed.
pub(super) struct ValidCourse {
    pub(super) patient_external_id: String,
    pub(super) external_id: String,
    pub(super) snomed_code: String,
    pub(super) medication: String,
    pub(super) dosage: String,
    pub(super) quantity: String,
    pub(super) source: CourseImport,
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
            Invalid::new(
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
                Err(Invalid::new(
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
                Err(Invalid::new(
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
            practice_id: Set(client.practice_id),
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
        outbox::mark_dirty(
            txn,
            client.practice_id,
            *patient_id,
            SECTION,
            "courses.import",
            now,
        )
        .await?;
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
            .ok_or_else(|| Invalid::new("required", "a pharmacy ODS code is required"))
            .and_then(PharmacyOdsCode::parse),
    );
    v.finish()?;
    parsed.ok_or_else(Vec::new)
}
