//! The practice's transactional services in the demo: eight weeks of appointment slots for
//! each clinician (and the past slots of last year's appointments), bookings, repeat
//! prescription requests in every state, and message threads with the practice.

use super::calendar::{is_working_day, uk_time};
use super::catalogue::{BOOKING_REASONS, CONVERSATIONS, REQUEST_NOTES};
use super::people::{Person, StaffMember};
use super::{Ctx, Rows, new_id, pick, stream};
use crate::db::entities::appointments::{self, AppointmentStatus};
use crate::db::entities::courses::CourseType;
use crate::db::entities::message_threads::{self, ThreadStatus};
use crate::db::entities::messages::{self, SenderKind};
use crate::db::entities::prescription_request_items::{self, RequestItemStatus};
use crate::db::entities::prescription_requests;
use crate::db::entities::slots::{self, Channel, SlotStatus};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

const STREAM_SLOTS: u64 = 10;
const STREAM_APPOINTMENTS: u64 = 11;
const STREAM_REQUESTS: u64 = 12;
const STREAM_MESSAGES: u64 = 13;

/// Days of slots published ahead (the practice's 8-week window).
const WINDOW_DAYS: i64 = 56;

/// One session of a clinician's week.
struct Session {
    /// Mon = 0 … Fri = 4.
    days: &'static [u32],
    start: (u32, u32),
    end: (u32, u32),
    name: &'static str,
    location: &'static str,
}

/// A clinician's rota.
struct Rota {
    /// `Some(n)`: the n-th GP; `None`: the practice nurse.
    gp: Option<usize>,
    minutes: i64,
    sessions: &'static [Session],
}

const MAIN: &str = "Main surgery";
const BRANCH: &str = "Mill Lane branch surgery";

const ROTAS: &[Rota] = &[
    Rota {
        gp: Some(0),
        minutes: 15,
        sessions: &[
            Session {
                days: &[0, 1, 3, 4],
                start: (8, 30),
                end: (11, 30),
                name: "Morning surgery",
                location: MAIN,
            },
            Session {
                days: &[0, 1, 3, 4],
                start: (14, 30),
                end: (17, 0),
                name: "Afternoon surgery",
                location: MAIN,
            },
        ],
    },
    Rota {
        gp: Some(1),
        minutes: 10,
        sessions: &[
            Session {
                days: &[0, 1, 2, 3, 4],
                start: (8, 30),
                end: (11, 30),
                name: "Morning surgery",
                location: MAIN,
            },
            Session {
                days: &[0, 1, 3, 4],
                start: (14, 30),
                end: (17, 0),
                name: "Afternoon surgery",
                location: MAIN,
            },
        ],
    },
    Rota {
        gp: Some(2),
        minutes: 15,
        sessions: &[
            Session {
                days: &[1, 2, 3],
                start: (9, 0),
                end: (12, 0),
                name: "Morning surgery",
                location: MAIN,
            },
            Session {
                days: &[1, 2, 3],
                start: (14, 0),
                end: (16, 30),
                name: "Afternoon surgery",
                location: MAIN,
            },
        ],
    },
    Rota {
        gp: None,
        minutes: 15,
        sessions: &[
            Session {
                days: &[0, 1, 2, 3, 4],
                start: (8, 30),
                end: (12, 0),
                name: "Nurse clinic",
                location: MAIN,
            },
            Session {
                days: &[1],
                start: (14, 0),
                end: (16, 30),
                name: "Nurse clinic",
                location: BRANCH,
            },
            Session {
                days: &[3],
                start: (14, 0),
                end: (16, 30),
                name: "Nurse clinic",
                location: MAIN,
            },
        ],
    },
];

impl Rota {
    fn clinician<'a>(&self, ctx: &'a Ctx) -> &'a StaffMember {
        match self.gp.and_then(|n| ctx.staff.gps.get(n)) {
            Some(gp) => gp,
            None => &ctx.staff.nurse,
        }
    }
}

/// Channel and slot type of the `position`-th of `count` slots in a session.
fn slot_kind(nurse: bool, morning: bool, position: usize, count: usize) -> (Channel, &'static str) {
    if nurse {
        return if position == 0 {
            (Channel::Telephone, "Telephone consultation")
        } else {
            (Channel::InPerson, "Nurse appointment")
        };
    }
    let telephone = if morning {
        position < 3
    } else {
        position + 2 >= count
    };
    if telephone {
        (Channel::Telephone, "Telephone consultation")
    } else if morning && position == 6 {
        (Channel::Video, "Video consultation")
    } else {
        (Channel::InPerson, "GP appointment")
    }
}

struct SlotMaker<'a> {
    ctx: &'a Ctx,
    rng: ChaCha8Rng,
    seq: usize,
}

impl SlotMaker<'_> {
    #[allow(clippy::too_many_arguments)]
    fn slot(
        &mut self,
        clinician: &StaffMember,
        slot_type: &str,
        session: &str,
        location: &str,
        channel: Channel,
        starts_at: DateTime<Utc>,
        minutes: i64,
        status: SlotStatus,
    ) -> slots::Model {
        self.seq += 1;
        slots::Model {
            id: new_id(&mut self.rng),
            practice_id: self.ctx.practice_id,
            external_id: Some(format!("EMIS-S-{:06}", self.seq)),
            clinician_staff_id: Some(clinician.id),
            clinician_name: clinician.name.to_owned(),
            slot_type: slot_type.to_owned(),
            session_name: session.to_owned(),
            location: location.to_owned(),
            channel,
            starts_at,
            ends_at: starts_at + Duration::minutes(minutes),
            status,
            created_at: self.ctx.now,
            updated_at: self.ctx.now,
        }
    }
}

/// The times of the slots of one session on `date`.
fn session_times(date: NaiveDate, session: &Session, minutes: i64) -> Vec<DateTime<Utc>> {
    let start = uk_time(date, session.start.0, session.start.1);
    let end = uk_time(date, session.end.0, session.end.1);
    let mut times = Vec::new();
    let mut at = start;
    while at + Duration::minutes(minutes) <= end {
        times.push(at);
        at += Duration::minutes(minutes);
    }
    times
}

/// Slots from today for eight weeks, and the appointments booked in them and in the past year.
pub(super) fn slots_and_appointments(ctx: &Ctx, people: &[Person], rows: &mut Rows) {
    let mut maker = SlotMaker {
        ctx,
        rng: stream(STREAM_SLOTS),
        seq: 0,
    };
    for offset in 0..WINDOW_DAYS {
        let date = ctx.today + Duration::days(offset);
        if !is_working_day(date) {
            continue;
        }
        let weekday = date.weekday().num_days_from_monday();
        for rota in ROTAS {
            let clinician = rota.clinician(ctx).clone();
            for session in rota.sessions {
                if !session.days.contains(&weekday) {
                    continue;
                }
                let times = session_times(date, session, rota.minutes);
                let morning = session.start.0 < 12;
                let count = times.len();
                for (position, starts_at) in times.into_iter().enumerate() {
                    if starts_at <= ctx.now {
                        continue;
                    }
                    let (channel, slot_type) =
                        slot_kind(rota.gp.is_none(), morning, position, count);
                    // Now and then a slot is withdrawn (training, a meeting).
                    let status = if maker.rng.random_bool(0.015) {
                        SlotStatus::Withdrawn
                    } else {
                        SlotStatus::Open
                    };
                    let slot = maker.slot(
                        &clinician,
                        slot_type,
                        session.name,
                        session.location,
                        channel,
                        starts_at,
                        rota.minutes,
                        status,
                    );
                    rows.slots.push(slot);
                }
            }
        }
    }
    appointments(ctx, people, rows, &mut maker);
}

fn appointment(
    rng: &mut ChaCha8Rng,
    slot: &slots::Model,
    patient_id: Uuid,
    status: AppointmentStatus,
    booked_at: DateTime<Utc>,
    by_proxy: bool,
) -> appointments::Model {
    let reason = (*pick(rng, BOOKING_REASONS)).to_owned();
    appointments::Model {
        id: new_id(rng),
        practice_id: slot.practice_id,
        slot_id: slot.id,
        patient_id,
        active_slot_id: (status == AppointmentStatus::Booked).then_some(slot.id),
        status,
        reason: Some(reason),
        booked_by_account_id: None,
        booked_by_proxy: by_proxy,
        cancellation_reason: None,
        booked_at,
        cancelled_at: None,
        created_at: booked_at,
        updated_at: booked_at,
    }
}

fn appointments(ctx: &Ctx, people: &[Person], rows: &mut Rows, maker: &mut SlotMaker<'_>) {
    let mut rng = stream(STREAM_APPOINTMENTS);
    let mut bookable: Vec<usize> = rows
        .slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.status == SlotStatus::Open && s.channel != Channel::Video)
        .map(|(i, _)| i)
        .collect();
    bookable.shuffle(&mut rng);
    let mut bookable = bookable.into_iter();
    let active: Vec<&Person> = people
        .iter()
        .filter(|p| p.model.archived_at.is_none())
        .collect();
    let mut future_count: BTreeMap<usize, u32> = BTreeMap::new();
    // Scripted: parents and a son booking for the people they act for.
    let mut booked = Vec::new();
    for (index, by_proxy) in [(1usize, true), (7, true), (0, false), (5, false)] {
        booked.push((index, by_proxy));
    }
    for _ in 0..70 {
        if let Some(person) = active.get(rng.random_range(0..active.len().max(1))) {
            booked.push((person.index, false));
        }
    }
    for (index, by_proxy) in booked {
        let count = future_count.entry(index).or_insert(0);
        if *count >= 2 {
            continue;
        }
        let (Some(person), Some(slot)) = (
            people.get(index),
            bookable.next().and_then(|i| rows.slots.get(i)),
        ) else {
            continue;
        };
        *count += 1;
        let booked_at = ctx.not_after_now(ctx.now - Duration::hours(rng.random_range(2..400)));
        let row = appointment(
            &mut rng,
            slot,
            person.model.id,
            AppointmentStatus::Booked,
            booked_at,
            by_proxy,
        );
        rows.appointments.push(row);
    }
    // Future appointments cancelled by the patient: the slot is open again.
    for _ in 0..8 {
        let Some(person) = active.get(rng.random_range(0..active.len().max(1))) else {
            continue;
        };
        let Some(slot) = bookable.next().and_then(|i| rows.slots.get(i)) else {
            continue;
        };
        let booked_at = ctx.now - Duration::hours(rng.random_range(48..400));
        let mut row = appointment(
            &mut rng,
            slot,
            person.model.id,
            AppointmentStatus::CancelledByPatient,
            booked_at,
            false,
        );
        let cancelled = ctx.not_after_now(booked_at + Duration::hours(rng.random_range(2..40)));
        row.cancellation_reason = Some("Cannot attend".to_owned());
        row.cancelled_at = Some(cancelled);
        row.updated_at = cancelled;
        rows.appointments.push(row);
    }
    // The past year: each past appointment gets the slot it took place in.
    let mut taken: HashSet<(Uuid, DateTime<Utc>)> = HashSet::new();
    let mut past_slots = Vec::new();
    let mut past_appointments = Vec::new();
    for _ in 0..240 {
        let Some(person) = active.get(rng.random_range(0..active.len().max(1))) else {
            continue;
        };
        let Some(rota) = ROTAS.get(rng.random_range(0..ROTAS.len())) else {
            continue;
        };
        let date = ctx.today - Duration::days(rng.random_range(1..365));
        let weekday = date.weekday().num_days_from_monday();
        if !is_working_day(date) || date.weekday() == Weekday::Sat {
            continue;
        }
        let sessions: Vec<&Session> = rota
            .sessions
            .iter()
            .filter(|s| s.days.contains(&weekday))
            .collect();
        let Some(session) = sessions.get(rng.random_range(0..sessions.len().max(1))) else {
            continue;
        };
        let times = session_times(date, session, rota.minutes);
        let count = times.len();
        let position = rng.random_range(0..count.max(1));
        let Some(starts_at) = times.get(position).copied() else {
            continue;
        };
        let clinician = rota.clinician(ctx).clone();
        if starts_at >= ctx.now || !taken.insert((clinician.id, starts_at)) {
            continue;
        }
        let (channel, slot_type) =
            slot_kind(rota.gp.is_none(), session.start.0 < 12, position, count);
        let slot = maker.slot(
            &clinician,
            slot_type,
            session.name,
            session.location,
            channel,
            starts_at,
            rota.minutes,
            SlotStatus::Open,
        );
        let booked_at = starts_at - Duration::hours(rng.random_range(3..330));
        let status = match rng.random_range(0..100) {
            0..=79 => AppointmentStatus::Attended,
            80..=86 => AppointmentStatus::DidNotAttend,
            87..=94 => AppointmentStatus::CancelledByPatient,
            _ => AppointmentStatus::CancelledByPractice,
        };
        let mut row = appointment(&mut rng, &slot, person.model.id, status, booked_at, false);
        match status {
            AppointmentStatus::CancelledByPatient => {
                let at = booked_at + (starts_at - booked_at) / 2;
                row.cancellation_reason = Some(
                    (*pick(
                        &mut rng,
                        &["No longer needed", "Cannot attend", "Booked by mistake"],
                    ))
                    .to_owned(),
                );
                row.cancelled_at = Some(at);
                row.updated_at = at;
            }
            AppointmentStatus::CancelledByPractice => {
                let at = starts_at - Duration::hours(20);
                row.cancellation_reason = Some("Clinician unavailable".to_owned());
                row.cancelled_at = Some(at.max(booked_at));
                row.updated_at = at.max(booked_at);
            }
            _ => row.updated_at = starts_at + Duration::minutes(rota.minutes),
        }
        past_slots.push(slot);
        past_appointments.push(row);
    }
    rows.slots.extend(past_slots);
    rows.appointments.extend(past_appointments);
}

/// Repeat prescription requests in every state.
pub(super) fn prescription_requests(ctx: &Ctx, people: &[Person], rows: &mut Rows) {
    let mut rng = stream(STREAM_REQUESTS);
    let mut by_patient: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let index_of: BTreeMap<Uuid, usize> = people.iter().map(|p| (p.model.id, p.index)).collect();
    for (position, course) in rows.courses.iter().enumerate() {
        let requestable = course.can_be_requested
            && course.course_type == CourseType::Repeat
            && course.ended_on.is_none();
        if let Some(index) = index_of.get(&course.patient_id)
            && requestable
        {
            by_patient.entry(*index).or_default().push(position);
        }
    }
    // The scripted proxies order first, then others at random.
    let mut order: Vec<usize> = by_patient
        .keys()
        .copied()
        .filter(|index| {
            people
                .get(*index)
                .is_some_and(|p| p.gets_linkage && p.model.archived_at.is_none() && *index > 10)
        })
        .collect();
    order.shuffle(&mut rng);
    let mut patients: Vec<(usize, bool)> = [1usize, 7]
        .into_iter()
        .filter(|index| by_patient.contains_key(index))
        .map(|index| (index, true))
        .collect();
    patients.extend(order.into_iter().take(34).map(|index| (index, false)));
    let mut pending_courses: HashSet<Uuid> = HashSet::new();
    for (number, (index, by_proxy)) in patients.into_iter().enumerate() {
        let (Some(person), Some(course_positions)) = (people.get(index), by_patient.get(&index))
        else {
            continue;
        };
        let outcome = if by_proxy {
            RequestItemStatus::Requested
        } else {
            match number % 12 {
                0..=3 => RequestItemStatus::Requested,
                4..=8 => RequestItemStatus::Approved,
                9 | 10 => RequestItemStatus::Rejected,
                _ => RequestItemStatus::Cancelled,
            }
        };
        let take = rng.random_range(1..=course_positions.len().min(3));
        let chosen: Vec<courses_ref::Course> = course_positions
            .iter()
            .take(take)
            .filter_map(|p| rows.courses.get(*p))
            .map(courses_ref::Course::from)
            .collect();
        let Some(first) = chosen.first() else {
            continue;
        };
        let (created, decided) = match outcome {
            RequestItemStatus::Requested => {
                (ctx.now - Duration::hours(rng.random_range(2..70)), None)
            }
            RequestItemStatus::Approved => {
                let issue = first.last_issue.unwrap_or(ctx.today - Duration::days(10));
                let created = ctx.not_after_now(uk_time(
                    issue - Duration::days(1),
                    19,
                    rng.random_range(0..60),
                ));
                let decided = ctx.not_after_now(uk_time(issue, 10, rng.random_range(0..60)));
                (created, Some(decided.max(created)))
            }
            _ => {
                let created = uk_time(
                    ctx.today - Duration::days(rng.random_range(5..40)),
                    20,
                    rng.random_range(0..60),
                );
                (
                    created,
                    Some(created + Duration::hours(rng.random_range(13..30))),
                )
            }
        };
        let request_id = new_id(&mut rng);
        rows.requests.push(prescription_requests::Model {
            id: request_id,
            practice_id: person.model.practice_id,
            patient_id: person.model.id,
            requested_by_account_id: None,
            requested_by_proxy: by_proxy,
            note: rng
                .random_bool(0.4)
                .then(|| (*pick(&mut rng, REQUEST_NOTES)).to_owned()),
            pharmacy_ods: person.model.nominated_pharmacy_ods.clone(),
            created_at: created,
            updated_at: decided.unwrap_or(created),
        });
        for course in chosen {
            let routed = course.review_date.is_some_and(|d| d < ctx.today);
            let mut status = outcome;
            if status == RequestItemStatus::Requested && !pending_courses.insert(course.id) {
                continue;
            }
            // An overdue review is routed to a clinician, who may refuse until it is done.
            if status == RequestItemStatus::Approved && routed && rng.random_bool(0.5) {
                status = RequestItemStatus::Rejected;
            }
            let clinician = pick(&mut rng, &ctx.staff.gps).clone();
            let decided_by = match status {
                RequestItemStatus::Approved | RequestItemStatus::Rejected => Some(clinician.id),
                _ => None,
            };
            rows.request_items.push(prescription_request_items::Model {
                id: new_id(&mut rng),
                practice_id: person.model.practice_id,
                request_id,
                course_id: course.id,
                pending_course_id: (status == RequestItemStatus::Requested).then_some(course.id),
                status,
                routed_to_clinician: routed || status == RequestItemStatus::Rejected,
                rejection_reason: (status == RequestItemStatus::Rejected).then(|| {
                    "Your medication review is overdue. Please book a review with the practice \
                     pharmacist before we issue this again."
                        .to_owned()
                }),
                decided_at: decided,
                decided_by_staff_id: decided_by,
                created_at: created,
                updated_at: decided.unwrap_or(created),
            });
        }
    }
}

/// The few course fields a request needs, copied so `rows` can be borrowed again.
mod courses_ref {
    use crate::db::entities::courses;
    use chrono::NaiveDate;
    use uuid::Uuid;

    pub(super) struct Course {
        pub id: Uuid,
        pub last_issue: Option<NaiveDate>,
        pub review_date: Option<NaiveDate>,
    }

    impl From<&courses::Model> for Course {
        fn from(course: &courses::Model) -> Self {
            Self {
                id: course.id,
                last_issue: course.last_issue_date,
                review_date: course.review_date,
            }
        }
    }
}

/// Message threads between patients (or a proxy) and the practice.
pub(super) fn messages(ctx: &Ctx, people: &[Person], rows: &mut Rows) {
    let mut rng = stream(STREAM_MESSAGES);
    let mut writers: Vec<usize> = people
        .iter()
        .filter(|p| p.gets_linkage && p.index > 10)
        .map(|p| p.index)
        .collect();
    writers.shuffle(&mut rng);
    // Laura Bennett writes about Isla as her proxy; then 40 patients write for themselves.
    let child_template = CONVERSATIONS
        .iter()
        .position(|(subject, _)| subject.contains("child"))
        .unwrap_or(0);
    let adult_templates: Vec<usize> = (0..CONVERSATIONS.len())
        .filter(|t| *t != child_template)
        .collect();
    let mut threads: Vec<(usize, bool, usize)> = vec![(1, true, child_template)];
    threads.extend(
        writers
            .into_iter()
            .take(40)
            .enumerate()
            .filter_map(|(n, index)| {
                let template = adult_templates.get(n % adult_templates.len().max(1))?;
                Some((index, false, *template))
            }),
    );
    for (index, by_proxy, template) in threads {
        let (Some(person), Some((subject, turns))) =
            (people.get(index), CONVERSATIONS.get(template))
        else {
            continue;
        };
        let thread_id = new_id(&mut rng);
        let mut at = uk_time(
            ctx.today - Duration::days(rng.random_range(0..180)),
            rng.random_range(8..21),
            rng.random_range(0..60),
        );
        if at >= ctx.now {
            at = ctx.now - Duration::hours(rng.random_range(1..5));
        }
        let started = at;
        let mut last = at;
        let staff_writer: StaffMember = if rng.random_bool(0.6) {
            ctx.staff.receptionist.clone()
        } else {
            pick(&mut rng, &ctx.staff.gps).clone()
        };
        let count = turns.len();
        for (turn, (from_patient, body)) in turns.iter().enumerate() {
            if turn > 0 {
                at += Duration::hours(rng.random_range(3..48));
            }
            if at >= ctx.now {
                break;
            }
            last = at;
            let final_turn = turn + 1 == count;
            let read_after = at + Duration::hours(rng.random_range(1..30));
            let read = (read_after < ctx.now && (!final_turn || rng.random_bool(0.7)))
                .then_some(read_after);
            let (kind, staff_id, read_by_patient, read_by_practice) = if *from_patient {
                let kind = if by_proxy {
                    SenderKind::Proxy
                } else {
                    SenderKind::Patient
                };
                (kind, None, Some(at), read)
            } else {
                (SenderKind::Staff, Some(staff_writer.id), read, Some(at))
            };
            rows.messages.push(messages::Model {
                id: new_id(&mut rng),
                practice_id: person.model.practice_id,
                thread_id,
                sender_kind: kind,
                sender_account_id: None,
                sender_staff_id: staff_id,
                body: (*body).to_owned(),
                sent_at: at,
                read_by_patient_at: read_by_patient,
                read_by_practice_at: read_by_practice,
            });
        }
        let closed = ctx.now - last > Duration::days(21);
        rows.threads.push(message_threads::Model {
            id: thread_id,
            practice_id: person.model.practice_id,
            patient_id: person.model.id,
            subject: Some((*subject).to_owned()),
            status: if closed {
                ThreadStatus::Closed
            } else {
                ThreadStatus::Open
            },
            deleted_by_patient_at: None,
            created_at: started,
            updated_at: last,
        });
    }
}
