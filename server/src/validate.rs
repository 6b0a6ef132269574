//! Validation of the identifiers and dates the product accepts, used by every entry point, and
//! an accumulator that reports every bad field of a request at once.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One invalid field: its name (a JSON path such as `entries[2].date`), a stable code and a
/// human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InvalidField {
    /// The field, as a path into the request.
    pub name: String,
    /// Stable code, e.g. `invalid_nhs_number`.
    pub code: &'static str,
    /// What is wrong, for people.
    pub reason: String,
}

/// Why a single value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Stable code.
    pub code: &'static str,
    /// What is wrong, for people.
    pub reason: String,
}

impl Invalid {
    /// A refusal with its stable code and reason.
    pub fn new(code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

/// Parses a list's `limit` query parameter: `default` when absent, else a whole number from 1
/// to `max`.
pub fn limit(text: Option<&str>, default: u64, max: u64) -> Result<u64, Invalid> {
    let Some(text) = text else {
        return Ok(default);
    };
    match text.trim().parse::<u64>() {
        Ok(limit) if (1..=max).contains(&limit) => Ok(limit),
        _ => Err(Invalid::new(
            "out_of_range",
            format!("a whole number from 1 to {max}"),
        )),
    }
}

/// Collects the invalid fields of one request so the reply lists all of them.
#[derive(Debug, Default)]
pub struct Validator {
    invalid: Vec<InvalidField>,
}

impl Validator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the outcome of validating `name`; returns the value when it was valid.
    pub fn check<T>(&mut self, name: impl Into<String>, outcome: Result<T, Invalid>) -> Option<T> {
        match outcome {
            Ok(value) => Some(value),
            Err(invalid) => {
                self.invalid.push(InvalidField {
                    name: name.into(),
                    code: invalid.code,
                    reason: invalid.reason,
                });
                None
            }
        }
    }

    /// Every invalid field so far, or `Ok` when there is none.
    pub fn finish(self) -> Result<(), Vec<InvalidField>> {
        if self.invalid.is_empty() {
            Ok(())
        } else {
            Err(self.invalid)
        }
    }
}

/// A valid NHS number: ten digits whose last is the Modulus 11 check digit of the first nine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NhsNumber([u8; 10]);

impl NhsNumber {
    /// Parses an NHS number, allowing the spaces of the printed `943 476 5919` form.
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let digits: Vec<u8> = input
            .chars()
            .filter(|c| *c != ' ')
            .map(|c| c.to_digit(10).map(|d| d as u8))
            .collect::<Option<_>>()
            .ok_or_else(|| Invalid::new("invalid_nhs_number", "an NHS number has only digits"))?;
        let digits: [u8; 10] = digits
            .try_into()
            .map_err(|_| Invalid::new("invalid_nhs_number", "an NHS number has 10 digits"))?;
        match Self::check_digit(&digits) {
            Some(check) if check == digits[9] => Ok(Self(digits)),
            _ => Err(Invalid::new(
                "invalid_nhs_number",
                "the NHS number's check digit is wrong",
            )),
        }
    }

    /// Builds a valid NHS number from nine digits, or `None` when no check digit exists for
    /// them (Modulus 11 gives 10, which is never issued).
    pub fn from_first_nine(first: [u8; 9]) -> Option<Self> {
        let mut digits = [0u8; 10];
        digits[..9].copy_from_slice(&first);
        let check = Self::check_digit(&digits)?;
        digits[9] = check;
        Some(Self(digits))
    }

    /// Modulus 11: weights 10..2 on the first nine digits; 11 − (sum mod 11), where 11 means 0
    /// and 10 means the number is invalid.
    fn check_digit(digits: &[u8; 10]) -> Option<u8> {
        let sum: u32 = digits[..9]
            .iter()
            .zip((2..=10).rev())
            .map(|(digit, weight)| u32::from(*digit) * weight)
            .sum();
        match 11 - (sum % 11) {
            11 => Some(0),
            10 => None,
            check => u8::try_from(check).ok(),
        }
    }
}

impl fmt::Display for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for digit in self.0 {
            write!(f, "{digit}")?;
        }
        Ok(())
    }
}

/// An ODS organisation code for a GP practice: one letter and five digits, e.g. `A81001`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OdsCode(String);

impl OdsCode {
    /// Parses an ODS practice code, accepting lower case.
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let code = input.trim().to_ascii_uppercase();
        let bytes = code.as_bytes();
        let valid = bytes.len() == 6
            && bytes[0].is_ascii_uppercase()
            && bytes[1..].iter().all(u8::is_ascii_digit);
        if valid {
            Ok(Self(code))
        } else {
            Err(Invalid::new(
                "invalid_ods_code",
                "an ODS practice code is one letter and five digits, e.g. A81001",
            ))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OdsCode {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<OdsCode> for String {
    fn from(code: OdsCode) -> Self {
        code.0
    }
}

impl fmt::Display for OdsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses an ISO 8601 calendar date (`YYYY-MM-DD`).
pub fn parse_date(input: &str) -> Result<NaiveDate, Invalid> {
    NaiveDate::parse_from_str(input.trim(), "%Y-%m-%d")
        .map_err(|_| Invalid::new("invalid_date", "expected a date as YYYY-MM-DD"))
}

/// Parses a date of birth: a valid date, not in the future and not before 1880.
pub fn parse_date_of_birth(input: &str, today: NaiveDate) -> Result<NaiveDate, Invalid> {
    let date = parse_date(input)?;
    let earliest = NaiveDate::from_ymd_opt(1880, 1, 1).unwrap_or(NaiveDate::MIN);
    if date > today || date < earliest {
        return Err(Invalid::new(
            "invalid_date_of_birth",
            "a date of birth cannot be in the future or before 1880",
        ));
    }
    Ok(date)
}

/// Whole years between `date_of_birth` and `on` (a birthday counts from its first day; a
/// 29 February birthday falls on 1 March in other years).
pub fn age_on(date_of_birth: NaiveDate, on: NaiveDate) -> i32 {
    use chrono::Datelike;
    let mut years = on.year() - date_of_birth.year();
    if (on.month(), on.day()) < (date_of_birth.month(), date_of_birth.day()) {
        years -= 1;
    }
    years
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_nhs_numbers_with_or_without_spaces() {
        for valid in ["9434765919", "943 476 5919", "4010232137", "9990000018"] {
            assert!(NhsNumber::parse(valid).is_ok(), "{valid}");
        }
    }

    #[test]
    fn refuses_invalid_nhs_numbers_with_a_stable_code() {
        for invalid in ["9434765918", "943476591", "94347659190", "94347A5919", ""] {
            let refused = NhsNumber::parse(invalid).err().map(|e| e.code);
            assert_eq!(refused, Some("invalid_nhs_number"), "{invalid}");
        }
    }

    #[test]
    fn check_digit_of_ten_has_no_valid_number() {
        // 1,0,0,0,0,0,0,0,1: weighted sum 10 + 2 = 12; 12 mod 11 = 1, 11 − 1 = 10 → never issued.
        assert_eq!(
            NhsNumber::from_first_nine([1, 0, 0, 0, 0, 0, 0, 0, 1]),
            None
        );
        assert!(NhsNumber::parse("1000000010").is_err());
        let built = NhsNumber::from_first_nine([9, 4, 3, 4, 7, 6, 5, 9, 1]);
        assert_eq!(built.map(|n| n.to_string()), Some("9434765919".to_owned()));
    }

    #[test]
    fn ods_codes_are_one_letter_and_five_digits() {
        assert_eq!(
            OdsCode::parse("a81001").map(|c| c.to_string()),
            Ok("A81001".to_owned())
        );
        for invalid in ["A8100", "AB1001", "181001", "A810011", "A8100X"] {
            assert!(OdsCode::parse(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn dates_of_birth_are_not_in_the_future() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap_or_default();
        assert!(parse_date_of_birth("2000-02-29", today).is_ok());
        assert_eq!(
            parse_date_of_birth("2027-01-01", today)
                .err()
                .map(|e| e.code),
            Some("invalid_date_of_birth")
        );
        assert_eq!(
            parse_date("2001-02-29").err().map(|e| e.code),
            Some("invalid_date")
        );
    }

    #[test]
    fn age_turns_on_the_birthday_not_a_day_before() {
        let dob = NaiveDate::from_ymd_opt(2010, 6, 15).unwrap_or_default();
        let day_before = NaiveDate::from_ymd_opt(2026, 6, 14).unwrap_or_default();
        let birthday = NaiveDate::from_ymd_opt(2026, 6, 15).unwrap_or_default();
        assert_eq!(age_on(dob, day_before), 15);
        assert_eq!(age_on(dob, birthday), 16);
    }

    #[test]
    fn validator_reports_every_bad_field() {
        let mut validator = Validator::new();
        validator.check("nhs_number", NhsNumber::parse("123"));
        validator.check("ods_code", OdsCode::parse("nope"));
        validator.check("date", parse_date("2020-01-01"));
        let fields = validator.finish().err().unwrap_or_default();
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["nhs_number", "ods_code"]);
    }
}
