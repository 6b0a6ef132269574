//! The practice's review queue: pages of pending (or decided) results and letters, oldest first.

use super::*;

/// Where a queue page starts: after the item with this `received_at` and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last item's arrival.
    pub received_at: DateTime<Utc>,
    /// The last item's id.
    pub id: Uuid,
}

impl Cursor {
    /// The opaque form given to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}|{}",
            self.received_at
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            self.id
        ))
    }

    /// Reads a cursor a client got from [`Cursor::encode`].
    pub fn decode(text: &str) -> Result<Self, Invalid> {
        let invalid = || Invalid {
            code: "invalid_cursor",
            reason: "not a cursor returned by this API".to_owned(),
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (at, id) = text.split_once('|').ok_or_else(invalid)?;
        Ok(Self {
            received_at: DateTime::parse_from_rfc3339(at)
                .map_err(|_| invalid())?
                .to_utc(),
            id: Uuid::parse_str(id).map_err(|_| invalid())?,
        })
    }
}

/// Parses the queue's `limit` (default [`DEFAULT_QUEUE_LIMIT`], 1 to [`MAX_QUEUE_LIMIT`]).
pub fn parse_limit(text: Option<&str>) -> Result<u64, Invalid> {
    crate::validate::limit(text, DEFAULT_QUEUE_LIMIT, MAX_QUEUE_LIMIT)
}

/// The patient an item is for, as the review queue shows them.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueuePatient {
    /// The patient.
    pub id: Uuid,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// NHS number (10 digits).
    pub nhs_number: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
}

/// What a pending result says.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueueResult {
    /// The test's code in the clinical system.
    pub test_code: String,
    /// The value as reported.
    pub value: String,
    /// Its unit.
    pub unit: Option<String>,
    /// Lower end of the reference range.
    pub range_low: Option<f64>,
    /// Upper end of the reference range.
    pub range_high: Option<f64>,
    /// The reference range as text, when it is not numeric.
    pub range_text: Option<String>,
    /// `normal`, `low`, `high`, `abnormal` or `unknown`.
    #[schema(value_type = String, example = "high")]
    pub abnormal_flag: AbnormalFlag,
    /// Who requested the test.
    pub requester: Option<String>,
}

/// What a pending document is.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueueDocument {
    /// `discharge_summary`, `outpatient_letter`, `referral_letter` or `other_letter`.
    #[schema(value_type = String, example = "outpatient_letter")]
    pub document_type: DocumentType,
    /// Who wrote it.
    pub author_organisation: Option<String>,
    /// Its media type.
    pub content_type: String,
    /// Its size.
    pub size_bytes: i64,
}

/// A queue item before its patient is attached.
pub(super) struct QueueEntry {
    pub(super) kind: ItemKind,
    pub(super) id: Uuid,
    pub(super) patient_id: Uuid,
    pub(super) title: String,
    pub(super) effective_date: NaiveDate,
    pub(super) received_at: DateTime<Utc>,
    pub(super) result: Option<QueueResult>,
    pub(super) document: Option<QueueDocument>,
}

/// One item waiting for review.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueueItem {
    /// Result or document.
    pub kind: ItemKind,
    /// The item (use it with `/results/{id}/…` or `/documents/{id}/…`).
    pub id: Uuid,
    /// Its patient.
    pub patient: QueuePatient,
    /// The test name or the document title.
    pub title: String,
    /// When the test was done or the letter written.
    pub effective_date: NaiveDate,
    /// When it arrived from the clinical system (the queue's order).
    pub received_at: DateTime<Utc>,
    /// For results: the value and its range.
    pub result: Option<QueueResult>,
    /// For documents: what it is.
    pub document: Option<QueueDocument>,
}

/// One page of the review queue, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReviewQueue {
    /// Pending results and documents, by `received_at` then id.
    pub items: Vec<QueueItem>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The practice's results and documents in `state` (pending review, or released and so open
/// to retraction), oldest received first, `limit` after `after`.
pub async fn queue(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    state: ReviewState,
    limit: u64,
    after: Option<Cursor>,
) -> Result<ReviewQueue, AppError> {
    let mut entries = in_state::<results::Entity>(db, practice_id, state, limit, after).await?;
    entries.extend(in_state::<documents::Entity>(db, practice_id, state, limit, after).await?);
    entries.sort_by_key(|entry| (entry.received_at, entry.id));
    let more = entries.len() as u64 > limit;
    entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = entries
        .last()
        .filter(|_| more)
        .map(|last| Cursor {
            received_at: last.received_at,
            id: last.id,
        })
        .map(|cursor| cursor.encode());

    let patient_ids: Vec<Uuid> = entries.iter().map(|e| e.patient_id).collect();
    let patients: HashMap<Uuid, patients::Model> = patients::Entity::find()
        .filter(patients::Column::Id.is_in(patient_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let items = entries
        .into_iter()
        .map(|entry| {
            let patient = patients
                .get(&entry.patient_id)
                .ok_or_else(|| AppError::internal("a queued item's patient is missing"))?;
            Ok(QueueItem {
                kind: entry.kind,
                id: entry.id,
                patient: QueuePatient {
                    id: patient.id,
                    given_name: patient.given_name.clone(),
                    family_name: patient.family_name.clone(),
                    nhs_number: patient.nhs_number.clone(),
                    date_of_birth: patient.date_of_birth,
                },
                title: entry.title,
                effective_date: entry.effective_date,
                received_at: entry.received_at,
                result: entry.result,
                document: entry.document,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(ReviewQueue { items, next_cursor })
}

/// Up to `limit + 1` items of one table in `state` after the cursor, in queue order.
pub(super) async fn in_state<E: Reviewable>(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    state: ReviewState,
    limit: u64,
    after: Option<Cursor>,
) -> Result<Vec<QueueEntry>, DbErr> {
    let mut query = E::find()
        .filter(E::col(Col::ReviewState).eq(state))
        .filter(E::col(Col::PatientId).in_subquery(patients_of(practice_id)));
    if let Some(cursor) = after {
        query = query.filter(
            Condition::any()
                .add(E::col(Col::ReceivedAt).gt(cursor.received_at))
                .add(
                    Condition::all()
                        .add(E::col(Col::ReceivedAt).eq(cursor.received_at))
                        .add(E::col(Col::Id).gt(cursor.id)),
                ),
        );
    }
    Ok(query
        .order_by_asc(E::col(Col::ReceivedAt))
        .order_by_asc(E::col(Col::Id))
        .limit(limit + 1)
        .all(db)
        .await?
        .into_iter()
        .map(E::queue_item)
        .collect())
}
