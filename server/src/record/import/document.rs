//! Importing a letter: its content typed by its bytes, stored once by hash, back to review when
//! its content changes.

use super::*;

/// The content type of a document, detected from its first bytes (never from a name): PDF,
/// PNG, JPEG, TIFF, RTF, or plain text when the whole content is UTF-8 without NUL or control
/// characters other than tab, carriage return and line feed. `None` for anything else.
pub fn detect_content_type(content: &[u8]) -> Option<&'static str> {
    const SIGNATURES: [(&[u8], &str); 7] = [
        (b"%PDF-", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
        (b"{\\rtf", "application/rtf"),
        // A UTF-8 byte-order mark followed by RTF is still RTF.
        (b"\xef\xbb\xbf{\\rtf", "application/rtf"),
    ];
    if let Some((_, content_type)) = SIGNATURES
        .iter()
        .find(|(signature, _)| content.starts_with(signature))
    {
        return Some(content_type);
    }
    let text = std::str::from_utf8(content).ok()?;
    let plain = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\r' | '\n'));
    plain.then_some("text/plain; charset=utf-8")
}

/// Decodes base64 (standard alphabet, padding optional, whitespace such as MIME line breaks
/// ignored).
pub(super) fn decode_base64(value: &str) -> Result<Vec<u8>, Invalid> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: Vec<u8> = value.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let content = ENGINE
        .decode(compact)
        .map_err(|_| Invalid::new("invalid_base64", "the content is not valid base64"))?;
    if content.is_empty() {
        return Err(Invalid::new("empty_document", "the document is empty"));
    }
    Ok(content)
}

/// Lowercase hex SHA-256.
pub(super) fn sha256_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

/// A letter's fields as checked without the database; each `None` was reported to the
/// validator.
struct DocumentFields {
    external_id: Option<String>,
    patient_external_id: Option<String>,
    document_type: Option<DocumentType>,
    title: Option<String>,
    author_organisation: Option<Option<String>>,
    effective_date: Option<NaiveDate>,
    entered: Option<NaiveDate>,
    content: Option<Vec<u8>>,
}

impl DocumentFields {
    fn check(upload: DocumentImport, v: &mut Validator) -> Self {
        Self {
            external_id: v.check("external_id", line(&upload.external_id, MAX_EXTERNAL_ID)),
            patient_external_id: v.check(
                "patient_external_id",
                line(&upload.patient_external_id, MAX_EXTERNAL_ID),
            ),
            document_type: v.check(
                "document_type",
                one_of(&upload.document_type, &DOCUMENT_TYPES),
            ),
            title: v.check("title", line(&upload.title, MAX_TEXT)),
            author_organisation: v.check(
                "author_organisation",
                optional_line(upload.author_organisation.as_deref(), MAX_TEXT),
            ),
            effective_date: v.check("effective_date", parse_date(&upload.effective_date)),
            entered: v.check("entered_on", entered_on(upload.entered_on.as_deref())),
            content: v.check("content_base64", decode_base64(&upload.content_base64)),
        }
    }
}

/// The content type of a letter's decoded content: 413 `document_too_large` above
/// [`MAX_DOCUMENT_BYTES`], 415 `unsupported_document_type` when it is none of the accepted types.
fn accepted_content_type(content: &[u8]) -> Result<&'static str, AppError> {
    if content.len() > MAX_DOCUMENT_BYTES {
        return Err(
            AppError::new(ErrorCode::DocumentTooLarge).with_detail(format!(
                "a document may be at most {MAX_DOCUMENT_BYTES} bytes"
            )),
        );
    }
    detect_content_type(content).ok_or_else(|| {
        AppError::new(ErrorCode::UnsupportedDocumentType)
            .with_detail("accepted: PDF, PNG, JPEG, TIFF, RTF and UTF-8 plain text")
    })
}

/// Everything [`import_document`] checks of a letter before it looks for its patient, with no
/// database: every field (a 422 naming each bad one, the content's base64 included), then the
/// content's size and type. Its detected content type. What the clinical system may send is
/// fuzzed through this (`fuzz/`).
pub fn check_document(upload: DocumentImport) -> Result<&'static str, AppError> {
    let mut v = Validator::new();
    let fields = DocumentFields::check(upload, &mut v);
    v.finish()?;
    let content = fields
        .content
        .ok_or_else(|| AppError::internal("a validated document field was missing"))?;
    accepted_content_type(&content)
}

/// Stores one document for a patient of the key's practice, in one transaction.
///
/// Refusals, in this order: 422 listing every bad field (including an unknown patient and
/// content that is not base64); 413 `document_too_large` above [`MAX_DOCUMENT_BYTES`]; 415
/// `unsupported_document_type` when the content is none of the accepted types. The body is
/// stored once per SHA-256 in `blobs`. Re-sending the same document is `unchanged`; new content
/// sends the document back to `pending` review (its earlier review was of other content);
/// changed details alone (type, title, author, date) keep its review state.
pub async fn import_document(
    db: &DatabaseConnection,
    client: IntegrationClient,
    upload: DocumentImport,
    now: DateTime<Utc>,
) -> Result<DocumentImported, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let done = import_document_in(&txn, client, upload, now).await?;
    txn.commit().await?;
    Ok(done)
}

/// [`import_document`] on the caller's transaction, so several imports can commit as one.
pub async fn import_document_in(
    txn: &DatabaseTransaction,
    client: IntegrationClient,
    upload: DocumentImport,
    now: DateTime<Utc>,
) -> Result<DocumentImported, AppError> {
    let mut v = Validator::new();
    let fields = DocumentFields::check(upload, &mut v);
    let patient = match &fields.patient_external_id {
        Some(external_id) => {
            let patient = patients::Entity::find()
                .filter(patients::Column::PracticeId.eq(client.practice_id))
                .filter(patients::Column::ExternalId.eq(external_id.as_str()))
                .one(txn)
                .await?;
            if patient.is_none() {
                v.check::<()>("patient_external_id", Err(unknown_patient()));
            }
            patient
        }
        None => None,
    };
    v.finish()?;
    let (
        Some(external_id),
        Some(patient),
        Some(document_type),
        Some(title),
        Some(author_organisation),
        Some(effective_date),
        Some(entered),
        Some(content),
    ) = (
        fields.external_id,
        patient,
        fields.document_type,
        fields.title,
        fields.author_organisation,
        fields.effective_date,
        fields.entered,
        fields.content,
    )
    else {
        return Err(AppError::internal("a validated document field was missing"));
    };
    let content_type = accepted_content_type(&content)?;
    let sha256 = sha256_hex(&content);
    let size_bytes = i64::try_from(content.len()).map_err(AppError::internal)?;

    let blob_stored = blobs::Entity::find_by_id(sha256.clone())
        .select_only()
        .column(blobs::Column::Sha256)
        .into_tuple::<String>()
        .one(txn)
        .await?
        .is_some();
    if !blob_stored {
        // A concurrent import of the same content may have stored it meanwhile: keep theirs.
        blobs::Entity::insert(blobs::ActiveModel {
            sha256: Set(sha256.clone()),
            content_type: Set(content_type.to_owned()),
            size_bytes: Set(size_bytes),
            content: Set(content),
            created_at: Set(now),
        })
        .on_conflict_do_nothing()
        .exec_without_returning(txn)
        .await?;
    }

    let existing = documents::Entity::find()
        .filter(documents::Column::PatientId.eq(patient.id))
        .filter(documents::Column::ExternalId.eq(external_id.as_str()))
        .one(txn)
        .await?;
    let (document_id, outcome) = match existing {
        None => {
            let id = Uuid::new_v4();
            documents::ActiveModel {
                id: Set(id),
                practice_id: Set(patient.practice_id),
                patient_id: Set(patient.id),
                external_id: Set(Some(external_id)),
                document_type: Set(document_type),
                title: Set(title),
                author_organisation: Set(author_organisation),
                effective_date: Set(effective_date),
                content_type: Set(content_type.to_owned()),
                size_bytes: Set(size_bytes),
                blob_sha256: Set(sha256.clone()),
                received_at: Set(now),
                entered_on: Set(entered),
                review_state: Set(ReviewState::Pending),
                reviewed_at: Set(None),
                reviewed_by_staff_id: Set(None),
                clinician_comment: Set(None),
                withhold_reason: Set(None),
                released_at: Set(None),
                retracted_at: Set(None),
                retraction_reason: Set(None),
                hidden: Set(false),
                hidden_from_proxies: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?;
            (id, ImportOutcome::Created)
        }
        Some(row) => {
            let content_changed = row.blob_sha256 != sha256;
            let details_changed = row.document_type != document_type
                || row.title != title
                || row.author_organisation != author_organisation
                || row.effective_date != effective_date
                || row.entered_on != entered;
            if !content_changed && !details_changed {
                // Same content (so same type and size) and details: nothing to write.
                (row.id, ImportOutcome::Unchanged)
            } else {
                let id = row.id;
                let mut update = row.into_active_model();
                update.document_type = Set(document_type);
                update.title = Set(title);
                update.author_organisation = Set(author_organisation);
                update.effective_date = Set(effective_date);
                update.entered_on = Set(entered);
                update.updated_at = Set(now);
                if content_changed {
                    update.content_type = Set(content_type.to_owned());
                    update.size_bytes = Set(size_bytes);
                    update.blob_sha256 = Set(sha256.clone());
                    update.received_at = Set(now);
                    update.review_state = Set(ReviewState::Pending);
                    update.reviewed_at = Set(None);
                    update.reviewed_by_staff_id = Set(None);
                    update.clinician_comment = Set(None);
                    update.withhold_reason = Set(None);
                    update.released_at = Set(None);
                }
                update.update(txn).await?;
                (id, ImportOutcome::Updated)
            }
        }
    };
    if outcome != ImportOutcome::Unchanged {
        outbox::mark_items_dirty(
            txn,
            patient.practice_id,
            patient.id,
            sync_protocol::Section::Documents,
            &BTreeSet::from([document_id]),
            "import",
            now,
        )
        .await?;
    }
    // A replay is audited too: the clinical system did act on the patient's record.
    AuditEvent::new(
        "integration.import_document",
        ActorKind::Integration,
        Outcome::Success,
    )
    .actor(client.key_id)
    .practice(client.practice_id)
    .acting_for(patient.id)
    .target("document", document_id)
    .detail(serde_json::json!({
        "outcome": outcome,
        "content_type": content_type,
        "size_bytes": size_bytes,
    }))
    .record(txn, now)
    .await?;
    Ok(DocumentImported {
        document_id,
        outcome,
        content_type: content_type.to_owned(),
        size_bytes,
        sha256,
    })
}
