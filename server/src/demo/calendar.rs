//! Calendar helpers for the demo practice: UK local time (GMT/BST) without a time-zone database,
//! England and Wales bank holidays (the practice is closed), and small date arithmetic.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};

/// The last `weekday` of a month.
fn last_weekday_of_month(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    let first_of_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let mut day = first_of_next.pred_opt()?;
    while day.weekday() != weekday {
        day = day.pred_opt()?;
    }
    Some(day)
}

/// The first `weekday` of a month.
fn first_weekday_of_month(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    let mut day = NaiveDate::from_ymd_opt(year, month, 1)?;
    while day.weekday() != weekday {
        day = day.succ_opt()?;
    }
    Some(day)
}

/// Easter Sunday (anonymous Gregorian algorithm).
fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// The regular England and Wales bank holidays of a year, with weekend substitutes.
fn bank_holidays(year: i32) -> Vec<NaiveDate> {
    let mut days = Vec::new();
    if let Some(new_year) = NaiveDate::from_ymd_opt(year, 1, 1) {
        days.push(match new_year.weekday() {
            Weekday::Sat => new_year + Duration::days(2),
            Weekday::Sun => new_year + Duration::days(1),
            _ => new_year,
        });
    }
    if let Some(easter) = easter_sunday(year) {
        days.push(easter - Duration::days(2));
        days.push(easter + Duration::days(1));
    }
    days.extend(first_weekday_of_month(year, 5, Weekday::Mon));
    days.extend(last_weekday_of_month(year, 5, Weekday::Mon));
    days.extend(last_weekday_of_month(year, 8, Weekday::Mon));
    if let Some(christmas) = NaiveDate::from_ymd_opt(year, 12, 25) {
        let (christmas_off, boxing_off) = match christmas.weekday() {
            // Christmas on Saturday: Monday and Tuesday off.
            Weekday::Sat => (christmas + Duration::days(2), christmas + Duration::days(3)),
            // Christmas on Sunday: Boxing Day Monday, Christmas substitute Tuesday.
            Weekday::Sun => (christmas + Duration::days(2), christmas + Duration::days(1)),
            // Christmas on Friday: Boxing Day (Saturday) moves to Monday.
            Weekday::Fri => (christmas, christmas + Duration::days(3)),
            _ => (christmas, christmas + Duration::days(1)),
        };
        days.push(christmas_off);
        days.push(boxing_off);
    }
    days
}

/// Whether the practice is open on `date`: a weekday that is not a bank holiday.
pub(super) fn is_working_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
        && !bank_holidays(date.year()).contains(&date)
}

/// Whether British Summer Time applies on `date` (from the last Sunday of March to the last
/// Sunday of October; the clocks change at night, outside surgery hours, so dates suffice).
fn is_bst(date: NaiveDate) -> bool {
    let year = date.year();
    match (
        last_weekday_of_month(year, 3, Weekday::Sun),
        last_weekday_of_month(year, 10, Weekday::Sun),
    ) {
        (Some(start), Some(end)) => date >= start && date < end,
        _ => false,
    }
}

/// The UTC instant of a UK local wall-clock time.
pub(super) fn uk_time(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN);
    let local = date.and_time(time);
    let utc = if is_bst(date) {
        local - Duration::hours(1)
    } else {
        local
    };
    Utc.from_utc_datetime(&utc)
}

/// `date` moved back by whole years (29 February falls back to 28 February).
pub(super) fn years_before(date: NaiveDate, years: u32) -> NaiveDate {
    date.checked_sub_months(Months::new(years.saturating_mul(12)))
        .unwrap_or(date)
}

/// `date` moved on by whole years (29 February falls back to 28 February).
pub(super) fn years_after(date: NaiveDate, years: u32) -> NaiveDate {
    date.checked_add_months(Months::new(years.saturating_mul(12)))
        .unwrap_or(date)
}

/// The national switch-on date of automatic (prospective) record access.
pub(super) fn prospective_access_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2023, 10, 31).unwrap_or(NaiveDate::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
    }

    #[test]
    fn knows_the_bank_holidays() {
        // 2026: Good Friday 3 April, Easter Monday 6 April, 4 and 25 May, 31 August,
        // Christmas Friday 25 December and Boxing Day substitute Monday 28 December.
        for holiday in [
            date(2026, 1, 1),
            date(2026, 4, 3),
            date(2026, 4, 6),
            date(2026, 5, 4),
            date(2026, 5, 25),
            date(2026, 8, 31),
            date(2026, 12, 25),
            date(2026, 12, 28),
        ] {
            assert!(!is_working_day(holiday), "{holiday}");
        }
        assert!(is_working_day(date(2026, 11, 23)));
        assert!(!is_working_day(date(2026, 11, 22)));
    }

    #[test]
    fn converts_uk_local_time() {
        assert_eq!(
            uk_time(date(2026, 7, 1), 9, 0).to_rfc3339(),
            "2026-07-01T08:00:00+00:00"
        );
        assert_eq!(
            uk_time(date(2026, 12, 1), 9, 0).to_rfc3339(),
            "2026-12-01T09:00:00+00:00"
        );
    }
}
