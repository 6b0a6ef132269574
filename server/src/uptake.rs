//! Uptake of the practice's online services, as a practice manager reports it: patients
//! registered for at least one online service against the national 10% target, and month by
//! month what patients and proxies did online — appointments booked, repeat prescriptions
//! ordered, record views, messages sent, proxy access granted — and new registrations. Counts
//! only: no name, id or clinical text leaves this module.

use crate::db::entities::{
    access_log, accounts, appointments, message_threads, messages, patients, prescription_requests,
    proxy_grants,
};
use crate::error::AppError;
use crate::record::review::patients_of;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use utoipa::ToSchema;
use uuid::Uuid;

/// The share of patients NHS England asks practices to have registered, in percent.
pub const TARGET_PERCENT: f64 = 10.0;
/// Months reported when none are asked for.
pub const DEFAULT_MONTHS: u32 = 12;
/// Most months one report covers.
pub const MAX_MONTHS: u32 = 36;

/// The practice's uptake report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Uptake {
    /// Patients on the list (not archived).
    pub patients: u64,
    /// Of them, those with an active online account of their own.
    pub registered_patients: u64,
    /// `registered_patients` as a percentage of `patients`, one decimal.
    pub registered_percent: f64,
    /// The target percentage.
    pub target_percent: f64,
    /// Whether the target is met.
    pub target_met: bool,
    /// Month by month, oldest first, the current month last (so far).
    pub months: Vec<MonthFigures>,
}

/// What patients and proxies did online in one calendar month (UTC).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct MonthFigures {
    /// `YYYY-MM`.
    pub month: String,
    /// Patients of the list with an account registered by the month's end.
    pub registered_patients: u64,
    /// Accounts registered in the month (patients and proxies).
    pub registrations: u64,
    /// Appointments booked online.
    pub bookings: u64,
    /// Repeat prescription requests made online.
    pub orders: u64,
    /// Reads of the record by patients and proxies.
    pub record_views: u64,
    /// Messages sent by patients and proxies.
    pub messages: u64,
    /// Proxy access granted.
    pub proxy_grants: u64,
}

/// Uptake of `practice_id` over the last `months` calendar months up to `now`.
pub async fn report(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    months: u32,
    now: DateTime<Utc>,
) -> Result<Uptake, AppError> {
    let first = first_month(now.date_naive(), months);
    let since = first.and_time(chrono::NaiveTime::MIN).and_utc();
    let mut figures: BTreeMap<NaiveDate, MonthFigures> = BTreeMap::new();
    let mut month = first;
    while month <= now.date_naive() {
        figures.insert(
            month,
            MonthFigures {
                month: month.format("%Y-%m").to_string(),
                ..MonthFigures::default()
            },
        );
        month = next_month(month);
    }
    let mut count = |instants: Vec<DateTime<Utc>>, field: fn(&mut MonthFigures) -> &mut u64| {
        for instant in instants {
            if let Some(entry) = figures.get_mut(&month_of(instant.date_naive())) {
                *field(entry) += 1;
            }
        }
    };

    let listed = patients::Entity::find()
        .filter(patients::Column::PracticeId.eq(practice_id))
        .filter(patients::Column::ArchivedAt.is_null())
        .select_only()
        .column(patients::Column::Id)
        .into_tuple::<Uuid>()
        .all(db)
        .await?;
    // The first registration of each listed patient with an active account of their own.
    let mut first_registration: BTreeMap<Uuid, DateTime<Utc>> = BTreeMap::new();
    for (patient_id, created_at) in accounts::Entity::find()
        .filter(accounts::Column::PracticeId.eq(practice_id))
        .filter(accounts::Column::Status.eq(accounts::AccountStatus::Active))
        .filter(accounts::Column::PatientId.is_in(listed.iter().copied()))
        .select_only()
        .columns([accounts::Column::PatientId, accounts::Column::CreatedAt])
        .into_tuple::<(Uuid, DateTime<Utc>)>()
        .all(db)
        .await?
    {
        let earliest = first_registration.entry(patient_id).or_insert(created_at);
        *earliest = (*earliest).min(created_at);
    }

    count(
        accounts::Entity::find()
            .filter(accounts::Column::PracticeId.eq(practice_id))
            .filter(accounts::Column::CreatedAt.gte(since))
            .select_only()
            .column(accounts::Column::CreatedAt)
            .into_tuple()
            .all(db)
            .await?,
        |m| &mut m.registrations,
    );
    count(
        appointments::Entity::find()
            .filter(appointments::Column::PatientId.in_subquery(patients_of(practice_id)))
            .filter(appointments::Column::BookedByAccountId.is_not_null())
            .filter(appointments::Column::BookedAt.gte(since))
            .select_only()
            .column(appointments::Column::BookedAt)
            .into_tuple()
            .all(db)
            .await?,
        |m| &mut m.bookings,
    );
    count(
        prescription_requests::Entity::find()
            .filter(prescription_requests::Column::PatientId.in_subquery(patients_of(practice_id)))
            .filter(prescription_requests::Column::RequestedByAccountId.is_not_null())
            .filter(prescription_requests::Column::CreatedAt.gte(since))
            .select_only()
            .column(prescription_requests::Column::CreatedAt)
            .into_tuple()
            .all(db)
            .await?,
        |m| &mut m.orders,
    );
    count(
        access_log::Entity::find()
            .filter(access_log::Column::PatientId.in_subquery(patients_of(practice_id)))
            .filter(access_log::Column::ViewerKind.ne(access_log::ViewerKind::Staff))
            .filter(access_log::Column::AccessedAt.gte(since))
            .select_only()
            .column(access_log::Column::AccessedAt)
            .into_tuple()
            .all(db)
            .await?,
        |m| &mut m.record_views,
    );
    let threads = Query::select()
        .column(message_threads::Column::Id)
        .from(message_threads::Entity)
        .and_where(message_threads::Column::PatientId.in_subquery(patients_of(practice_id)))
        .to_owned();
    count(
        messages::Entity::find()
            .filter(messages::Column::ThreadId.in_subquery(threads))
            .filter(messages::Column::SenderKind.ne(messages::SenderKind::Staff))
            .filter(messages::Column::SentAt.gte(since))
            .select_only()
            .column(messages::Column::SentAt)
            .into_tuple()
            .all(db)
            .await?,
        |m| &mut m.messages,
    );
    count(
        proxy_grants::Entity::find()
            .filter(proxy_grants::Column::PracticeId.eq(practice_id))
            .filter(proxy_grants::Column::Status.ne(proxy_grants::GrantStatus::Refused))
            .filter(proxy_grants::Column::DecidedAt.gte(since))
            .select_only()
            .column(proxy_grants::Column::DecidedAt)
            .into_tuple()
            .all(db)
            .await?,
        |m| &mut m.proxy_grants,
    );

    for (month, entry) in &mut figures {
        let end = next_month(*month)
            .and_time(chrono::NaiveTime::MIN)
            .and_utc();
        entry.registered_patients =
            first_registration.values().filter(|at| **at < end).count() as u64;
    }
    let patients = listed.len() as u64;
    let registered_patients = first_registration.len() as u64;
    let registered_percent = percent(registered_patients, patients);
    Ok(Uptake {
        patients,
        registered_patients,
        registered_percent,
        target_percent: TARGET_PERCENT,
        target_met: registered_percent >= TARGET_PERCENT,
        months: figures.into_values().collect(),
    })
}

impl Uptake {
    /// The month-by-month figures as CSV (RFC 4180, a header line first).
    pub fn to_csv(&self) -> String {
        let mut csv = String::from(
            "month,registered_patients,registered_percent,registrations,bookings,orders,\
             record_views,messages,proxy_grants\r\n",
        );
        for m in &self.months {
            let _ = write!(
                csv,
                "{},{},{:.1},{},{},{},{},{},{}\r\n",
                m.month,
                m.registered_patients,
                percent(m.registered_patients, self.patients),
                m.registrations,
                m.bookings,
                m.orders,
                m.record_views,
                m.messages,
                m.proxy_grants
            );
        }
        csv
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 1000.0 / whole as f64).round() / 10.0
}

fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

fn next_month(month: NaiveDate) -> NaiveDate {
    month
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(month)
}

/// The first day of the month `months - 1` months before `today`'s.
fn first_month(today: NaiveDate, months: u32) -> NaiveDate {
    month_of(today)
        .checked_sub_months(chrono::Months::new(months.clamp(1, MAX_MONTHS) - 1))
        .unwrap_or(today)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_run_from_the_first_asked_for_to_the_current_one() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        assert_eq!(
            first_month(today, 12),
            NaiveDate::from_ymd_opt(2025, 4, 1).unwrap()
        );
        assert_eq!(
            first_month(today, 1),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
        assert_eq!(
            next_month(NaiveDate::from_ymd_opt(2025, 12, 1).unwrap()),
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
        );
    }

    #[test]
    fn percentages_have_one_decimal_and_survive_an_empty_list() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(0, 0), 0.0);
    }

    #[test]
    fn csv_has_a_header_and_one_line_per_month() {
        let uptake = Uptake {
            patients: 200,
            registered_patients: 30,
            registered_percent: 15.0,
            target_percent: TARGET_PERCENT,
            target_met: true,
            months: vec![MonthFigures {
                month: "2026-11".to_owned(),
                registered_patients: 25,
                bookings: 7,
                ..MonthFigures::default()
            }],
        };
        let csv = uptake.to_csv();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert!(lines[0].starts_with("month,registered_patients,registered_percent"));
        assert_eq!(lines[1], "2026-11,25,12.5,0,7,0,0,0,0");
        assert_eq!(lines.len(), 3);
    }
}
