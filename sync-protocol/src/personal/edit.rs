//! Writing the personal document: the shared genesis change and one commit per edit.

use super::*;

/// The genesis change as a document: the four root maps, created by [`GENESIS_ACTOR`] at
/// time 0, so its change is the same bytes (and hash) wherever it is made.
pub fn genesis() -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(GENESIS_ACTOR));
    for key in [READ_MARKERS, NOTES, HIDDEN, DRAFTS] {
        // Putting an object into a fresh document's root cannot fail.
        let _ = doc.put_object(ROOT, key, ObjType::Map);
    }
    doc.commit_with(CommitOptions::default().with_time(0));
    doc
}

/// The root map `key`, merging the genesis change first when the document lacks it.
pub(super) fn part_map(doc: &mut AutoCommit, key: &str) -> Result<ObjId, WriteError> {
    if let Some(map) = root_map(doc, key)? {
        return Ok(map);
    }
    doc.merge(&mut genesis())?;
    root_map(doc, key)?.ok_or(WriteError::Invalid(Invalid::WrongType("the root")))
}

pub(super) fn commit(doc: &mut AutoCommit) {
    doc.commit();
}

/// Records that `item_id` was read at `at` (RFC 3339).
pub fn set_read_marker(doc: &mut AutoCommit, item_id: &str, at: &str) -> Result<(), WriteError> {
    check_id(item_id, READ_MARKERS)?;
    check_instant(at, READ_MARKERS)?;
    let map = part_map(doc, READ_MARKERS)?;
    doc.put(&map, item_id, at)?;
    commit(doc);
    Ok(())
}

/// Sets the private note on `item_id`.
pub fn set_note(doc: &mut AutoCommit, item_id: &str, note: &str) -> Result<(), WriteError> {
    check_id(item_id, NOTES)?;
    let map = part_map(doc, NOTES)?;
    doc.put(&map, item_id, note)?;
    commit(doc);
    Ok(())
}

/// Removes the private note on `item_id` (nothing happens when there is none).
pub fn clear_note(doc: &mut AutoCommit, item_id: &str) -> Result<(), WriteError> {
    remove(doc, NOTES, item_id)
}

/// Hides `item_id` on the account's devices.
pub fn hide(doc: &mut AutoCommit, item_id: &str) -> Result<(), WriteError> {
    check_id(item_id, HIDDEN)?;
    let map = part_map(doc, HIDDEN)?;
    doc.put(&map, item_id, true)?;
    commit(doc);
    Ok(())
}

/// Shows `item_id` again.
pub fn unhide(doc: &mut AutoCommit, item_id: &str) -> Result<(), WriteError> {
    remove(doc, HIDDEN, item_id)
}

/// Saves a draft under `draft_id`, writing only the fields that changed.
pub fn save_draft(doc: &mut AutoCommit, draft_id: &str, draft: &Draft) -> Result<(), WriteError> {
    check_id(draft_id, DRAFTS)?;
    check_kind(&draft.kind)?;
    check_instant(&draft.updated_at, DRAFTS)?;
    if let Some(about) = &draft.about {
        check_id(about, DRAFTS)?;
    }
    let map = part_map(doc, DRAFTS)?;
    let object = match doc.get(&map, draft_id)? {
        Some((Value::Object(ObjType::Map), object)) => object,
        _ => doc.put_object(&map, draft_id, ObjType::Map)?,
    };
    let fields = [
        ("kind", Some(&draft.kind)),
        ("body", Some(&draft.body)),
        ("updated_at", Some(&draft.updated_at)),
        ("subject", draft.subject.as_ref()),
        ("about", draft.about.as_ref()),
    ];
    for (name, value) in fields {
        let current = match doc.get(&object, name)? {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        };
        match value {
            Some(value) if current.as_ref() != Some(value) => {
                doc.put(&object, name, value.as_str())?;
            }
            None if doc.get(&object, name)?.is_some() => doc.delete(&object, name)?,
            _ => {}
        }
    }
    commit(doc);
    Ok(())
}

/// Deletes the draft `draft_id` (sent, or abandoned).
pub fn delete_draft(doc: &mut AutoCommit, draft_id: &str) -> Result<(), WriteError> {
    remove(doc, DRAFTS, draft_id)
}

pub(super) fn remove(doc: &mut AutoCommit, part: &str, key: &str) -> Result<(), WriteError> {
    if let Some(map) = root_map(doc, part)?
        && doc.get(&map, key)?.is_some()
    {
        doc.delete(&map, key)?;
        commit(doc);
    }
    Ok(())
}

/// A fresh copy of `doc`'s content without its history: the genesis change, then one change
/// per entry (the winning value of each key). The server starts a new generation from it when
/// the stored document's history has outgrown its content.
pub fn compact(doc: &impl ReadDoc) -> Result<AutoCommit, WriteError> {
    let content = read(doc)?;
    let mut fresh = genesis();
    fresh.set_actor(ActorId::random());
    for (id, at) in &content.read_markers {
        set_read_marker(&mut fresh, id, at)?;
    }
    for (id, note) in &content.notes {
        set_note(&mut fresh, id, note)?;
    }
    for id in &content.hidden {
        hide(&mut fresh, id)?;
    }
    for (id, draft) in &content.drafts {
        save_draft(&mut fresh, id, draft)?;
    }
    Ok(fresh)
}
