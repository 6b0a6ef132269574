//! Quiet hours: no notification is sent from 22:00 to 06:00 UK time. Both ends are local wall
//! clock times in Europe/London, so they move with the clock changes (22:00 is 22:00 UTC in
//! winter and 21:00 UTC in summer); a notice due inside them is held until the next 06:00.

use chrono::{DateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Europe::London;

/// The hour quiet hours start, local time.
const START_HOUR: u32 = 22;
/// The hour they end, local time.
const END_HOUR: u32 = 6;

/// Whether `at` falls inside quiet hours.
pub fn is_quiet(at: DateTime<Utc>) -> bool {
    let hour = at.with_timezone(&London).hour();
    !(END_HOUR..START_HOUR).contains(&hour)
}

/// When a notice due at `at` may go: `at` itself outside quiet hours, else the next 06:00
/// London time.
pub fn release_time(at: DateTime<Utc>) -> DateTime<Utc> {
    if !is_quiet(at) {
        return at;
    }
    let local = at.with_timezone(&London);
    let date = if local.hour() >= START_HOUR {
        local.date_naive().succ_opt().unwrap_or(local.date_naive())
    } else {
        local.date_naive()
    };
    let six = date.and_time(NaiveTime::from_hms_opt(END_HOUR, 0, 0).unwrap_or_default());
    // 06:00 is never skipped or repeated in London (the clocks change at 01:00 UTC); `earliest`
    // keeps this total all the same.
    London
        .from_local_datetime(&six)
        .earliest()
        .map_or(at, |release| release.with_timezone(&Utc))
        .max(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.to_utc())
            .unwrap_or_default()
    }

    // The clocks go forward at 01:00 UTC on Sunday 28 March 2027 and back at 01:00 UTC on
    // Sunday 31 October 2027.

    #[test]
    fn winter_evening_quiet_from_22_utc() {
        assert!(!is_quiet(utc("2027-03-27T21:59:00Z")));
        assert!(is_quiet(utc("2027-03-27T22:00:00Z")));
        // Held until 06:00 local on the Sunday, which is already summer time: 05:00 UTC.
        assert_eq!(
            release_time(utc("2027-03-27T22:30:00Z")),
            utc("2027-03-28T05:00:00Z")
        );
    }

    #[test]
    fn summer_evening_after_spring_change_quiet_from_21_utc() {
        assert!(!is_quiet(utc("2027-03-28T20:59:00Z")));
        assert!(is_quiet(utc("2027-03-28T21:00:00Z")));
        assert_eq!(
            release_time(utc("2027-03-28T21:30:00Z")),
            utc("2027-03-29T05:00:00Z")
        );
    }

    #[test]
    fn mornings_either_side_of_the_spring_change() {
        // Saturday morning, winter: 05:30 UTC is 05:30 local, quiet until 06:00 UTC.
        assert!(is_quiet(utc("2027-03-27T05:30:00Z")));
        assert_eq!(
            release_time(utc("2027-03-27T05:30:00Z")),
            utc("2027-03-27T06:00:00Z")
        );
        // Monday morning, summer: 05:30 UTC is 06:30 local, not quiet.
        assert!(!is_quiet(utc("2027-03-29T05:30:00Z")));
        assert_eq!(
            release_time(utc("2027-03-29T05:30:00Z")),
            utc("2027-03-29T05:30:00Z")
        );
        // In the very hour the clocks jump (01:30 UTC is 02:30 BST).
        assert!(is_quiet(utc("2027-03-28T01:30:00Z")));
        assert_eq!(
            release_time(utc("2027-03-28T01:30:00Z")),
            utc("2027-03-28T05:00:00Z")
        );
    }

    #[test]
    fn either_side_of_the_autumn_change() {
        // Saturday evening, summer: 21:30 UTC is 22:30 local, quiet; released at 06:00 GMT on
        // the Sunday, which is 06:00 UTC.
        assert!(is_quiet(utc("2027-10-30T21:30:00Z")));
        assert_eq!(
            release_time(utc("2027-10-30T21:30:00Z")),
            utc("2027-10-31T06:00:00Z")
        );
        // Sunday evening, winter: 21:30 UTC is 21:30 local, not quiet.
        assert!(!is_quiet(utc("2027-10-31T21:30:00Z")));
        // Saturday morning, summer: 05:30 UTC is 06:30 local, not quiet.
        assert!(!is_quiet(utc("2027-10-30T05:30:00Z")));
        // Monday morning, winter: 05:30 UTC is 05:30 local, quiet until 06:00 UTC.
        assert_eq!(
            release_time(utc("2027-11-01T05:30:00Z")),
            utc("2027-11-01T06:00:00Z")
        );
        // The repeated hour (01:30 local happens twice): quiet, released at 06:00 GMT.
        assert!(is_quiet(utc("2027-10-31T00:30:00Z")));
        assert!(is_quiet(utc("2027-10-31T01:30:00Z")));
        assert_eq!(
            release_time(utc("2027-10-31T00:30:00Z")),
            utc("2027-10-31T06:00:00Z")
        );
    }
}
