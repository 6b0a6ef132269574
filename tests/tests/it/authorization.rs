//! The authorisation matrix: every route of the router (read from the served OpenAPI
//! description, so a new route cannot escape it) against every kind of caller — the patient, a
//! proxy in scope, a proxy out of scope, an expired and a suspended proxy, another patient, staff
//! of the patient's practice and of another practice, the clinical system's key, a bad token and
//! nobody. Only the entitled succeed; the others get 401, 403 or 404, never the patient's name or
//! NHS number, and for a patient they may not see exactly the answer a patient id that does not
//! exist gets.
//!
//! Each route runs in a fresh world (two practices and a set of actors) on one server, and each
//! request against freshly arranged state (its own slot, thread, course, grant, ceremony…), so
//! one actor's success cannot mask another's refusal. Refusals are sent before successes.

use chrono::{Duration, NaiveDate};
use gp_online::access::Scope;
use gp_online::config::IdentityConfig;
use gp_online::db::entities::{
    access_codes, blobs, carers, courses, devices, documents, patients, practices,
    prescription_request_items, proxy_grants, record_access_requests, results, session_families,
    slots, staff,
};
use gp_online::identity::linkage::{self, LinkageSubject};
use gp_online::identity::sessions::{self, Subject};
use gp_online::settings::PracticeSettings;
use gp_online_tests::passkey::SoftDiscoverablePasskey;
use gp_online_tests::{TestApp, fixtures, spawn_app_with};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use uuid::Uuid;

/// The origin the software passkey signs for (the default relying party).
const ORIGIN: &str = "https://localhost";

// ---------------------------------------------------------------------------------------------
// Actors and entitlements
// ---------------------------------------------------------------------------------------------

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Actor {
    /// No credential at all.
    Anonymous,
    /// A bearer token that is no session and no key.
    BadToken,
    /// The patient, on their own account.
    Patient,
    /// A proxy whose valid grant covers what the route needs.
    ProxyInScope,
    /// A proxy with a valid grant that does not cover what the route needs.
    ProxyOutOfScope,
    /// A proxy whose grant ended yesterday (not yet swept).
    ProxyExpired,
    /// A proxy whose grant is suspended.
    ProxySuspended,
    /// Another patient of the same practice, with no grant.
    OtherPatient,
    /// An admin of the patient's practice.
    Admin,
    /// A clinician of the patient's practice.
    Clinician,
    /// An admin of another practice.
    ForeignAdmin,
    /// A clinician of another practice.
    ForeignClinician,
    /// The clinical system's integration key of the patient's practice.
    ClinicalSystem,
}

const ACTORS: [Actor; 13] = [
    Actor::Anonymous,
    Actor::BadToken,
    Actor::Patient,
    Actor::ProxyInScope,
    Actor::ProxyOutOfScope,
    Actor::ProxyExpired,
    Actor::ProxySuspended,
    Actor::OtherPatient,
    Actor::Admin,
    Actor::Clinician,
    Actor::ForeignAdmin,
    Actor::ForeignClinician,
    Actor::ClinicalSystem,
];

impl Actor {
    /// A column heading of the printed matrix.
    fn label(self) -> &'static str {
        match self {
            Self::Anonymous => "anon",
            Self::BadToken => "badtk",
            Self::Patient => "self",
            Self::ProxyInScope => "px-in",
            Self::ProxyOutOfScope => "px-out",
            Self::ProxyExpired => "px-exp",
            Self::ProxySuspended => "px-sus",
            Self::OtherPatient => "other",
            Self::Admin => "admin",
            Self::Clinician => "clin",
            Self::ForeignAdmin => "f-adm",
            Self::ForeignClinician => "f-clin",
            Self::ClinicalSystem => "key",
        }
    }

    /// A signed-in patient or carer account.
    fn is_account(self) -> bool {
        matches!(
            self,
            Self::Patient
                | Self::ProxyInScope
                | Self::ProxyOutOfScope
                | Self::ProxyExpired
                | Self::ProxySuspended
                | Self::OtherPatient
        )
    }

    fn is_proxy(self) -> bool {
        matches!(
            self,
            Self::ProxyInScope | Self::ProxyOutOfScope | Self::ProxyExpired | Self::ProxySuspended
        )
    }

    /// Whether the caller may know that the patient exists (and see their name): the patient,
    /// their valid proxies, their practice's staff and clinical system. Nobody else may learn
    /// anything about them, from any answer.
    fn may_know_patient(self) -> bool {
        matches!(
            self,
            Self::Patient
                | Self::ProxyInScope
                | Self::ProxyOutOfScope
                | Self::Admin
                | Self::Clinician
                | Self::ClinicalSystem
        )
    }

    fn staff_role(self) -> Option<(bool, staff::StaffRole)> {
        match self {
            Self::Admin => Some((true, staff::StaffRole::Admin)),
            Self::Clinician => Some((true, staff::StaffRole::Clinician)),
            Self::ForeignAdmin => Some((false, staff::StaffRole::Admin)),
            Self::ForeignClinician => Some((false, staff::StaffRole::Clinician)),
            _ => None,
        }
    }
}

/// Which staff roles a staff route admits.
#[derive(Debug, Clone, Copy)]
enum Roles {
    Any,
    Admin,
    Clinician,
}

impl Roles {
    fn admit(self, role: staff::StaffRole) -> bool {
        match self {
            Self::Any => true,
            Self::Admin => role == staff::StaffRole::Admin,
            Self::Clinician => role == staff::StaffRole::Clinician,
        }
    }
}

/// What a patient-scoped route needs of the caller's relationship to the patient.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// Any valid relationship (the answer says per part what the viewer may see).
    Relationship,
    /// The patient, or a proxy whose grant has this scope.
    Scope(Scope),
    /// One record section: the patient, or a proxy with the section's scope. A valid proxy
    /// without it gets the section with status `unavailable` and no items (the documented
    /// per-section answer), which counts as a refusal here.
    Section(Scope),
    /// The patient themself only (their proxies, their access log).
    PatientOnly,
}

/// Who is entitled to a route.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Everyone, anonymous callers included.
    Public,
    /// Any signed-in patient or carer account (about itself).
    Account,
    /// Patient-scoped (`/patients/{patient_id}/…`).
    Patient(Need),
    /// Staff of the patient's practice with the role; about that practice's patients.
    Staff(Roles),
    /// Staff of any practice with the role, about their own practice only (queues, publishing):
    /// another practice's staff succeed but must see nothing of this patient.
    OwnPractice(Roles),
    /// Staff of any practice with the role, about themselves or their practice as a whole (who
    /// they are, counts, the audit trail's codes and ids): it names no patient, to anyone.
    PracticeWide(Roles),
    /// The practice's clinical-system integration key.
    Integration,
}

impl Access {
    fn entitles(self, actor: Actor) -> bool {
        match self {
            Self::Public => true,
            Self::Account => actor.is_account(),
            Self::Patient(Need::PatientOnly) => actor == Actor::Patient,
            Self::Patient(Need::Relationship) => matches!(
                actor,
                Actor::Patient | Actor::ProxyInScope | Actor::ProxyOutOfScope
            ),
            Self::Patient(Need::Scope(_) | Need::Section(_)) => {
                matches!(actor, Actor::Patient | Actor::ProxyInScope)
            }
            Self::Staff(roles) => actor
                .staff_role()
                .is_some_and(|(home, role)| home && roles.admit(role)),
            Self::OwnPractice(roles) | Self::PracticeWide(roles) => {
                actor.staff_role().is_some_and(|(_, r)| roles.admit(r))
            }
            Self::Integration => actor == Actor::ClinicalSystem,
        }
    }

    /// The scopes of the in-scope and the out-of-scope proxies' grants for this route.
    fn proxy_scopes(self) -> (String, String) {
        let all = |except: Option<Scope>| {
            Scope::ALL
                .into_iter()
                .filter(|s| Some(*s) != except)
                .map(Scope::as_str)
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Self::Patient(Need::Scope(scope) | Need::Section(scope)) => {
                (scope.as_str().to_owned(), all(Some(scope)))
            }
            Self::Patient(Need::Relationship) => (
                Scope::Appointments.as_str().to_owned(),
                Scope::Messages.as_str().to_owned(),
            ),
            _ => (all(None), all(None)),
        }
    }
}

/// The part of the API a route belongs to; each test runs some parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Area {
    Operations,
    Identity,
    Record,
    Appointments,
    Prescriptions,
    Messages,
    Proxy,
    Review,
    Integration,
}

/// One route of the router and who may use it.
struct Route {
    method: &'static str,
    path: &'static str,
    access: Access,
    area: Area,
}

const fn route(method: &'static str, path: &'static str, access: Access, area: Area) -> Route {
    Route {
        method,
        path,
        access,
        area,
    }
}

use Access::{Account, Integration, OwnPractice, Patient, PracticeWide, Public, Staff};
use Area as A;

/// Every route of the router. The OpenAPI description must list exactly these.
const ROUTES: &[Route] = &[
    // Operations.
    route("GET", "/healthz", Public, A::Operations),
    route("GET", "/readyz", Public, A::Operations),
    route("GET", "/metrics", Public, A::Operations),
    route("GET", "/api/openapi.json", Public, A::Operations),
    // Identity: ceremonies (public), the account itself, linkage (practice admins).
    route("POST", "/api/v1/registration/begin", Public, A::Identity),
    route("POST", "/api/v1/registration/finish", Public, A::Identity),
    route("POST", "/api/v1/login/begin", Public, A::Identity),
    route("POST", "/api/v1/login/finish", Public, A::Identity),
    route("POST", "/api/v1/token/refresh", Public, A::Identity),
    route(
        "POST",
        "/api/v1/practice/enrolment/begin",
        Public,
        A::Identity,
    ),
    route(
        "POST",
        "/api/v1/practice/enrolment/finish",
        Public,
        A::Identity,
    ),
    route("GET", "/api/v1/me", Account, A::Identity),
    route("GET", "/api/v1/me/devices", Account, A::Identity),
    route("DELETE", "/api/v1/me/devices", Account, A::Identity),
    route(
        "DELETE",
        "/api/v1/me/devices/{device_id}",
        Account,
        A::Identity,
    ),
    route("GET", "/api/v1/me/sessions", Account, A::Identity),
    route(
        "DELETE",
        "/api/v1/me/sessions/{session_id}",
        Account,
        A::Identity,
    ),
    route("GET", "/api/v1/push/vapid-public-key", Public, A::Identity),
    route(
        "PUT",
        "/api/v1/me/devices/{device_id}/push-subscription",
        Account,
        A::Identity,
    ),
    route(
        "DELETE",
        "/api/v1/me/devices/{device_id}/push-subscription",
        Account,
        A::Identity,
    ),
    route(
        "GET",
        "/api/v1/me/devices/{device_id}/notification-preferences",
        Account,
        A::Identity,
    ),
    route(
        "PUT",
        "/api/v1/me/devices/{device_id}/notification-preferences",
        Account,
        A::Identity,
    ),
    route("POST", "/api/v1/me/passkeys/begin", Account, A::Identity),
    route("POST", "/api/v1/me/passkeys/finish", Account, A::Identity),
    route("POST", "/api/v1/sync", Account, A::Identity),
    route("GET", "/api/v1/sync/ws", Account, A::Identity),
    route(
        "POST",
        "/api/v1/practice/patients/{patient_id}/linkage",
        Staff(Roles::Admin),
        A::Identity,
    ),
    route(
        "POST",
        "/api/v1/practice/carers/{carer_id}/linkage",
        Staff(Roles::Admin),
        A::Identity,
    ),
    // The record.
    route(
        "GET",
        "/api/v1/patients/{patient_id}/record",
        Patient(Need::Relationship),
        A::Record,
    ),
    route(
        "GET",
        "/api/v1/patients/{patient_id}/record/{section}",
        Patient(Need::Section(Scope::RecordSummary)),
        A::Record,
    ),
    route(
        "GET",
        "/api/v1/patients/{patient_id}/documents/{document_id}/content",
        Patient(Need::Scope(Scope::Documents)),
        A::Record,
    ),
    route(
        "GET",
        "/api/v1/patients/{patient_id}/export",
        Patient(Need::Relationship),
        A::Record,
    ),
    route(
        "GET",
        "/api/v1/patients/{patient_id}/access-log",
        Patient(Need::PatientOnly),
        A::Record,
    ),
    // Record access controls (ADR 0002).
    route(
        "POST",
        "/api/v1/patients/{patient_id}/record-access-requests",
        Patient(Need::PatientOnly),
        A::Record,
    ),
    route(
        "GET",
        "/api/v1/patients/{patient_id}/record-access-requests",
        Patient(Need::PatientOnly),
        A::Record,
    ),
    route(
        "PUT",
        "/api/v1/practice/patients/{patient_id}/historic-access",
        Staff(Roles::Any),
        A::Record,
    ),
    route(
        "DELETE",
        "/api/v1/practice/patients/{patient_id}/historic-access",
        Staff(Roles::Any),
        A::Record,
    ),
    route(
        "GET",
        "/api/v1/practice/patients/{patient_id}/access-codes",
        Staff(Roles::Any),
        A::Record,
    ),
    route(
        "POST",
        "/api/v1/practice/patients/{patient_id}/access-codes",
        Staff(Roles::Any),
        A::Record,
    ),
    route(
        "POST",
        "/api/v1/practice/patients/{patient_id}/access-codes/{code_id}/end",
        Staff(Roles::Any),
        A::Record,
    ),
    route(
        "PUT",
        "/api/v1/practice/record-items/{kind}/{id}/hidden",
        Staff(Roles::Clinician),
        A::Record,
    ),
    route(
        "DELETE",
        "/api/v1/practice/record-items/{kind}/{id}/hidden",
        Staff(Roles::Clinician),
        A::Record,
    ),
    route(
        "GET",
        "/api/v1/practice/record-access-requests",
        OwnPractice(Roles::Any),
        A::Record,
    ),
    route(
        "POST",
        "/api/v1/practice/record-access-requests/{id}/grant",
        Staff(Roles::Any),
        A::Record,
    ),
    route(
        "POST",
        "/api/v1/practice/record-access-requests/{id}/decline",
        Staff(Roles::Any),
        A::Record,
    ),
    // Practice administration.
    route(
        "GET",
        "/api/v1/practice/settings",
        PracticeWide(Roles::Any),
        A::Operations,
    ),
    route(
        "PATCH",
        "/api/v1/practice/settings",
        PracticeWide(Roles::Admin),
        A::Operations,
    ),
    route(
        "PUT",
        "/api/v1/practice/switch-on-date",
        PracticeWide(Roles::Admin),
        A::Operations,
    ),
    route(
        "DELETE",
        "/api/v1/practice/switch-on-date",
        PracticeWide(Roles::Admin),
        A::Operations,
    ),
    // Appointments.
    route(
        "GET",
        "/api/v1/patients/{patient_id}/slots",
        Patient(Need::Scope(Scope::Appointments)),
        A::Appointments,
    ),
    route(
        "GET",
        "/api/v1/patients/{patient_id}/appointments",
        Patient(Need::Scope(Scope::Appointments)),
        A::Appointments,
    ),
    route(
        "POST",
        "/api/v1/patients/{patient_id}/appointments",
        Patient(Need::Scope(Scope::Appointments)),
        A::Appointments,
    ),
    route(
        "DELETE",
        "/api/v1/patients/{patient_id}/appointments/{appointment_id}",
        Patient(Need::Scope(Scope::Appointments)),
        A::Appointments,
    ),
    route(
        "POST",
        "/api/v1/practice/slots",
        OwnPractice(Roles::Any),
        A::Appointments,
    ),
    route(
        "POST",
        "/api/v1/practice/slots/{slot_id}/cancel",
        Staff(Roles::Any),
        A::Appointments,
    ),
    route(
        "POST",
        "/api/v1/practice/appointments/{appointment_id}/move",
        Staff(Roles::Any),
        A::Appointments,
    ),
    route(
        "POST",
        "/api/v1/integration/slots",
        Integration,
        A::Appointments,
    ),
    // Repeat prescriptions.
    route(
        "GET",
        "/api/v1/patients/{patient_id}/courses",
        Patient(Need::Scope(Scope::Prescriptions)),
        A::Prescriptions,
    ),
    route(
        "GET",
        "/api/v1/patients/{patient_id}/prescription-requests",
        Patient(Need::Scope(Scope::Prescriptions)),
        A::Prescriptions,
    ),
    route(
        "POST",
        "/api/v1/patients/{patient_id}/prescription-requests",
        Patient(Need::Scope(Scope::Prescriptions)),
        A::Prescriptions,
    ),
    route(
        "DELETE",
        "/api/v1/patients/{patient_id}/prescription-requests/{request_id}",
        Patient(Need::Scope(Scope::Prescriptions)),
        A::Prescriptions,
    ),
    route(
        "GET",
        "/api/v1/patients/{patient_id}/pharmacy",
        Patient(Need::Scope(Scope::Prescriptions)),
        A::Prescriptions,
    ),
    route(
        "PUT",
        "/api/v1/patients/{patient_id}/pharmacy",
        Patient(Need::Scope(Scope::Prescriptions)),
        A::Prescriptions,
    ),
    route(
        "GET",
        "/api/v1/practice/prescription-requests",
        OwnPractice(Roles::Any),
        A::Prescriptions,
    ),
    route(
        "POST",
        "/api/v1/practice/prescription-requests/{request_id}/items/{item_id}/approve",
        Staff(Roles::Clinician),
        A::Prescriptions,
    ),
    route(
        "POST",
        "/api/v1/practice/prescription-requests/{request_id}/items/{item_id}/reject",
        Staff(Roles::Clinician),
        A::Prescriptions,
    ),
    route(
        "PUT",
        "/api/v1/integration/courses",
        Integration,
        A::Prescriptions,
    ),
    // Messages.
    route(
        "GET",
        "/api/v1/patients/{patient_id}/messages",
        Patient(Need::Scope(Scope::Messages)),
        A::Messages,
    ),
    route(
        "POST",
        "/api/v1/patients/{patient_id}/messages",
        Patient(Need::Scope(Scope::Messages)),
        A::Messages,
    ),
    route(
        "GET",
        "/api/v1/patients/{patient_id}/messages/{thread_id}",
        Patient(Need::Scope(Scope::Messages)),
        A::Messages,
    ),
    route(
        "POST",
        "/api/v1/patients/{patient_id}/messages/{thread_id}",
        Patient(Need::Scope(Scope::Messages)),
        A::Messages,
    ),
    route(
        "DELETE",
        "/api/v1/patients/{patient_id}/messages/{thread_id}",
        Patient(Need::Scope(Scope::Messages)),
        A::Messages,
    ),
    route(
        "POST",
        "/api/v1/patients/{patient_id}/messages/{thread_id}/read",
        Patient(Need::Scope(Scope::Messages)),
        A::Messages,
    ),
    route(
        "GET",
        "/api/v1/practice/messages",
        OwnPractice(Roles::Any),
        A::Messages,
    ),
    route(
        "GET",
        "/api/v1/practice/messages/{thread_id}",
        Staff(Roles::Any),
        A::Messages,
    ),
    route(
        "POST",
        "/api/v1/practice/messages/{thread_id}",
        Staff(Roles::Any),
        A::Messages,
    ),
    route(
        "POST",
        "/api/v1/practice/messages/{thread_id}/close",
        Staff(Roles::Any),
        A::Messages,
    ),
    // Proxy access.
    route(
        "GET",
        "/api/v1/patients/{patient_id}/proxies",
        Patient(Need::PatientOnly),
        A::Proxy,
    ),
    route(
        "DELETE",
        "/api/v1/patients/{patient_id}/proxies/{grant_id}",
        Patient(Need::PatientOnly),
        A::Proxy,
    ),
    route(
        "POST",
        "/api/v1/practice/proxy-grants",
        Staff(Roles::Admin),
        A::Proxy,
    ),
    route(
        "GET",
        "/api/v1/practice/patients/{patient_id}/proxy-grants",
        Staff(Roles::Any),
        A::Proxy,
    ),
    route(
        "PATCH",
        "/api/v1/practice/proxy-grants/{grant_id}",
        Staff(Roles::Admin),
        A::Proxy,
    ),
    route(
        "POST",
        "/api/v1/practice/proxy-grants/{grant_id}/revoke",
        Staff(Roles::Admin),
        A::Proxy,
    ),
    route(
        "POST",
        "/api/v1/practice/proxy-grants/{grant_id}/review",
        Staff(Roles::Admin),
        A::Proxy,
    ),
    // Review of results and documents.
    route(
        "GET",
        "/api/v1/practice/review-queue",
        OwnPractice(Roles::Any),
        A::Review,
    ),
    route(
        "POST",
        "/api/v1/practice/results/{id}/release",
        Staff(Roles::Clinician),
        A::Review,
    ),
    route(
        "POST",
        "/api/v1/practice/results/{id}/withhold",
        Staff(Roles::Clinician),
        A::Review,
    ),
    route(
        "POST",
        "/api/v1/practice/results/{id}/retract",
        Staff(Roles::Clinician),
        A::Review,
    ),
    route(
        "POST",
        "/api/v1/practice/documents/{id}/release",
        Staff(Roles::Clinician),
        A::Review,
    ),
    route(
        "POST",
        "/api/v1/practice/documents/{id}/withhold",
        Staff(Roles::Clinician),
        A::Review,
    ),
    route(
        "POST",
        "/api/v1/practice/documents/{id}/retract",
        Staff(Roles::Clinician),
        A::Review,
    ),
    // The console's staff routes: the staff member, patients, diary, trail and uptake.
    route(
        "GET",
        "/api/v1/practice/me",
        PracticeWide(Roles::Any),
        A::Identity,
    ),
    route(
        "DELETE",
        "/api/v1/practice/session",
        PracticeWide(Roles::Any),
        A::Identity,
    ),
    route(
        "GET",
        "/api/v1/practice/patients",
        OwnPractice(Roles::Any),
        A::Review,
    ),
    route(
        "GET",
        "/api/v1/practice/patients/{patient_id}",
        Staff(Roles::Any),
        A::Review,
    ),
    route(
        "GET",
        "/api/v1/practice/results/{id}/trend",
        Staff(Roles::Any),
        A::Review,
    ),
    route(
        "GET",
        "/api/v1/practice/documents/{id}/content",
        Staff(Roles::Any),
        A::Review,
    ),
    route(
        "GET",
        "/api/v1/practice/slots",
        OwnPractice(Roles::Any),
        A::Appointments,
    ),
    route(
        "GET",
        "/api/v1/practice/proxy-reviews",
        OwnPractice(Roles::Any),
        A::Proxy,
    ),
    route(
        "GET",
        "/api/v1/practice/audit",
        PracticeWide(Roles::Admin),
        A::Review,
    ),
    route(
        "GET",
        "/api/v1/practice/uptake",
        PracticeWide(Roles::Any),
        A::Review,
    ),
    // The clinical system.
    route(
        "GET",
        "/api/v1/integration/practice",
        Integration,
        A::Integration,
    ),
    route(
        "POST",
        "/api/v1/integration/batches",
        Integration,
        A::Integration,
    ),
    route(
        "POST",
        "/api/v1/integration/documents",
        Integration,
        A::Integration,
    ),
    route(
        "POST",
        "/api/v1/integration/fhir",
        Integration,
        A::Integration,
    ),
];

// ---------------------------------------------------------------------------------------------
// The world each route runs in
// ---------------------------------------------------------------------------------------------

/// Two practices, the patient, and a credential for every actor.
struct World {
    practice: practices::Model,
    patient: patients::Model,
    /// Bearer credentials (none for the anonymous caller).
    tokens: BTreeMap<Actor, String>,
    /// Account ids of the account actors.
    accounts: BTreeMap<Actor, Uuid>,
    /// A released letter of the patient.
    document_id: Uuid,
}

impl World {
    fn token(&self, actor: Actor) -> &str {
        &self.tokens[&actor]
    }

    /// The patient id a request names: the patient, or for the ghost probe an id nobody has.
    fn patient_id(&self, ghost: bool) -> Uuid {
        if ghost {
            Uuid::new_v4()
        } else {
            self.patient.id
        }
    }
}

fn settings() -> PracticeSettings {
    PracticeSettings {
        patient_may_delete_messages: true,
        max_future_appointments: 100,
        ..PracticeSettings::default()
    }
}

/// A patient of the practice with a recognisable, unique family name.
async fn person(app: &TestApp, practice_id: Uuid, family: &str) -> patients::Model {
    let made = fixtures::patient(app, practice_id, None).await;
    let suffix = &Uuid::new_v4().simple().to_string()[..10];
    let mut model: patients::ActiveModel = made.into();
    model.family_name = Set(format!("{family}{suffix}"));
    model.access_level = Set(patients::AccessLevel::Documents);
    model.record_access_from = Set(NaiveDate::from_ymd_opt(2000, 1, 1));
    model.update(&app.db).await.unwrap()
}

async fn world(app: &TestApp, access: Access) -> World {
    let practice = fixtures::practice_with(app, settings()).await;
    let foreign = fixtures::practice_with(app, settings()).await;
    let patient = person(app, practice.id, "Zanzibar").await;
    let today = app.clock.now().date_naive();
    let (in_scope, out_of_scope) = access.proxy_scopes();
    let all = Scope::ALL.map(Scope::as_str).join(",");
    let mut tokens = BTreeMap::new();
    let mut accounts = BTreeMap::new();
    for actor in ACTORS {
        let token = match actor {
            Actor::Anonymous => continue,
            Actor::BadToken => format!("not-a-token-{}", Uuid::new_v4().simple()),
            Actor::ClinicalSystem => fixtures::integration_key(app, &practice).await,
            Actor::Patient => {
                let (account, token) = fixtures::account(app, &patient).await;
                accounts.insert(actor, account);
                token
            }
            _ if actor.is_account() => {
                let holder = person(app, practice.id, "Holder").await;
                let scopes = match actor {
                    Actor::ProxyInScope => Some(in_scope.as_str()),
                    Actor::ProxyOutOfScope => Some(out_of_scope.as_str()),
                    Actor::ProxyExpired | Actor::ProxySuspended => Some(all.as_str()),
                    _ => None,
                };
                if let Some(scopes) = scopes {
                    let now = app.clock.now();
                    fixtures::proxy_grant(app, &patient, holder.id, scopes, |grant| match actor {
                        Actor::ProxyExpired => grant.ends_on = Some(today - Duration::days(1)),
                        Actor::ProxySuspended => {
                            grant.status = proxy_grants::GrantStatus::Suspended;
                            grant.suspended_at = Some(now);
                            grant.suspended_reason = Some("age_16".to_owned());
                        }
                        _ => {}
                    })
                    .await;
                }
                let (account, token) = fixtures::account(app, &holder).await;
                accounts.insert(actor, account);
                token
            }
            _ => {
                let (home, role) = actor.staff_role().unwrap();
                let at = if home { practice.id } else { foreign.id };
                fixtures::staff_token(app, at, role).await
            }
        };
        tokens.insert(actor, token);
    }
    let document_id = document(app, patient.id, results::ReviewState::Released).await;
    World {
        practice,
        patient,
        tokens,
        accounts,
        document_id,
    }
}

// ---------------------------------------------------------------------------------------------
// Arranging state
// ---------------------------------------------------------------------------------------------

/// An open slot of the practice, a week ahead.
async fn open_slot(app: &TestApp, practice_id: Uuid) -> Uuid {
    let starts_in = Duration::days(7) + Duration::minutes(i64::from(rand::random::<u16>()));
    fixtures::open_slot(app, practice_id, starts_in, |slot| {
        slot.location = "Room 2".to_owned();
    })
    .await
}

/// The patient books a fresh slot; the appointment's id.
async fn booked(app: &TestApp, w: &World) -> Uuid {
    let slot = open_slot(app, w.practice.id).await;
    let call = Call::json(
        "POST",
        format!("/api/v1/patients/{}/appointments", w.patient.id),
        json!({"slot_id": slot, "reason": "A cough"}),
    );
    id_of(&expect_ok(app, &call, Some(w.token(Actor::Patient))).await)
}

/// A repeat course of the patient that can be ordered today.
async fn course(app: &TestApp, patient_id: Uuid) -> Uuid {
    let now = app.clock.now();
    let today = now.date_naive();
    courses::ActiveModel::from(courses::Model {
        id: Uuid::new_v4(),
        practice_id: gp_online_tests::fixtures::practice_of(app, patient_id).await,
        patient_id,
        external_id: None,
        snomed_code: "322236009".to_owned(),
        medication: "Paracetamol 500mg tablets".to_owned(),
        dosage: "Two when needed".to_owned(),
        quantity: "32 tablets".to_owned(),
        course_type: courses::CourseType::Repeat,
        can_be_requested: true,
        last_issue_date: Some(today - Duration::days(60)),
        next_issue_date: Some(today - Duration::days(32)),
        review_date: Some(today + Duration::days(200)),
        hidden: false,
        hidden_from_proxies: false,
        ended_on: None,
        created_at: now,
        updated_at: now,
    })
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

/// The patient orders a fresh course; the request's and its item's ids.
async fn ordered(app: &TestApp, w: &World) -> (Uuid, Uuid) {
    let course = course(app, w.patient.id).await;
    let call = Call::json(
        "POST",
        format!("/api/v1/patients/{}/prescription-requests", w.patient.id),
        json!({"course_ids": [course]}),
    );
    let receipt = expect_ok(app, &call, Some(w.token(Actor::Patient))).await;
    let request_id: Uuid = receipt["request_id"].as_str().unwrap().parse().unwrap();
    let item = prescription_request_items::Entity::find()
        .filter(prescription_request_items::Column::RequestId.eq(request_id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    (request_id, item.id)
}

/// A thread with the practice started with `token` (the patient's or a proxy's).
async fn thread(app: &TestApp, w: &World, token: &str) -> Uuid {
    let call = Call::json(
        "POST",
        format!("/api/v1/patients/{}/messages", w.patient.id),
        json!({"subject": "Blood test", "body": "When should I book it?"}),
    );
    id_of(&expect_ok(app, &call, Some(token)).await)
}

/// A thread the actor would see if entitled: proxies see threads a proxy started.
async fn thread_for(app: &TestApp, w: &World, actor: Actor) -> Uuid {
    let starter = if actor.is_proxy() {
        Actor::ProxyInScope
    } else {
        Actor::Patient
    };
    thread(app, w, w.token(starter)).await
}

/// A result of the patient in `state`.
async fn result(app: &TestApp, patient_id: Uuid, state: results::ReviewState) -> Uuid {
    let now = app.clock.now();
    let released = (state == results::ReviewState::Released).then_some(now);
    results::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(gp_online_tests::fixtures::practice_of(app, patient_id).await),
        patient_id: Set(patient_id),
        external_id: Set(None),
        test_code: Set("1022431000000105".to_owned()),
        test_name: Set("Haemoglobin".to_owned()),
        value: Set("131".to_owned()),
        numeric_value: Set(Some(131.0)),
        unit: Set(Some("g/L".to_owned())),
        range_low: Set(Some(115.0)),
        range_high: Set(Some(165.0)),
        range_text: Set(None),
        abnormal_flag: Set(results::AbnormalFlag::Normal),
        requester: Set(None),
        effective_date: Set(now.date_naive()),
        entered_on: Set(now.date_naive()),
        received_at: Set(now),
        review_state: Set(state),
        reviewed_at: Set(released),
        reviewed_by_staff_id: Set(None),
        clinician_comment: Set(None),
        withhold_reason: Set(None),
        released_at: Set(released),
        retracted_at: Set(None),
        retraction_reason: Set(None),
        hidden: Set(false),
        hidden_from_proxies: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

/// A letter of the patient in `state`, with its body.
async fn document(app: &TestApp, patient_id: Uuid, state: results::ReviewState) -> Uuid {
    let now = app.clock.now();
    let content = format!("Clinic letter {}", Uuid::new_v4()).into_bytes();
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&content));
    let size = i64::try_from(content.len()).unwrap();
    blobs::ActiveModel {
        sha256: Set(sha256.clone()),
        content_type: Set("text/plain".to_owned()),
        size_bytes: Set(size),
        content: Set(content),
        created_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let released = (state == results::ReviewState::Released).then_some(now);
    documents::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(gp_online_tests::fixtures::practice_of(app, patient_id).await),
        patient_id: Set(patient_id),
        external_id: Set(None),
        document_type: Set(documents::DocumentType::OutpatientLetter),
        title: Set("Cardiology clinic letter".to_owned()),
        author_organisation: Set(None),
        effective_date: Set(now.date_naive()),
        entered_on: Set(now.date_naive()),
        content_type: Set("text/plain".to_owned()),
        size_bytes: Set(size),
        blob_sha256: Set(sha256),
        received_at: Set(now),
        review_state: Set(state),
        reviewed_at: Set(released),
        reviewed_by_staff_id: Set(None),
        clinician_comment: Set(None),
        withhold_reason: Set(None),
        released_at: Set(released),
        retracted_at: Set(None),
        retraction_reason: Set(None),
        hidden: Set(false),
        hidden_from_proxies: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

/// A fresh valid grant for the patient to a new proxy.
async fn grant(app: &TestApp, w: &World) -> Uuid {
    let holder = person(app, w.practice.id, "Grantee").await;
    fixtures::proxy_grant(app, &w.patient, holder.id, "appointments", |_| {})
        .await
        .id
}

/// A record-access code on the patient's record.
async fn access_code(app: &TestApp, patient_id: Uuid) -> Uuid {
    access_codes::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(gp_online_tests::fixtures::practice_of(app, patient_id).await),
        patient_id: Set(patient_id),
        external_id: Set(None),
        snomed_code: Set("1364731000000104".to_owned()),
        recorded_at: Set(app.clock.now()),
        recorded_by_staff_id: Set(None),
        ended_on: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

/// A patient's pending request for their historic record.
async fn access_request(app: &TestApp, w: &World) -> Uuid {
    let now = app.clock.now();
    record_access_requests::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(w.practice.id),
        patient_id: Set(w.patient.id),
        requested_by_account_id: Set(None),
        level: Set(patients::AccessLevel::Documents),
        note: Set(None),
        status: Set(record_access_requests::RequestStatus::Pending),
        decided_by_staff_id: Set(None),
        decided_at: Set(None),
        decision_reason: Set(None),
        granted_from: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

/// A carer recorded by the practice.
async fn carer(app: &TestApp, practice_id: Uuid) -> Uuid {
    let now = app.clock.now();
    carers::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(practice_id),
        given_name: Set("Carer".to_owned()),
        family_name: Set("Person".to_owned()),
        date_of_birth: Set(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

/// Linkage details for a new patient of the practice, as a registration claim.
async fn claim(app: &TestApp, w: &World) -> Value {
    let registrant = fixtures::patient(app, w.practice.id, None).await;
    let issued = linkage::issue(
        &app.db,
        &w.practice,
        LinkageSubject::Patient(registrant.id),
        false,
        None,
        app.clock.now(),
    )
    .await
    .unwrap();
    json!({
        "account_id": issued.account_id,
        "linkage_key": issued.linkage_key,
        "ods_code": w.practice.ods_code,
        "surname": registrant.family_name,
        "date_of_birth": registrant.date_of_birth.to_string(),
    })
}

/// A registration ceremony begun for a new patient, answered by `passkey`.
async fn registration_answer(
    app: &TestApp,
    w: &World,
    passkey: &mut SoftDiscoverablePasskey,
) -> Value {
    let begin = Call::json("POST", "/api/v1/registration/begin", claim(app, w).await);
    let begun = expect_ok(app, &begin, None).await;
    let credential = passkey.register(ORIGIN, &begun["public_key"]).unwrap();
    json!({
        "ceremony_id": begun["ceremony_id"],
        "credential": credential,
        "device_name": "Phone",
    })
}

/// A staff enrolment code for a new clinician of the practice.
async fn enrolment_code(app: &TestApp, w: &World) -> String {
    let identity = gp_online::identity::Identity::new(&IdentityConfig::default()).unwrap();
    gp_online::identity::staff::invite(
        &app.db,
        &identity,
        &w.practice.ods_code,
        staff::StaffRole::Clinician,
        "New Clinician",
        app.clock.now(),
    )
    .await
    .unwrap()
    .enrolment_code
}

/// The account whose own things (devices, sessions, passkeys) an actor's request names: its
/// own, or the patient's for a caller with no account.
fn account_of(w: &World, actor: Actor) -> (Uuid, Actor) {
    let owner = if actor.is_account() {
        actor
    } else {
        Actor::Patient
    };
    (w.accounts[&owner], owner)
}

fn slot_body(now: chrono::DateTime<chrono::Utc>, external_id: Option<String>) -> Value {
    let starts = now + Duration::days(9);
    json!({"slots": [{
        "external_id": external_id,
        "starts_at": starts.to_rfc3339(),
        "ends_at": (starts + Duration::minutes(15)).to_rfc3339(),
        "clinician_name": "Dr Rhea Shah",
        "slot_type": "GP appointment",
        "session_name": "Morning surgery",
        "location": "Room 1",
        "channel": "telephone",
    }]})
}

/// The request `actor` sends to `route`, against freshly arranged state. With `ghost`, the
/// patient (or the patient's resource) the request names is replaced by an id that does not
/// exist; `None` when the route names no patient.
#[allow(clippy::too_many_lines)] // One arm per route: the table's other half.
async fn arrange(
    app: &TestApp,
    w: &World,
    route: &Route,
    actor: Actor,
    ghost: bool,
) -> Option<Call> {
    let pid = w.patient_id(ghost);
    let fresh = |id: Uuid| if ghost { Uuid::new_v4() } else { id };
    let now = app.clock.now();
    let m = route.method;
    let names_patient = matches!(route.access, Patient(_) | Staff(_));
    if ghost && !names_patient {
        return None;
    }
    let call = match (m, route.path) {
        ("GET", "/healthz" | "/readyz" | "/metrics" | "/api/openapi.json") => {
            Call::empty(m, route.path.to_owned())
        }
        ("POST", "/api/v1/registration/begin") => Call::json(m, route.path, claim(app, w).await),
        ("POST", "/api/v1/registration/finish") => {
            let mut passkey = SoftDiscoverablePasskey::new(true);
            Call::json(
                m,
                route.path,
                registration_answer(app, w, &mut passkey).await,
            )
        }
        ("POST", "/api/v1/login/begin") => Call::empty(m, route.path.to_owned()),
        ("POST", "/api/v1/login/finish") => {
            let mut passkey = SoftDiscoverablePasskey::new(true);
            let answer = registration_answer(app, w, &mut passkey).await;
            let finish = Call::json(m, "/api/v1/registration/finish", answer);
            expect_ok(app, &finish, None).await;
            let begun = expect_ok(app, &Call::empty(m, "/api/v1/login/begin".into()), None).await;
            let credential = passkey.authenticate(ORIGIN, &begun["public_key"]).unwrap();
            Call::json(
                m,
                route.path,
                json!({"ceremony_id": begun["ceremony_id"], "credential": credential}),
            )
        }
        ("POST", "/api/v1/token/refresh") => {
            let (account_id, _) = account_of(w, Actor::OtherPatient);
            let device = devices::Entity::find()
                .filter(devices::Column::AccountId.eq(account_id))
                .one(&app.db)
                .await
                .unwrap()
                .unwrap();
            let subject = Subject::Account {
                account_id,
                device_id: device.id,
            };
            let tokens = sessions::open(&app.db, &IdentityConfig::default(), subject, now)
                .await
                .unwrap();
            Call::json(
                m,
                route.path,
                json!({"refresh_token": tokens.refresh_token}),
            )
        }
        ("POST", "/api/v1/practice/enrolment/begin") => Call::json(
            m,
            route.path,
            json!({"enrolment_code": enrolment_code(app, w).await}),
        ),
        ("POST", "/api/v1/practice/enrolment/finish") => {
            let code = enrolment_code(app, w).await;
            let begin = Call::json(
                m,
                "/api/v1/practice/enrolment/begin",
                json!({"enrolment_code": code}),
            );
            let begun = expect_ok(app, &begin, None).await;
            let mut passkey = SoftDiscoverablePasskey::new(true);
            let credential = passkey.register(ORIGIN, &begun["public_key"]).unwrap();
            Call::json(
                m,
                route.path,
                json!({"ceremony_id": begun["ceremony_id"], "credential": credential}),
            )
        }
        (
            _,
            "/api/v1/me"
            | "/api/v1/me/devices"
            | "/api/v1/me/sessions"
            | "/api/v1/me/passkeys/begin",
        ) => Call::empty(m, route.path.to_owned()),
        ("DELETE", "/api/v1/me/devices/{device_id}") => {
            let (account_id, _) = account_of(w, actor);
            let device = devices::Entity::find()
                .filter(devices::Column::AccountId.eq(account_id))
                .one(&app.db)
                .await
                .unwrap()
                .unwrap();
            Call::empty(m, format!("/api/v1/me/devices/{}", device.id))
        }
        ("GET", "/api/v1/push/vapid-public-key") => Call::empty(m, route.path.to_owned()),
        (_, "/api/v1/me/devices/{device_id}/push-subscription")
        | (_, "/api/v1/me/devices/{device_id}/notification-preferences") => {
            let (account_id, _) = account_of(w, actor);
            let device = devices::Entity::find()
                .filter(devices::Column::AccountId.eq(account_id))
                .one(&app.db)
                .await
                .unwrap()
                .unwrap();
            let path = route.path.replace("{device_id}", &device.id.to_string());
            match (m, route.path.ends_with("push-subscription")) {
                ("PUT", true) => Call::json(
                    m,
                    path,
                    json!({
                        "endpoint": "https://push.example.net/send/abc",
                        "expirationTime": null,
                        "keys": {"p256dh": "BAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-P0A", "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
                    }),
                ),
                ("PUT", false) => Call::json(m, path, json!({"kinds": {"result_released": false}})),
                _ => Call::empty(m, path),
            }
        }
        ("DELETE", "/api/v1/me/sessions/{session_id}") => {
            let (account_id, _) = account_of(w, actor);
            let session = session_families::Entity::find()
                .filter(session_families::Column::AccountId.eq(account_id))
                .one(&app.db)
                .await
                .unwrap()
                .unwrap();
            Call::empty(m, format!("/api/v1/me/sessions/{}", session.id))
        }
        ("POST", "/api/v1/me/passkeys/finish") => {
            let (_, owner) = account_of(w, actor);
            let begin = Call::empty(m, "/api/v1/me/passkeys/begin".into());
            let begun = expect_ok(app, &begin, Some(w.token(owner))).await;
            let mut passkey = SoftDiscoverablePasskey::new(true);
            let credential = passkey.register(ORIGIN, &begun["public_key"]).unwrap();
            Call::json(
                m,
                route.path,
                json!({
                    "ceremony_id": begun["ceremony_id"],
                    "credential": credential,
                    "device_name": "Tablet",
                }),
            )
        }
        ("POST", "/api/v1/sync") => Call {
            method: m,
            path: route.path.to_owned(),
            body: Payload::Cbor(sync_protocol::Frame::new().encode()),
        },
        ("GET", "/api/v1/sync/ws") => Call::empty(m, route.path.to_owned()),
        ("POST", "/api/v1/practice/patients/{patient_id}/linkage") => Call::json(
            m,
            format!("/api/v1/practice/patients/{pid}/linkage"),
            json!({}),
        ),
        ("POST", "/api/v1/practice/carers/{carer_id}/linkage") => {
            let carer = fresh(carer(app, w.practice.id).await);
            Call::json(
                m,
                format!("/api/v1/practice/carers/{carer}/linkage"),
                json!({}),
            )
        }
        ("GET", "/api/v1/patients/{patient_id}/record") => {
            Call::empty(m, format!("/api/v1/patients/{pid}/record"))
        }
        ("GET", "/api/v1/patients/{patient_id}/record/{section}") => {
            Call::empty(m, format!("/api/v1/patients/{pid}/record/allergies"))
        }
        ("GET", "/api/v1/patients/{patient_id}/documents/{document_id}/content") => Call::empty(
            m,
            format!("/api/v1/patients/{pid}/documents/{}/content", w.document_id),
        ),
        ("GET", "/api/v1/patients/{patient_id}/export") => {
            Call::empty(m, format!("/api/v1/patients/{pid}/export"))
        }
        ("GET", "/api/v1/patients/{patient_id}/access-log") => {
            Call::empty(m, format!("/api/v1/patients/{pid}/access-log"))
        }
        ("GET", "/api/v1/patients/{patient_id}/slots") => {
            open_slot(app, w.practice.id).await;
            Call::empty(m, format!("/api/v1/patients/{pid}/slots"))
        }
        ("GET", "/api/v1/patients/{patient_id}/appointments") => {
            booked(app, w).await;
            Call::empty(m, format!("/api/v1/patients/{pid}/appointments"))
        }
        ("POST", "/api/v1/patients/{patient_id}/appointments") => {
            let slot = open_slot(app, w.practice.id).await;
            Call::json(
                m,
                format!("/api/v1/patients/{pid}/appointments"),
                json!({"slot_id": slot, "reason": "A cough"}),
            )
        }
        ("DELETE", "/api/v1/patients/{patient_id}/appointments/{appointment_id}") => {
            let appointment = booked(app, w).await;
            Call::json(
                m,
                format!("/api/v1/patients/{pid}/appointments/{appointment}"),
                json!({"reason": settings().cancellation_reasons[0]}),
            )
        }
        ("POST", "/api/v1/practice/slots") => Call::json(m, route.path, slot_body(now, None)),
        ("POST", "/api/v1/practice/slots/{slot_id}/cancel") => {
            let slot = fresh(open_slot(app, w.practice.id).await);
            Call::json(
                m,
                format!("/api/v1/practice/slots/{slot}/cancel"),
                json!({"reason": "Clinician unavailable"}),
            )
        }
        ("POST", "/api/v1/practice/appointments/{appointment_id}/move") => {
            let appointment = fresh(booked(app, w).await);
            let slot = open_slot(app, w.practice.id).await;
            Call::json(
                m,
                format!("/api/v1/practice/appointments/{appointment}/move"),
                json!({"slot_id": slot}),
            )
        }
        ("POST", "/api/v1/integration/slots") => Call::json(
            m,
            route.path,
            slot_body(now, Some(format!("SLOT-{}", Uuid::new_v4()))),
        ),
        ("GET", "/api/v1/patients/{patient_id}/courses") => {
            course(app, w.patient.id).await;
            Call::empty(m, format!("/api/v1/patients/{pid}/courses"))
        }
        ("GET", "/api/v1/patients/{patient_id}/prescription-requests") => {
            ordered(app, w).await;
            Call::empty(m, format!("/api/v1/patients/{pid}/prescription-requests"))
        }
        ("POST", "/api/v1/patients/{patient_id}/prescription-requests") => {
            let course = course(app, w.patient.id).await;
            Call::json(
                m,
                format!("/api/v1/patients/{pid}/prescription-requests"),
                json!({"course_ids": [course]}),
            )
        }
        ("DELETE", "/api/v1/patients/{patient_id}/prescription-requests/{request_id}") => {
            let (request, _) = ordered(app, w).await;
            Call::empty(
                m,
                format!("/api/v1/patients/{pid}/prescription-requests/{request}"),
            )
        }
        ("GET", "/api/v1/patients/{patient_id}/pharmacy") => {
            Call::empty(m, format!("/api/v1/patients/{pid}/pharmacy"))
        }
        ("PUT", "/api/v1/patients/{patient_id}/pharmacy") => Call::json(
            m,
            format!("/api/v1/patients/{pid}/pharmacy"),
            json!({"ods_code": "FQ123"}),
        ),
        ("GET", "/api/v1/practice/prescription-requests") => {
            ordered(app, w).await;
            Call::empty(m, route.path.to_owned())
        }
        (
            "POST",
            "/api/v1/practice/prescription-requests/{request_id}/items/{item_id}/approve"
            | "/api/v1/practice/prescription-requests/{request_id}/items/{item_id}/reject",
        ) => {
            let (request, item) = ordered(app, w).await;
            let verb = route.path.rsplit('/').next().unwrap();
            let path = format!(
                "/api/v1/practice/prescription-requests/{}/items/{}/{verb}",
                fresh(request),
                fresh(item)
            );
            if verb == "reject" {
                Call::json(m, path, json!({"reason": "Please book a review first"}))
            } else {
                Call::empty(m, path)
            }
        }
        ("PUT", "/api/v1/integration/courses") => Call::json(
            m,
            route.path,
            json!({"courses": [{
                "patient_external_id": w.patient.external_id,
                "external_id": format!("C-{}", Uuid::new_v4()),
                "snomed_code": "318135000",
                "medication": "Omeprazole 20mg gastro-resistant capsules",
                "dosage": "One daily",
                "quantity": "28 capsules",
                "course_type": "repeat",
                "can_be_requested": true,
            }]}),
        ),
        ("GET", "/api/v1/patients/{patient_id}/messages") => {
            thread_for(app, w, actor).await;
            Call::empty(m, format!("/api/v1/patients/{pid}/messages"))
        }
        ("POST", "/api/v1/patients/{patient_id}/messages") => Call::json(
            m,
            format!("/api/v1/patients/{pid}/messages"),
            json!({"subject": "Repeat", "body": "Could I have a call back?"}),
        ),
        (_, "/api/v1/patients/{patient_id}/messages/{thread_id}") => {
            let thread = thread_for(app, w, actor).await;
            let path = format!("/api/v1/patients/{pid}/messages/{thread}");
            if m == "POST" {
                Call::json(m, path, json!({"body": "Thank you"}))
            } else {
                Call::empty(m, path)
            }
        }
        ("POST", "/api/v1/patients/{patient_id}/messages/{thread_id}/read") => {
            let thread = thread_for(app, w, actor).await;
            Call::empty(m, format!("/api/v1/patients/{pid}/messages/{thread}/read"))
        }
        ("GET", "/api/v1/practice/messages") => {
            thread(app, w, w.token(Actor::Patient)).await;
            Call::empty(m, route.path.to_owned())
        }
        (
            _,
            "/api/v1/practice/messages/{thread_id}" | "/api/v1/practice/messages/{thread_id}/close",
        ) => {
            let thread = fresh(thread(app, w, w.token(Actor::Patient)).await);
            let path = route.path.replace("{thread_id}", &thread.to_string());
            if m == "POST" && !path.ends_with("/close") {
                Call::json(m, path, json!({"body": "Your results are normal"}))
            } else {
                Call::empty(m, path)
            }
        }
        (_, "/api/v1/patients/{patient_id}/record-access-requests") => {
            if matches!(m, "GET" | "DELETE") {
                Call::empty(m, format!("/api/v1/patients/{pid}/record-access-requests"))
            } else {
                Call::json(
                    m,
                    format!("/api/v1/patients/{pid}/record-access-requests"),
                    json!({"level": "documents", "note": "Please"}),
                )
            }
        }
        (_, "/api/v1/practice/patients/{patient_id}/historic-access") => {
            if matches!(m, "GET" | "DELETE") {
                Call::empty(
                    m,
                    format!("/api/v1/practice/patients/{pid}/historic-access"),
                )
            } else {
                Call::json(
                    m,
                    format!("/api/v1/practice/patients/{pid}/historic-access"),
                    json!({"level": "documents", "from": "2020-01-01"}),
                )
            }
        }
        (_, "/api/v1/practice/patients/{patient_id}/access-codes") => {
            if matches!(m, "GET" | "DELETE") {
                Call::empty(m, format!("/api/v1/practice/patients/{pid}/access-codes"))
            } else {
                Call::json(
                    m,
                    format!("/api/v1/practice/patients/{pid}/access-codes"),
                    json!({"snomed_code": "1364731000000104"}),
                )
            }
        }
        ("POST", "/api/v1/practice/patients/{patient_id}/access-codes/{code_id}/end") => {
            let code = fresh(access_code(app, w.patient.id).await);
            Call::json(
                m,
                format!("/api/v1/practice/patients/{pid}/access-codes/{code}/end"),
                json!({}),
            )
        }
        (_, "/api/v1/practice/record-items/{kind}/{id}/hidden") => {
            let id = fresh(result(app, w.patient.id, results::ReviewState::Released).await);
            let path = format!("/api/v1/practice/record-items/results/{id}/hidden");
            if m == "DELETE" {
                Call::empty(m, path)
            } else {
                Call::json(m, path, json!({"from": "proxies"}))
            }
        }
        ("GET", "/api/v1/practice/record-access-requests") => {
            access_request(app, w).await;
            Call::empty(m, route.path.to_owned())
        }
        (
            "POST",
            "/api/v1/practice/record-access-requests/{id}/grant"
            | "/api/v1/practice/record-access-requests/{id}/decline",
        ) => {
            let id = fresh(access_request(app, w).await);
            let body = if route.path.ends_with("grant") {
                json!({"from": "2020-01-01"})
            } else {
                json!({"reason": "Please come to the practice to discuss."})
            };
            Call::json(m, route.path.replace("{id}", &id.to_string()), body)
        }
        ("GET", "/api/v1/practice/settings") | ("DELETE", "/api/v1/practice/switch-on-date") => {
            Call::empty(m, route.path.to_owned())
        }
        ("PATCH", "/api/v1/practice/settings") => Call::json(
            m,
            route.path,
            json!({"slot_window_weeks": 16, "features": {"messages": true}}),
        ),
        ("PUT", "/api/v1/practice/switch-on-date") => {
            Call::json(m, route.path, json!({"date": "2023-10-31"}))
        }
        ("GET", "/api/v1/patients/{patient_id}/proxies") => {
            Call::empty(m, format!("/api/v1/patients/{pid}/proxies"))
        }
        ("DELETE", "/api/v1/patients/{patient_id}/proxies/{grant_id}") => {
            let grant = grant(app, w).await;
            Call::empty(m, format!("/api/v1/patients/{pid}/proxies/{grant}"))
        }
        ("POST", "/api/v1/practice/proxy-grants") => {
            let holder = person(app, w.practice.id, "Applicant").await;
            Call::json(
                m,
                route.path,
                json!({
                    "patient_id": pid,
                    "proxy": {"patient_id": holder.id},
                    "relationship": "carer",
                    "scopes": ["appointments"],
                    "legal_basis": "patient_consent",
                    "starts_on": now.date_naive().to_string(),
                    "ends_on": "2030-01-01",
                    "decision": "granted",
                }),
            )
        }
        ("GET", "/api/v1/practice/patients/{patient_id}/proxy-grants") => {
            grant(app, w).await;
            Call::empty(m, format!("/api/v1/practice/patients/{pid}/proxy-grants"))
        }
        (
            _,
            "/api/v1/practice/proxy-grants/{grant_id}"
            | "/api/v1/practice/proxy-grants/{grant_id}/revoke"
            | "/api/v1/practice/proxy-grants/{grant_id}/review",
        ) => {
            let grant = fresh(grant(app, w).await);
            let path = route.path.replace("{grant_id}", &grant.to_string());
            let body = match route.path.rsplit('/').next().unwrap() {
                "revoke" => json!({"reason": "relationship_ended"}),
                "review" => json!({"young_person_consent": true}),
                _ => json!({"scopes": ["appointments", "messages"]}),
            };
            Call::json(m, path, body)
        }
        ("GET", "/api/v1/practice/review-queue") => {
            result(app, w.patient.id, results::ReviewState::Pending).await;
            Call::empty(m, route.path.to_owned())
        }
        (
            "POST",
            "/api/v1/practice/results/{id}/release"
            | "/api/v1/practice/results/{id}/withhold"
            | "/api/v1/practice/results/{id}/retract"
            | "/api/v1/practice/documents/{id}/release"
            | "/api/v1/practice/documents/{id}/withhold"
            | "/api/v1/practice/documents/{id}/retract",
        ) => {
            let verb = route.path.rsplit('/').next().unwrap();
            let state = if verb == "retract" {
                results::ReviewState::Released
            } else {
                results::ReviewState::Pending
            };
            let id = if route.path.contains("/results/") {
                result(app, w.patient.id, state).await
            } else {
                document(app, w.patient.id, state).await
            };
            let body = match verb {
                "release" => json!({"comment": "Normal, no action"}),
                "withhold" => json!({"reason": "third_party"}),
                _ => json!({"reason": "Filed against the wrong test"}),
            };
            Call::json(m, route.path.replace("{id}", &fresh(id).to_string()), body)
        }
        (
            "GET",
            "/api/v1/practice/me"
            | "/api/v1/practice/audit"
            | "/api/v1/practice/uptake"
            | "/api/v1/practice/proxy-reviews",
        )
        | ("DELETE", "/api/v1/practice/session") => {
            if route.path.ends_with("proxy-reviews") {
                let grant = grant(app, w).await;
                let mut suspended: proxy_grants::ActiveModel =
                    proxy_grants::Entity::find_by_id(grant)
                        .one(&app.db)
                        .await
                        .unwrap()
                        .unwrap()
                        .into();
                suspended.status = Set(proxy_grants::GrantStatus::Suspended);
                suspended.suspended_at = Set(Some(now));
                suspended.suspended_reason = Set(Some("age_review".to_owned()));
                suspended.update(&app.db).await.unwrap();
            }
            Call::empty(m, route.path.to_owned())
        }
        ("GET", "/api/v1/practice/patients") => Call::empty(
            m,
            format!("/api/v1/practice/patients?q={}", w.patient.family_name),
        ),
        ("GET", "/api/v1/practice/patients/{patient_id}") => {
            Call::empty(m, format!("/api/v1/practice/patients/{pid}"))
        }
        ("GET", "/api/v1/practice/results/{id}/trend") => {
            let id = result(app, w.patient.id, results::ReviewState::Pending).await;
            Call::empty(m, format!("/api/v1/practice/results/{}/trend", fresh(id)))
        }
        ("GET", "/api/v1/practice/documents/{id}/content") => {
            let id = document(app, w.patient.id, results::ReviewState::Pending).await;
            Call::empty(
                m,
                format!("/api/v1/practice/documents/{}/content", fresh(id)),
            )
        }
        ("GET", "/api/v1/practice/slots") => {
            let appointment = booked(app, w).await;
            let slot = gp_online::db::entities::appointments::Entity::find_by_id(appointment)
                .one(&app.db)
                .await
                .unwrap()
                .unwrap()
                .slot_id;
            let day = slots::Entity::find_by_id(slot)
                .one(&app.db)
                .await
                .unwrap()
                .unwrap()
                .starts_at
                .date_naive();
            Call::empty(
                m,
                format!(
                    "/api/v1/practice/slots?from={day}&to={}",
                    day.succ_opt().unwrap()
                ),
            )
        }
        ("GET", "/api/v1/integration/practice") => Call::empty(m, route.path.to_owned()),
        ("POST", "/api/v1/integration/batches") => Call::json(
            m,
            route.path,
            json!({"patients": [{
                "external_id": format!("P-{}", Uuid::new_v4()),
                "nhs_number": unique_nhs_number(),
                "given_name": "Ada",
                "family_name": "Lovelace",
                "date_of_birth": "1980-05-17",
                "sex": "female",
            }]}),
        ),
        ("POST", "/api/v1/integration/documents") => {
            use base64::Engine as _;
            let content = format!("%PDF-1.4\n% {}\n%%EOF\n", Uuid::new_v4());
            Call::json(
                m,
                route.path,
                json!({
                    "external_id": format!("D-{}", Uuid::new_v4()),
                    "patient_external_id": w.patient.external_id,
                    "document_type": "discharge_summary",
                    "title": "Discharge summary",
                    "effective_date": "2026-11-01",
                    "entered_on": "2026-11-02",
                    "content_base64": base64::engine::general_purpose::STANDARD.encode(content),
                }),
            )
        }
        ("POST", "/api/v1/integration/fhir") => Call::json(
            m,
            route.path,
            json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
                "fullUrl": format!("urn:uuid:{}", Uuid::new_v4()),
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{
                        "system": "https://fhir.nhs.uk/Id/nhs-number",
                        "value": unique_nhs_number(),
                    }],
                    "name": [{"family": "Lovelace", "given": ["Ada"]}],
                    "gender": "female",
                    "birthDate": "1980-05-17",
                },
            }]}),
        ),
        _ => panic!("no request is arranged for {m} {}", route.path),
    };
    Some(call)
}

/// A valid NHS number in the 999 test range, different for each call.
fn unique_nhs_number() -> String {
    loop {
        let seed = Uuid::new_v4().as_u128();
        let mut digits = [9u8, 9, 9, 0, 0, 0, 0, 0, 0];
        for (i, digit) in digits.iter_mut().enumerate().skip(3) {
            *digit = u8::try_from((seed >> (i * 4)) % 10).unwrap();
        }
        if let Some(number) = gp_online::validate::NhsNumber::from_first_nine(digits) {
            return number.to_string();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

enum Payload {
    None,
    Json(Value),
    Cbor(Vec<u8>),
}

struct Call {
    method: &'static str,
    path: String,
    body: Payload,
}

impl Call {
    fn empty(method: &'static str, path: String) -> Self {
        Self {
            method,
            path,
            body: Payload::None,
        }
    }

    fn json(method: &'static str, path: impl Into<String>, body: Value) -> Self {
        Self {
            method,
            path: path.into(),
            body: Payload::Json(body),
        }
    }
}

/// What came back.
struct Answer {
    status: u16,
    /// The problem's `code`, if the body is a problem.
    code: Option<String>,
    body: String,
}

async fn send(app: &TestApp, call: &Call, token: Option<&str>) -> Answer {
    if call.path == "/api/v1/sync/ws" {
        return websocket(app, token).await;
    }
    let method = reqwest::Method::from_bytes(call.method.as_bytes()).unwrap();
    let mutating = method != reqwest::Method::GET;
    let mut request = app.client.request(method, app.url(&call.path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if mutating {
        request = request.header("idempotency-key", Uuid::new_v4().to_string());
    }
    request = match &call.body {
        Payload::None => request,
        Payload::Json(body) => request.json(body),
        Payload::Cbor(bytes) => request
            .header("content-type", "application/cbor")
            .body(bytes.clone()),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    answer(status, body)
}

fn answer(status: u16, body: String) -> Answer {
    let code = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned));
    Answer { status, code, body }
}

/// Opens the live sync WebSocket as a client would (a TLS connection and an HTTP/1.1 upgrade):
/// 101 when the server switches protocols, else the refusal's status and body.
async fn websocket(app: &TestApp, token: Option<&str>) -> Answer {
    use tokio_tungstenite::tungstenite;
    let (tls, request) = gp_online_tests::live::upgrade_request(app, &app.address, token).await;
    match tokio_tungstenite::client_async(request, tls).await {
        Ok((mut socket, response)) => {
            let _ = socket.close(None).await;
            answer(response.status().as_u16(), String::new())
        }
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            answer(status, body)
        }
        Err(other) => panic!("the WebSocket handshake failed: {other}"),
    }
}

/// Sends an arranging request that must succeed; its JSON body.
async fn expect_ok(app: &TestApp, call: &Call, token: Option<&str>) -> Value {
    let answer = send(app, call, token).await;
    assert!(
        (200..300).contains(&answer.status),
        "arranging {} {} failed: {} {}",
        call.method,
        call.path,
        answer.status,
        answer.body
    );
    serde_json::from_str(&answer.body).unwrap_or(Value::Null)
}

fn id_of(value: &Value) -> Uuid {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Judging
// ---------------------------------------------------------------------------------------------

/// One cell of the matrix.
struct Cell {
    status: u16,
    failures: Vec<String>,
}

fn leaks(w: &World, body: &str) -> bool {
    body.contains(&w.patient.family_name) || body.contains(&w.patient.nhs_number)
}

/// Whether a refused actor's answer must equal the one for a patient that does not exist.
fn must_look_like_nobody(route: &Route, actor: Actor) -> bool {
    match route.access {
        Patient(Need::Scope(_) | Need::Section(_)) if actor == Actor::ProxyOutOfScope => false,
        Patient(_) | Staff(_) => !actor.may_know_patient(),
        _ => false,
    }
}

async fn judge(app: &TestApp, w: &World, route: &Route, actor: Actor) -> Cell {
    let call = arrange(app, w, route, actor, false).await.unwrap();
    let token = w.tokens.get(&actor).map(String::as_str);
    let got = send(app, &call, token).await;
    let mut failures = Vec::new();
    let entitled = route.access.entitles(actor);
    let section_refusal = matches!(route.access, Patient(Need::Section(_)))
        && got.status == 200
        && serde_json::from_str::<Value>(&got.body)
            .is_ok_and(|v| v["status"] == "unavailable" && v.get("entries").is_none());
    if entitled {
        let ok = if call.path == "/api/v1/sync/ws" {
            got.status == 101
        } else {
            (200..300).contains(&got.status) && !section_refusal
        };
        if !ok {
            failures.push(format!("entitled but got {} {}", got.status, got.body));
        }
        if !actor.may_know_patient() && leaks(w, &got.body) {
            failures.push("the answer names the patient".to_owned());
        }
        if matches!(route.access, OwnPractice(_))
            && route.method == "GET"
            && matches!(actor, Actor::Admin | Actor::Clinician)
            && !leaks(w, &got.body)
        {
            // The foreign staff's check below is only meaningful if the queue shows the patient
            // to their own practice.
            failures.push("the practice's own queue does not show the patient".to_owned());
        }
    } else {
        let refused = match actor {
            Actor::Anonymous | Actor::BadToken => got.status == 401,
            _ => matches!(got.status, 401 | 403 | 404) || section_refusal,
        };
        if !refused {
            failures.push(format!("not entitled but got {} {}", got.status, got.body));
        }
        if leaks(w, &got.body) {
            failures.push(format!("the refusal names the patient: {}", got.body));
        }
        if must_look_like_nobody(route, actor)
            && let Some(ghost) = arrange(app, w, route, actor, true).await
        {
            let nobody = send(app, &ghost, token).await;
            if (nobody.status, &nobody.code) != (got.status, &got.code) {
                failures.push(format!(
                    "reveals the patient: {} {:?} here, {} {:?} for a patient that does not exist",
                    got.status, got.code, nobody.status, nobody.code
                ));
            }
        }
    }
    Cell {
        status: got.status,
        failures,
    }
}

/// Runs every route of `areas` against every actor, prints the matrix and fails with every
/// failure at once.
#[allow(clippy::print_stdout)] // The matrix is the test's report.
async fn run(areas: &[Area]) {
    let app = spawn_app_with(|config| {
        config.identity.attempts_per_minute = 100_000;
        config.identity.attempts_per_account_per_minute = 100_000;
        // The channels registered here are never sent to.
        config.push.poll_interval_ms = 0;
    })
    .await;
    let mut matrix = String::new();
    let mut failures = Vec::new();
    let _ = write!(matrix, "{:<76}", "route");
    for actor in ACTORS {
        let _ = write!(matrix, "{:>7}", actor.label());
    }
    matrix.push('\n');
    for route in ROUTES.iter().filter(|r| areas.contains(&r.area)) {
        let w = world(&app, route.access).await;
        // Refusals first, against untouched state; then the entitled.
        let mut order = ACTORS.to_vec();
        order.sort_by_key(|a| route.access.entitles(*a));
        let mut cells = BTreeMap::new();
        for actor in order {
            let cell = judge(&app, &w, route, actor).await;
            for failure in &cell.failures {
                failures.push(format!(
                    "{} {} as {:?}: {failure}",
                    route.method, route.path, actor
                ));
            }
            cells.insert(actor, cell);
        }
        let _ = write!(matrix, "{:<76}", format!("{} {}", route.method, route.path));
        for actor in ACTORS {
            let cell = &cells[&actor];
            let mark = if cell.failures.is_empty() { ' ' } else { '!' };
            let entitled = if route.access.entitles(actor) {
                '+'
            } else {
                ' '
            };
            let _ = write!(matrix, "{:>7}", format!("{entitled}{}{mark}", cell.status));
        }
        matrix.push('\n');
    }
    println!("{matrix}(+ entitled, ! failed)");
    assert!(
        failures.is_empty(),
        "{matrix}\n{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_route_of_the_router_is_in_the_matrix() {
    let app = spawn_app_with(|_| {}).await;
    let document: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let served: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| {
                    matches!(
                        k.as_str(),
                        "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
                    )
                })
                .map(|method| (method.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let table: Vec<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let listed: BTreeSet<_> = table.iter().cloned().collect();
    assert_eq!(listed.len(), table.len(), "a route is listed twice");
    let missing: Vec<_> = served.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&served).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "served but not in the matrix: {missing:?}; in the matrix but not served: {stale:?}"
    );
    assert!(served.len() >= 60, "only {} routes served", served.len());
}

#[tokio::test]
async fn operations_and_identity_routes_admit_only_the_entitled() {
    run(&[Area::Operations, Area::Identity]).await;
}

#[tokio::test]
async fn record_and_proxy_routes_admit_only_the_entitled() {
    run(&[Area::Record, Area::Proxy]).await;
}

#[tokio::test]
async fn appointment_routes_admit_only_the_entitled() {
    run(&[Area::Appointments]).await;
}

#[tokio::test]
async fn prescription_routes_admit_only_the_entitled() {
    run(&[Area::Prescriptions]).await;
}

#[tokio::test]
async fn message_routes_admit_only_the_entitled() {
    run(&[Area::Messages]).await;
}

#[tokio::test]
async fn review_and_integration_routes_admit_only_the_entitled() {
    run(&[Area::Review, Area::Integration]).await;
}
