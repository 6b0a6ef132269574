//! Importing a validated batch in one transaction: patients, entries, results, access codes and
//! proxies, idempotent by the clinical system's ids, with its audit event and outbox rows.

use super::*;

/// What the batch changed, for the outbox and notifications.
#[derive(Default)]
pub(super) struct Changes {
    /// (patient, section) pairs whose projection must be reconciled, each with the items that
    /// changed (`None`: the whole section).
    pub(super) dirty: BTreeMap<(Uuid, sync_protocol::Section), Option<BTreeSet<Uuid>>>,
    /// Results released by this batch, by patient.
    pub(super) released: BTreeMap<Uuid, Vec<Uuid>>,
}

impl Changes {
    /// Every section of the patient changed (their access did).
    pub(super) fn all_sections(&mut self, patient_id: Uuid) {
        for section in ACCESS_SECTIONS {
            self.section(patient_id, section);
        }
    }

    /// The whole of one section changed.
    pub(super) fn section(&mut self, patient_id: Uuid, section: sync_protocol::Section) {
        self.dirty.insert((patient_id, section), None);
    }

    /// One item of a section changed.
    pub(super) fn item(&mut self, patient_id: Uuid, section: sync_protocol::Section, id: Uuid) {
        if let Some(items) = self
            .dirty
            .entry((patient_id, section))
            .or_insert_with(|| Some(BTreeSet::new()))
        {
            items.insert(id);
        }
    }
}

/// Rows per multi-row `INSERT` for entity `E`, keeping under the bind-parameter limit.
pub(super) fn rows_per_insert<E: EntityTrait>() -> usize {
    (MAX_BIND_PARAMS / E::Column::iter().count().max(1)).max(1)
}

/// Inserts `rows` in as few statements as the bind-parameter limit allows.
pub(super) async fn insert_chunked<A>(
    db: &impl ConnectionTrait,
    rows: Vec<A>,
) -> Result<(), AppError>
where
    A: ActiveModelTrait + Send,
{
    let per_statement = rows_per_insert::<A::Entity>();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per_statement).collect();
        A::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Imports one batch for the key's practice, in one transaction. A bad batch is a 422 listing
/// every bad field, and nothing is stored.
///
/// Review state of results: a new result is `pending`, or `released` at `now` when its test
/// code is in the practice's `immediate_release_test_codes`. An update that changes the
/// result's clinical content (test code, value, numeric value, unit, range or abnormal flag)
/// sends it back through review: the state is set again by the same rule and the earlier
/// review (reviewer, comment, withholding reason, release time) is cleared, because it was a
/// judgement about other content. An update of anything else (test name, requester, date)
/// keeps the review state as it is, so a replay never silently un-releases or releases a
/// result.
pub async fn import_batch(
    db: &DatabaseConnection,
    client: IntegrationClient,
    batch: ImportBatch,
    now: DateTime<Utc>,
) -> Result<ImportSummary, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let done = import_batch_in(&txn, client, batch, now).await?;
    txn.commit().await?;
    Ok(done)
}

/// [`import_batch`] on the caller's transaction, so several imports can commit as one.
pub async fn import_batch_in(
    txn: &DatabaseTransaction,
    client: IntegrationClient,
    batch: ImportBatch,
    now: DateTime<Utc>,
) -> Result<ImportSummary, AppError> {
    let mut v = Validator::new();
    let parsed = Parsed::from_batch(&batch, now.date_naive(), &mut v);
    drop(batch);

    let practice = practices::Entity::find_by_id(client.practice_id)
        .one(txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    let settings = PracticeSettings::from_json(&practice.settings).map_err(AppError::internal)?;

    // Checks against what is stored, reported with the field checks.
    let batch_patients: HashSet<&str> = parsed
        .patient_keys
        .iter()
        .filter_map(|(_, id, _)| id.as_deref())
        .collect();
    let wanted: BTreeSet<&str> = batch_patients
        .iter()
        .copied()
        .chain(parsed.references.iter().map(|(_, id)| id.as_str()))
        .collect();
    let stored = patients_by_external_id(txn, practice.id, &wanted).await?;
    let numbers: BTreeSet<&str> = parsed
        .patient_keys
        .iter()
        .filter_map(|(_, _, number)| number.as_deref())
        .collect();
    let holders = patients_by_nhs_number(txn, practice.id, &numbers).await?;
    for (i, external_id, number) in &parsed.patient_keys {
        let (Some(external_id), Some(number)) = (external_id, number) else {
            continue;
        };
        let Some(holder) = holders.get(number) else {
            continue;
        };
        let target = stored.get(external_id).map(|p| p.id);
        let same_patient = target == Some(holder.id);
        let adoptable = target.is_none() && holder.external_id.is_none();
        if !same_patient && !adoptable {
            v.check::<()>(
                format!("patients[{i}].nhs_number"),
                Err(Invalid::new(
                    "nhs_number_in_use",
                    "another patient of this practice has this NHS number",
                )),
            );
        }
    }
    for (path, patient) in &parsed.references {
        if !batch_patients.contains(patient.as_str()) && !stored.contains_key(patient) {
            v.check::<()>(path.clone(), Err(unknown_patient()));
        }
    }
    // On a refusal the transaction is dropped, which rolls it back.
    v.finish()?;

    let mut summary = ImportSummary::default();
    let mut changes = Changes::default();
    let mut patient_ids: HashMap<String, Uuid> = stored
        .iter()
        .map(|(external_id, patient)| (external_id.clone(), patient.id))
        .collect();

    summary.patients = upsert_patients(
        txn,
        practice.id,
        &parsed.patients,
        &stored,
        &holders,
        &mut patient_ids,
        &mut changes,
        now,
    )
    .await?;
    summary.entries = upsert_entries(
        txn,
        practice.id,
        &parsed.entries,
        &patient_ids,
        &mut changes,
        now,
    )
    .await?;
    let (results_counts, released) = upsert_results(
        txn,
        practice.id,
        &parsed.results,
        &patient_ids,
        &settings,
        &mut changes,
        now,
    )
    .await?;
    summary.results = results_counts;
    summary.results_released_immediately = released;
    summary.access_codes = upsert_access_codes(
        txn,
        practice.id,
        &parsed.access_codes,
        &patient_ids,
        &mut changes,
    )
    .await?;

    if let Some(date) = parsed.prospective_access_date
        && practice.prospective_access_date != Some(date)
    {
        let practice_id = practice.id;
        let mut practice = practice.into_active_model();
        practice.prospective_access_date = Set(Some(date));
        practice.updated_at = Set(now);
        practice.update(txn).await?;
        for patient_id in patients_with_an_audience(txn, practice_id).await? {
            changes.all_sections(patient_id);
        }
        summary.prospective_access_date_changed = true;
    }

    for ((patient_id, section), items) in &changes.dirty {
        let practice_id = client.practice_id;
        match items {
            Some(items) => {
                outbox::mark_items_dirty(
                    txn,
                    practice_id,
                    *patient_id,
                    *section,
                    items,
                    "import",
                    now,
                )
                .await?;
            }
            None => {
                outbox::mark_dirty(txn, practice_id, *patient_id, *section, "import", now).await?;
            }
        }
    }
    for (patient_id, ids) in &changes.released {
        let released = results::Entity::find()
            .filter(results::Column::Id.is_in(ids.iter().copied()))
            .all(txn)
            .await?;
        outbox::notify(
            txn,
            *patient_id,
            "result_released",
            now,
            |viewer, facts, today| {
                let access = rules::section_access(viewer, facts, Section::Results, today);
                released.iter().any(|r| rules::result_visible(access, r))
            },
        )
        .await?;
    }
    AuditEvent::new(
        "integration.import",
        ActorKind::Integration,
        Outcome::Success,
    )
    .actor(client.key_id)
    .practice(client.practice_id)
    .target("import_batch", client.key_id)
    .detail(serde_json::json!({
        "patients": summary.patients,
        "entries": summary.entries,
        "results": summary.results,
        "access_codes": summary.access_codes,
        "results_released_immediately": summary.results_released_immediately,
        "prospective_access_date_changed": summary.prospective_access_date_changed,
        "patients_changed": changes.dirty.keys().map(|(id, _)| id).collect::<BTreeSet<_>>().len(),
    }))
    .record(txn, now)
    .await?;
    Ok(summary)
}

/// The practice's patients with these external ids.
pub(super) async fn patients_by_external_id(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    external_ids: &BTreeSet<&str>,
) -> Result<HashMap<String, patients::Model>, AppError> {
    let ids: Vec<&str> = external_ids.iter().copied().collect();
    let mut found = HashMap::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let rows = patients::Entity::find()
            .filter(patients::Column::PracticeId.eq(practice_id))
            .filter(patients::Column::ExternalId.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for row in rows {
            if let Some(external_id) = row.external_id.clone() {
                found.insert(external_id, row);
            }
        }
    }
    Ok(found)
}

/// The practice's patients with these NHS numbers.
pub(super) async fn patients_by_nhs_number(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    numbers: &BTreeSet<&str>,
) -> Result<HashMap<String, patients::Model>, AppError> {
    let numbers: Vec<&str> = numbers.iter().copied().collect();
    let mut found = HashMap::new();
    for chunk in numbers.chunks(LOOKUP_CHUNK) {
        let rows = patients::Entity::find()
            .filter(patients::Column::PracticeId.eq(practice_id))
            .filter(patients::Column::NhsNumber.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for row in rows {
            found.insert(row.nhs_number.clone(), row);
        }
    }
    Ok(found)
}

/// The practice's patients someone can see online: those with an account or a proxy grant.
pub(super) async fn patients_with_an_audience(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
) -> Result<BTreeSet<Uuid>, AppError> {
    let mut ids: BTreeSet<Uuid> = accounts::Entity::find()
        .select_only()
        .column(accounts::Column::PatientId)
        .filter(accounts::Column::PracticeId.eq(practice_id))
        .filter(accounts::Column::PatientId.is_not_null())
        .into_tuple::<Option<Uuid>>()
        .all(db)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let granted = proxy_grants::Entity::find()
        .select_only()
        .column(proxy_grants::Column::PatientId)
        .filter(proxy_grants::Column::PracticeId.eq(practice_id))
        .filter(proxy_grants::Column::RevokedAt.is_null())
        .into_tuple::<Uuid>()
        .all(db)
        .await?;
    ids.extend(granted);
    Ok(ids)
}

/// A subquery: the ids of the practice's patients.
pub(super) fn practice_patient_ids(practice_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    patients::Entity::find()
        .select_only()
        .column(patients::Column::Id)
        .filter(patients::Column::PracticeId.eq(practice_id))
        .into_query()
}

#[allow(clippy::too_many_arguments)] // One step of one transaction; a struct would only rename them.
pub(super) async fn upsert_patients(
    txn: &impl ConnectionTrait,
    practice_id: Uuid,
    items: &[NewPatient],
    stored: &HashMap<String, patients::Model>,
    holders: &HashMap<String, patients::Model>,
    patient_ids: &mut HashMap<String, Uuid>,
    changes: &mut Changes,
    now: DateTime<Utc>,
) -> Result<Counts, AppError> {
    let mut counts = Counts::default();
    let mut inserts = Vec::new();
    for item in items {
        // Stored under this external id, or created at the desk (no external id yet) with the
        // same NHS number: that patient is adopted rather than duplicated.
        let existing = stored.get(&item.external_id).or_else(|| {
            holders
                .get(&item.nhs_number)
                .filter(|holder| holder.external_id.is_none())
        });
        let Some(existing) = existing else {
            let id = Uuid::new_v4();
            patient_ids.insert(item.external_id.clone(), id);
            changes.section(id, sync_protocol::Section::Profile);
            inserts.push(patients::ActiveModel {
                id: Set(id),
                practice_id: Set(practice_id),
                external_id: Set(Some(item.external_id.clone())),
                nhs_number: Set(item.nhs_number.clone()),
                given_name: Set(item.given_name.clone()),
                family_name: Set(item.family_name.clone()),
                date_of_birth: Set(item.date_of_birth),
                sex: Set(item.sex),
                access_level: Set(item.access_level.unwrap_or(AccessLevel::Detailed)),
                record_access_from: Set(item.record_access_from.flatten()),
                competent: Set(item.competent.unwrap_or(false)),
                nominated_pharmacy_ods: Set(None),
                archived_at: Set(item.archived.unwrap_or(false).then_some(now)),
                created_at: Set(now),
                updated_at: Set(now),
            });
            counts.created += 1;
            continue;
        };
        patient_ids.insert(item.external_id.clone(), existing.id);
        let access_level = item.access_level.unwrap_or(existing.access_level);
        let record_access_from = item
            .record_access_from
            .unwrap_or(existing.record_access_from);
        let competent = item.competent.unwrap_or(existing.competent);
        let archived_at = match item.archived {
            None => existing.archived_at,
            Some(true) => existing.archived_at.or(Some(now)),
            Some(false) => None,
        };
        let external_id = Some(item.external_id.clone());
        // What decides who sees what (age, access level, dates, registration).
        let access_changed = existing.date_of_birth != item.date_of_birth
            || existing.access_level != access_level
            || existing.record_access_from != record_access_from
            || existing.competent != competent
            || existing.archived_at != archived_at;
        let profile_changed = existing.external_id != external_id
            || existing.nhs_number != item.nhs_number
            || existing.given_name != item.given_name
            || existing.family_name != item.family_name
            || existing.sex != item.sex;
        if !access_changed && !profile_changed {
            counts.unchanged += 1;
            continue;
        }
        if access_changed {
            changes.all_sections(existing.id);
        } else {
            changes.section(existing.id, sync_protocol::Section::Profile);
        }
        let mut row = existing.clone().into_active_model();
        row.external_id = Set(external_id);
        row.nhs_number = Set(item.nhs_number.clone());
        row.given_name = Set(item.given_name.clone());
        row.family_name = Set(item.family_name.clone());
        row.date_of_birth = Set(item.date_of_birth);
        row.sex = Set(item.sex);
        row.access_level = Set(access_level);
        row.record_access_from = Set(record_access_from);
        row.competent = Set(competent);
        row.archived_at = Set(archived_at);
        row.updated_at = Set(now);
        row.update(txn).await?;
        counts.updated += 1;
    }
    insert_chunked(txn, inserts).await?;
    Ok(counts)
}

/// The practice's rows of a patient-owned table with these external ids, keyed by
/// (patient id, external id).
macro_rules! existing_by_external_id {
    ($txn:expr, $practice_id:expr, $entity:ident, $ids:expr) => {{
        let ids: Vec<&str> = $ids;
        let mut found = HashMap::new();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let rows = $entity::Entity::find()
                .filter($entity::Column::ExternalId.is_in(chunk.iter().copied()))
                .filter($entity::Column::PatientId.in_subquery(practice_patient_ids($practice_id)))
                .all($txn)
                .await?;
            for row in rows {
                if let Some(external_id) = row.external_id.clone() {
                    found.insert((row.patient_id, external_id), row);
                }
            }
        }
        found
    }};
}

/// The patient id an item refers to (validated to exist before any write).
pub(super) fn patient_of(
    patient_ids: &HashMap<String, Uuid>,
    external_id: &str,
) -> Result<Uuid, AppError> {
    patient_ids
        .get(external_id)
        .copied()
        .ok_or_else(|| AppError::internal("a validated patient reference did not resolve"))
}

pub(super) fn distinct<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    ids.collect::<BTreeSet<_>>().into_iter().collect()
}

pub(super) async fn upsert_entries(
    txn: &impl ConnectionTrait,
    practice_id: Uuid,
    items: &[NewEntry],
    patient_ids: &HashMap<String, Uuid>,
    changes: &mut Changes,
    now: DateTime<Utc>,
) -> Result<Counts, AppError> {
    let existing = existing_by_external_id!(
        txn,
        practice_id,
        record_entries,
        distinct(items.iter().map(|item| item.external_id.as_str()))
    );
    let mut counts = Counts::default();
    let mut inserts = Vec::new();
    for item in items {
        let patient_id = patient_of(patient_ids, &item.patient)?;
        let Some(row) = existing.get(&(patient_id, item.external_id.clone())) else {
            let id = Uuid::new_v4();
            changes.item(patient_id, sync_protocol::Section::Record, id);
            inserts.push(record_entries::ActiveModel {
                id: Set(id),
                practice_id: Set(practice_id),
                patient_id: Set(patient_id),
                external_id: Set(Some(item.external_id.clone())),
                section: Set(item.section),
                snomed_code: Set(item.snomed_code.clone()),
                term: Set(item.term.clone()),
                effective_date: Set(item.effective_date),
                entered_on: Set(item.entered_on),
                end_date: Set(item.end_date),
                detail: Set(item.detail.clone()),
                author: Set(item.author.clone()),
                hidden: Set(item.hidden),
                hidden_from_proxies: Set(item.hidden_from_proxies),
                retracted_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            });
            counts.created += 1;
            continue;
        };
        let same = row.section == item.section
            && row.snomed_code == item.snomed_code
            && row.term == item.term
            && row.effective_date == item.effective_date
            && row.entered_on == item.entered_on
            && row.end_date == item.end_date
            && row.detail == item.detail
            && row.author == item.author
            && row.hidden == item.hidden
            && row.hidden_from_proxies == item.hidden_from_proxies;
        if same {
            counts.unchanged += 1;
            continue;
        }
        changes.item(patient_id, sync_protocol::Section::Record, row.id);
        let mut update = row.clone().into_active_model();
        update.section = Set(item.section);
        update.snomed_code = Set(item.snomed_code.clone());
        update.term = Set(item.term.clone());
        update.effective_date = Set(item.effective_date);
        update.entered_on = Set(item.entered_on);
        update.end_date = Set(item.end_date);
        update.detail = Set(item.detail.clone());
        update.author = Set(item.author.clone());
        update.hidden = Set(item.hidden);
        update.hidden_from_proxies = Set(item.hidden_from_proxies);
        update.updated_at = Set(now);
        update.update(txn).await?;
        counts.updated += 1;
    }
    insert_chunked(txn, inserts).await?;
    Ok(counts)
}

/// Returns the counts and how many results were released without review.
pub(super) async fn upsert_results(
    txn: &impl ConnectionTrait,
    practice_id: Uuid,
    items: &[NewResult],
    patient_ids: &HashMap<String, Uuid>,
    settings: &PracticeSettings,
    changes: &mut Changes,
    now: DateTime<Utc>,
) -> Result<(Counts, u32), AppError> {
    let existing = existing_by_external_id!(
        txn,
        practice_id,
        results,
        distinct(items.iter().map(|item| item.external_id.as_str()))
    );
    let immediate = |test_code: &str| {
        settings
            .immediate_release_test_codes
            .iter()
            .any(|code| code.trim().eq_ignore_ascii_case(test_code))
    };
    let mut counts = Counts::default();
    let mut released = 0;
    let mut inserts = Vec::new();
    for item in items {
        let patient_id = patient_of(patient_ids, &item.patient)?;
        let release_now = immediate(&item.test_code);
        let (review_state, released_at) = if release_now {
            (ReviewState::Released, Some(now))
        } else {
            (ReviewState::Pending, None)
        };
        let Some(row) = existing.get(&(patient_id, item.external_id.clone())) else {
            let id = Uuid::new_v4();
            inserts.push(results::ActiveModel {
                id: Set(id),
                practice_id: Set(practice_id),
                patient_id: Set(patient_id),
                external_id: Set(Some(item.external_id.clone())),
                test_code: Set(item.test_code.clone()),
                test_name: Set(item.test_name.clone()),
                value: Set(item.value.clone()),
                numeric_value: Set(item.numeric_value),
                unit: Set(item.unit.clone()),
                range_low: Set(item.range_low),
                range_high: Set(item.range_high),
                range_text: Set(item.range_text.clone()),
                abnormal_flag: Set(item.abnormal_flag),
                requester: Set(item.requester.clone()),
                effective_date: Set(item.effective_date),
                received_at: Set(now),
                entered_on: Set(item.entered_on),
                review_state: Set(review_state),
                reviewed_at: Set(None),
                reviewed_by_staff_id: Set(None),
                clinician_comment: Set(None),
                withhold_reason: Set(None),
                released_at: Set(released_at),
                retracted_at: Set(None),
                retraction_reason: Set(None),
                hidden: Set(false),
                hidden_from_proxies: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
            });
            changes.item(patient_id, sync_protocol::Section::Results, id);
            if release_now {
                changes.released.entry(patient_id).or_default().push(id);
                released += 1;
            }
            counts.created += 1;
            continue;
        };
        let content_changed = row.test_code != item.test_code
            || row.value != item.value
            || row.numeric_value != item.numeric_value
            || row.unit != item.unit
            || row.range_low != item.range_low
            || row.range_high != item.range_high
            || row.range_text != item.range_text
            || row.abnormal_flag != item.abnormal_flag;
        let details_changed = row.test_name != item.test_name
            || row.requester != item.requester
            || row.effective_date != item.effective_date
            || row.entered_on != item.entered_on;
        if !content_changed && !details_changed {
            counts.unchanged += 1;
            continue;
        }
        changes.item(patient_id, sync_protocol::Section::Results, row.id);
        let mut update = row.clone().into_active_model();
        update.test_code = Set(item.test_code.clone());
        update.test_name = Set(item.test_name.clone());
        update.value = Set(item.value.clone());
        update.numeric_value = Set(item.numeric_value);
        update.unit = Set(item.unit.clone());
        update.range_low = Set(item.range_low);
        update.range_high = Set(item.range_high);
        update.range_text = Set(item.range_text.clone());
        update.abnormal_flag = Set(item.abnormal_flag);
        update.requester = Set(item.requester.clone());
        update.effective_date = Set(item.effective_date);
        update.entered_on = Set(item.entered_on);
        update.updated_at = Set(now);
        if content_changed {
            // New clinical content: the earlier review was about other values.
            update.received_at = Set(now);
            update.review_state = Set(review_state);
            update.released_at = Set(released_at);
            update.reviewed_at = Set(None);
            update.reviewed_by_staff_id = Set(None);
            update.clinician_comment = Set(None);
            update.withhold_reason = Set(None);
            if release_now {
                changes.released.entry(patient_id).or_default().push(row.id);
                released += 1;
            }
        }
        update.update(txn).await?;
        counts.updated += 1;
    }
    insert_chunked(txn, inserts).await?;
    Ok((counts, released))
}

pub(super) async fn upsert_access_codes(
    txn: &impl ConnectionTrait,
    practice_id: Uuid,
    items: &[NewAccessCode],
    patient_ids: &HashMap<String, Uuid>,
    changes: &mut Changes,
) -> Result<Counts, AppError> {
    let existing = existing_by_external_id!(
        txn,
        practice_id,
        access_codes,
        distinct(items.iter().map(|item| item.external_id.as_str()))
    );
    let mut counts = Counts::default();
    let mut inserts = Vec::new();
    for item in items {
        let patient_id = patient_of(patient_ids, &item.patient)?;
        let Some(row) = existing.get(&(patient_id, item.external_id.clone())) else {
            inserts.push(access_codes::ActiveModel {
                id: Set(Uuid::new_v4()),
                practice_id: Set(practice_id),
                patient_id: Set(patient_id),
                external_id: Set(Some(item.external_id.clone())),
                snomed_code: Set(item.snomed_code.clone()),
                recorded_at: Set(item.recorded_at),
                recorded_by_staff_id: Set(None),
                ended_on: Set(item.ended_on),
            });
            changes.all_sections(patient_id);
            counts.created += 1;
            continue;
        };
        if row.snomed_code == item.snomed_code
            && row.recorded_at == item.recorded_at
            && row.ended_on == item.ended_on
        {
            counts.unchanged += 1;
            continue;
        }
        changes.all_sections(patient_id);
        let mut update = row.clone().into_active_model();
        update.snomed_code = Set(item.snomed_code.clone());
        update.recorded_at = Set(item.recorded_at);
        update.ended_on = Set(item.ended_on);
        update.update(txn).await?;
        counts.updated += 1;
    }
    insert_chunked(txn, inserts).await?;
    Ok(counts)
}
