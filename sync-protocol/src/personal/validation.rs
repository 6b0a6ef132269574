//! Validation of a personal document against its shape and the caps in [`Limits`].

use super::*;

/// Which root map.
#[derive(Clone, Copy)]
pub(super) enum Part {
    ReadMarkers,
    Notes,
    Hidden,
    Drafts,
}

impl Part {
    pub(super) fn of(key: &str) -> Option<Self> {
        match key {
            READ_MARKERS => Some(Self::ReadMarkers),
            NOTES => Some(Self::Notes),
            HIDDEN => Some(Self::Hidden),
            DRAFTS => Some(Self::Drafts),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::ReadMarkers => READ_MARKERS,
            Self::Notes => NOTES,
            Self::Hidden => HIDDEN,
            Self::Drafts => DRAFTS,
        }
    }
}

/// Running totals of a validation.
pub(super) struct Tally<'a> {
    pub(super) limits: &'a Limits,
    pub(super) bytes: usize,
    pub(super) entries: usize,
}

impl Tally<'_> {
    pub(super) fn bytes(&mut self, n: usize) -> Result<(), Invalid> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.limits.max_bytes {
            return Err(Invalid::TooLarge);
        }
        Ok(())
    }

    pub(super) fn entry(&mut self) -> Result<(), Invalid> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(Invalid::TooManyEntries);
        }
        Ok(())
    }
}

/// Checks that `doc` is a personal document of the documented shape within `limits`. Every
/// value at every key is checked, including values that lost a conflict (they stay in the
/// document and a device can read them).
pub fn validate(doc: &impl ReadDoc, limits: &Limits) -> Result<(), Invalid> {
    let mut tally = Tally {
        limits,
        bytes: 0,
        entries: 0,
    };
    for key in doc.keys(ROOT) {
        let part = Part::of(&key).ok_or(Invalid::UnknownKey("the root"))?;
        for (value, map) in doc.get_all(ROOT, key.as_str())? {
            if !matches!(value, Value::Object(ObjType::Map)) {
                return Err(Invalid::WrongType(part.name()));
            }
            validate_part(doc, &map, part, &mut tally)?;
        }
    }
    Ok(())
}

pub(super) fn validate_part(
    doc: &impl ReadDoc,
    map: &ObjId,
    part: Part,
    tally: &mut Tally<'_>,
) -> Result<(), Invalid> {
    let name = part.name();
    for key in doc.keys(map) {
        check_id(&key, name)?;
        tally.entry()?;
        tally.bytes(key.len())?;
        for (value, object) in doc.get_all(map, key.as_str())? {
            match (part, value) {
                (Part::ReadMarkers, Value::Scalar(scalar)) => {
                    let at = text(&scalar, name)?;
                    check_instant(at, name)?;
                    tally.bytes(at.len())?;
                }
                (Part::Notes, Value::Scalar(scalar)) => {
                    let note = text(&scalar, name)?;
                    if note.len() > tally.limits.max_text_bytes {
                        return Err(Invalid::TextTooLong(name));
                    }
                    tally.bytes(note.len())?;
                }
                (Part::Hidden, Value::Scalar(scalar)) => {
                    if *scalar != ScalarValue::Boolean(true) {
                        return Err(Invalid::WrongType(name));
                    }
                    tally.bytes(1)?;
                }
                (Part::Drafts, Value::Object(ObjType::Map)) => {
                    validate_draft(doc, &object, tally)?;
                }
                _ => return Err(Invalid::WrongType(name)),
            }
        }
    }
    Ok(())
}

/// The fields a draft may have.
pub(super) const DRAFT_FIELDS: [&str; 5] = ["kind", "body", "updated_at", "subject", "about"];

pub(super) fn validate_draft(
    doc: &impl ReadDoc,
    draft: &ObjId,
    tally: &mut Tally<'_>,
) -> Result<(), Invalid> {
    let mut size = 0usize;
    let mut present = BTreeSet::new();
    for field in doc.keys(draft) {
        let Some(known) = DRAFT_FIELDS.iter().find(|f| **f == field) else {
            return Err(Invalid::UnknownKey(DRAFTS));
        };
        present.insert(*known);
        for (value, _) in doc.get_all(draft, field.as_str())? {
            let Value::Scalar(scalar) = value else {
                return Err(Invalid::WrongType(DRAFTS));
            };
            let value = text(&scalar, DRAFTS)?;
            match *known {
                "kind" => check_kind(value)?,
                "updated_at" => check_instant(value, DRAFTS)?,
                "about" => check_id(value, DRAFTS)?,
                _ => {}
            }
            size = size.saturating_add(field.len() + value.len());
        }
    }
    if !["kind", "body", "updated_at"]
        .iter()
        .all(|f| present.contains(f))
    {
        return Err(Invalid::BadDraft);
    }
    if size > tally.limits.max_text_bytes {
        return Err(Invalid::TextTooLong(DRAFTS));
    }
    tally.bytes(size)
}

pub(super) fn text<'a>(scalar: &'a ScalarValue, part: &'static str) -> Result<&'a str, Invalid> {
    match scalar {
        ScalarValue::Str(s) => Ok(s.as_str()),
        _ => Err(Invalid::WrongType(part)),
    }
}

pub(super) fn check_id(id: &str, part: &'static str) -> Result<(), Invalid> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Invalid::BadId(part))
    }
}

pub(super) fn check_kind(kind: &str) -> Result<(), Invalid> {
    let ok = !kind.is_empty()
        && kind.len() <= MAX_KIND_BYTES
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if ok { Ok(()) } else { Err(Invalid::BadDraft) }
}

/// Whether `value` is an RFC 3339 instant: `YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z`
/// or an offset `±HH:MM`.
pub fn is_instant(value: &str) -> bool {
    let b = value.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let date_time = (|| {
        let (month, day) = (digits(5..7)?, digits(8..10)?);
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        digits(0..4)?;
        let separators = b[4] == b'-' && b[7] == b'-' && b[10] == b'T';
        let clock = b[13] == b':' && b[16] == b':';
        Some(
            separators
                && clock
                && (1..=12).contains(&month)
                && (1..=31).contains(&day)
                && hour < 24
                && minute < 60
                && second <= 60,
        )
    })();
    if date_time != Some(true) || b.len() > 40 {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest {
        b"Z" => true,
        [sign, h1, h2, b':', m1, m2] if *sign == b'+' || *sign == b'-' => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (*h1 - b'0') * 10 + (*h2 - b'0') < 24
                && (*m1 - b'0') * 10 + (*m2 - b'0') < 60
        }
        _ => false,
    }
}

pub(super) fn check_instant(value: &str, part: &'static str) -> Result<(), Invalid> {
    if is_instant(value) {
        Ok(())
    } else {
        Err(Invalid::BadInstant(part))
    }
}
