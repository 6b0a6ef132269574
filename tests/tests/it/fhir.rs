//! FHIR R4 in and out: a clinical system's Bundle imported through the same domain functions as
//! the JSON import (atomic, idempotent, refused whole with an `OperationOutcome` naming every
//! problem) and a viewer's record exported as a Bundle that an independent FHIR R4 model
//! (`fhir.resources`, tests/fhir/validate.py) accepts and that never holds more than the viewer
//! may see.

use base64::Engine as _;
use gp_online::db::entities::{
    access_log, courses, documents, patients, practices, record_entries, results, slots, staff,
};
use gp_online_tests::fixtures::{self, NewPractice};
use gp_online_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

const NHS_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
const SNOMED: &str = "http://snomed.info/sct";
const DMD: &str = "https://dmd.nhs.uk";
/// A letter's content: a small PDF.
const LETTER: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";
const CONSULTATION_TEXT: &str =
    "Cough for 3 weeks, <no> fever & \"wheeze\" at night.\nPlan: inhaler review in 4 weeks.";

/// A practice with no prospective-access date (the patient's own access decides) and its key.
async fn practice_with_key(app: &TestApp) -> (practices::Model, String) {
    let practice = NewPractice::default()
        .prospective_access_date(None)
        .insert(app)
        .await;
    let key = fixtures::integration_key(app, &practice).await;
    (practice, key)
}

fn entry(full_url: &str, resource: Value) -> Value {
    let resource_type = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    json!({
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource_type},
    })
}

fn transaction(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({"coding": [{"system": system, "code": code, "display": display}], "text": display})
}

fn patient_resource(local_id: &str, nhs_number: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [
            {"system": NHS_SYSTEM, "value": nhs_number},
            {"system": "https://clinical-system.example/patient", "value": local_id},
        ],
        "name": [{"use": "official", "family": "Lovelace", "given": ["Ada"]}],
        "gender": "female",
        "birthDate": "1980-05-17",
    })
}

/// A realistic record: a patient, the clinicians and hospital named by reference, a problem,
/// an allergy, a medicine taken, a repeat course, an immunisation, a consultation with free
/// text, a result, a letter and a slot on a schedule.
fn realistic_bundle(nhs_number: &str) -> Value {
    let subject = json!({"reference": "urn:uuid:patient-1"});
    transaction(vec![
        entry("urn:uuid:patient-1", patient_resource("P-100", nhs_number)),
        entry(
            "urn:uuid:gp-1",
            json!({"resourceType": "Practitioner", "name": [{"family": "Patel", "given": ["Priya"], "prefix": ["Dr"]}]}),
        ),
        entry(
            "urn:uuid:hospital-1",
            json!({"resourceType": "Organization", "name": "Leeds Teaching Hospitals"}),
        ),
        entry(
            "urn:uuid:problem-1",
            json!({
                "resourceType": "Condition",
                "identifier": [{"system": "https://clinical-system.example/entry", "value": "C-1"}],
                "clinicalStatus": coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
                "code": coding(SNOMED, "195967001", "Asthma"),
                "subject": subject,
                "onsetDateTime": "2024-02-10",
                "recordedDate": "2024-02-10T11:20:00+00:00",
                "asserter": {"reference": "urn:uuid:gp-1"},
                "note": [{"text": "Exercise induced"}],
            }),
        ),
        entry(
            "urn:uuid:allergy-1",
            json!({
                "resourceType": "AllergyIntolerance",
                "identifier": [{"value": "A-1"}],
                "code": coding(SNOMED, "91936005", "Allergy to penicillin"),
                "patient": subject,
                "onsetDateTime": "2019-06-01",
                "recordedDate": "2024-03-01",
                "recorder": {"display": "Dr Priya Patel"},
            }),
        ),
        entry(
            "urn:uuid:statement-1",
            json!({
                "resourceType": "MedicationStatement",
                "identifier": [{"value": "MS-1"}],
                "status": "active",
                "medicationCodeableConcept": coding(DMD, "39113611000001102", "Salbutamol 100micrograms/dose inhaler"),
                "subject": subject,
                "effectivePeriod": {"start": "2024-02-10"},
                "dateAsserted": "2024-02-10",
                "dosage": [{"text": "Two puffs when required"}],
            }),
        ),
        entry(
            "urn:uuid:course-1",
            json!({
                "resourceType": "MedicationRequest",
                "identifier": [{"value": "MR-1"}],
                "extension": [{
                    "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-MedicationRepeatInformation",
                    "extension": [{"url": "authorisationExpiryDate", "valueDateTime": "2027-02-10"}],
                }],
                "status": "active",
                "intent": "plan",
                "medicationCodeableConcept": coding(DMD, "39113611000001102", "Salbutamol 100micrograms/dose inhaler"),
                "subject": subject,
                "authoredOn": "2024-02-10",
                "courseOfTherapyType": coding("http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy", "continuous", "Continuous long term therapy"),
                "dosageInstruction": [{"text": "Two puffs when required"}],
                "dispenseRequest": {"quantity": {"value": 200, "unit": "dose"}},
            }),
        ),
        entry(
            "urn:uuid:immunisation-1",
            json!({
                "resourceType": "Immunization",
                "identifier": [{"value": "I-1"}],
                "status": "completed",
                "vaccineCode": coding(SNOMED, "1324681000000101", "Influenza vaccination"),
                "patient": subject,
                "occurrenceDateTime": "2025-10-05",
                "recorded": "2025-10-05",
                "performer": [{"actor": {"display": "Practice Nurse Jones"}}],
            }),
        ),
        entry(
            "urn:uuid:encounter-1",
            json!({
                "resourceType": "Encounter",
                "identifier": [{"value": "EN-1"}],
                "text": {"status": "additional", "div": format!(
                    "<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>",
                    "Cough for 3 weeks, &lt;no&gt; fever &amp; &quot;wheeze&quot; at night.<br/>Plan: inhaler review in 4 weeks."
                )},
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "type": [coding(SNOMED, "185317003", "Telephone encounter")],
                "subject": subject,
                "participant": [{"individual": {"reference": "urn:uuid:gp-1"}}],
                "period": {"start": "2025-11-02T10:00:00Z", "end": "2025-11-02T10:10:00Z"},
            }),
        ),
        entry(
            "urn:uuid:result-1",
            json!({
                "resourceType": "Observation",
                "identifier": [{"value": "R-1"}],
                "status": "final",
                "code": coding(SNOMED, "1049301000000100", "HbA1c level"),
                "subject": subject,
                "effectiveDateTime": "2025-11-10T08:30:00Z",
                "issued": "2025-11-11T09:00:00Z",
                "performer": [{"reference": "urn:uuid:gp-1"}],
                "valueQuantity": {"value": 48, "unit": "mmol/mol", "system": "http://unitsofmeasure.org", "code": "mmol/mol"},
                "interpretation": [coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "H", "High")],
                "referenceRange": [{"low": {"value": 20, "unit": "mmol/mol"}, "high": {"value": 41, "unit": "mmol/mol"}}],
            }),
        ),
        entry(
            "urn:uuid:letter-1",
            json!({
                "resourceType": "DocumentReference",
                "masterIdentifier": {"value": "D-1"},
                "status": "current",
                "type": coding(SNOMED, "373942005", "Discharge summary"),
                "subject": subject,
                "date": "2025-11-20T15:00:00Z",
                "custodian": {"reference": "urn:uuid:hospital-1"},
                "description": "Discharge summary: Ward 7",
                "content": [{"attachment": {
                    "contentType": "application/pdf",
                    "data": base64::engine::general_purpose::STANDARD.encode(LETTER),
                }}],
                "context": {"period": {"start": "2025-11-18"}},
            }),
        ),
        entry(
            "urn:uuid:schedule-1",
            json!({
                "resourceType": "Schedule",
                "actor": [{"reference": "urn:uuid:gp-1"}, {"reference": "Location/surgery", "display": "Main surgery, room 2"}],
                "serviceType": [{"text": "GP appointment"}],
                "comment": "Monday morning surgery",
            }),
        ),
        entry(
            "urn:uuid:slot-1",
            json!({
                "resourceType": "Slot",
                "identifier": [{"value": "S-1"}],
                "extension": [{"url": "https://fhir.nhs.uk/StructureDefinition/Extension-GPConnect-DeliveryChannel-2", "valueCode": "Telephone"}],
                "schedule": {"reference": "urn:uuid:schedule-1"},
                "status": "free",
                "start": "2026-12-07T09:00:00Z",
                "end": "2026-12-07T09:10:00Z",
            }),
        ),
    ])
}

async fn post_bundle(app: &TestApp, key: &str, bundle: &Value) -> (StatusCode, String, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/integration/fhir"))
        .bearer_auth(key)
        .header("content-type", "application/fhir+json")
        .body(bundle.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        content_type,
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn export(app: &TestApp, token: &str, patient_id: uuid::Uuid) -> Value {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/patients/{patient_id}/export")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
    response.json().await.unwrap()
}

fn summary_lines(outcome: &Value) -> Vec<String> {
    outcome["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|issue| issue["details"]["text"].as_str().map(str::to_owned))
        .collect()
}

/// The Bundle's resources of one type.
fn of_type<'a>(bundle: &'a Value, resource_type: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| &entry["resource"])
        .filter(|resource| resource["resourceType"] == resource_type)
        .collect()
}

/// The one resource of a type.
fn only<'a>(bundle: &'a Value, resource_type: &str) -> &'a Value {
    let found = of_type(bundle, resource_type);
    assert_eq!(found.len(), 1, "{resource_type} in {bundle:#}");
    found[0]
}

/// Imports the realistic Bundle, releases its result and letter, gives the patient documents
/// access from 2000 and an account: the patient and their token.
async fn imported_patient(app: &TestApp) -> (patients::Model, String) {
    let (practice, key) = practice_with_key(app).await;
    let nhs_number = fixtures::unique_nhs_number();
    let (status, _, outcome) = post_bundle(app, &key, &realistic_bundle(&nhs_number)).await;
    assert_eq!(status, StatusCode::OK, "{outcome:#}");
    let patient = patients::Entity::find()
        .filter(patients::Column::PracticeId.eq(practice.id))
        .filter(patients::Column::NhsNumber.eq(nhs_number.as_str()))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut row = patient.clone().into_active_model();
    // Full access, historic included: what a portable copy of the whole record needs.
    row.access_level = Set(patients::AccessLevel::Documents);
    row.record_access_from = Set(chrono::NaiveDate::from_ymd_opt(2000, 1, 1));
    let patient = row.update(&app.db).await.unwrap();
    let clinician = fixtures::staff_token(app, practice.id, staff::StaffRole::Clinician).await;
    let result = results::Entity::find()
        .filter(results::Column::PatientId.eq(patient.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let document = documents::Entity::find()
        .filter(documents::Column::PatientId.eq(patient.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    for path in [
        format!("/api/v1/practice/results/{}/release", result.id),
        format!("/api/v1/practice/documents/{}/release", document.id),
    ] {
        let response = app
            .client
            .post(app.url(&path))
            .bearer_auth(&clinician)
            .json(&json!({"comment": "Reviewed"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let (_, token) = fixtures::account(app, &patient).await;
    (patient, token)
}

#[tokio::test]
async fn a_realistic_bundle_is_imported_once_and_exported_back() {
    let app = spawn_app().await;
    let (practice, key) = practice_with_key(&app).await;
    let nhs_number = fixtures::unique_nhs_number();
    let bundle = realistic_bundle(&nhs_number);

    let (status, content_type, outcome) = post_bundle(&app, &key, &bundle).await;
    assert_eq!(status, StatusCode::OK, "{outcome:#}");
    assert_eq!(content_type, "application/fhir+json");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let lines = summary_lines(&outcome);
    for line in [
        "patients: 1 created, 0 updated, 0 unchanged",
        "coded entries: 5 created, 0 updated, 0 unchanged",
        "results: 1 created, 0 updated, 0 unchanged",
        "documents: 1 created, 0 updated, 0 unchanged",
        "slots: 1 created, 0 updated, 0 unchanged",
        "courses: 1 created, 0 updated",
    ] {
        assert!(lines.iter().any(|l| l == line), "{line} not in {lines:?}");
    }

    // The same Bundle again changes nothing: idempotent by the resources' identifiers.
    let (status, _, again) = post_bundle(&app, &key, &bundle).await;
    assert_eq!(status, StatusCode::OK, "{again:#}");
    let lines = summary_lines(&again);
    for line in [
        "patients: 0 created, 0 updated, 1 unchanged",
        "coded entries: 0 created, 0 updated, 5 unchanged",
        "results: 0 created, 0 updated, 1 unchanged",
        "documents: 0 created, 0 updated, 1 unchanged",
        "slots: 0 created, 0 updated, 1 unchanged",
    ] {
        assert!(lines.iter().any(|l| l == line), "{line} not in {lines:?}");
    }
    let patient = patients::Entity::find()
        .filter(patients::Column::PracticeId.eq(practice.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patient.external_id.as_deref(), Some("P-100"));
    assert_eq!(patient.nhs_number, nhs_number);
    let entries = record_entries::Entity::find()
        .filter(record_entries::Column::PatientId.eq(patient.id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(entries, 5);
    let slot = slots::Entity::find()
        .filter(slots::Column::PracticeId.eq(practice.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(slot.clinician_name, "Priya Patel");
    assert_eq!(slot.location, "Main surgery, room 2");
    assert_eq!(slot.session_name, "Monday morning surgery");
    assert_eq!(slot.slot_type, "GP appointment");
    assert_eq!(
        slot.channel,
        gp_online::db::entities::slots::Channel::Telephone
    );
    let course = courses::Entity::find()
        .filter(courses::Column::PatientId.eq(patient.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(course.snomed_code, "39113611000001102");
    assert_eq!(course.quantity, "200 dose");
    assert!(course.can_be_requested);
    assert_eq!(
        course.review_date.map(|d| d.to_string()).as_deref(),
        Some("2027-02-10")
    );
}

#[tokio::test]
async fn the_export_carries_what_was_imported_and_is_valid_fhir_r4() {
    let app = spawn_app().await;
    let (patient, token) = imported_patient(&app).await;
    let bundle = export(&app, &token, patient.id).await;
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");

    let exported = only(&bundle, "Patient");
    assert_eq!(exported["identifier"][0]["system"], NHS_SYSTEM);
    assert_eq!(exported["identifier"][0]["value"], patient.nhs_number);
    assert_eq!(exported["name"][0]["family"], "Lovelace");
    assert_eq!(exported["birthDate"], "1980-05-17");
    assert_eq!(exported["gender"], "female");

    let condition = only(&bundle, "Condition");
    assert_eq!(condition["code"]["coding"][0]["system"], SNOMED);
    assert_eq!(condition["code"]["coding"][0]["code"], "195967001");
    assert_eq!(condition["code"]["coding"][0]["display"], "Asthma");
    assert_eq!(condition["onsetDateTime"], "2024-02-10");
    assert_eq!(condition["asserter"]["display"], "Priya Patel");
    assert_eq!(condition["note"][0]["text"], "Exercise induced");

    let allergy = only(&bundle, "AllergyIntolerance");
    assert_eq!(allergy["code"]["coding"][0]["code"], "91936005");
    assert_eq!(allergy["recorder"]["display"], "Dr Priya Patel");

    let statement = only(&bundle, "MedicationStatement");
    assert_eq!(
        statement["medicationCodeableConcept"]["coding"][0]["system"],
        DMD
    );
    assert_eq!(
        statement["medicationCodeableConcept"]["coding"][0]["code"],
        "39113611000001102"
    );
    assert_eq!(statement["dosage"][0]["text"], "Two puffs when required");

    let course = only(&bundle, "MedicationRequest");
    assert_eq!(
        course["medicationCodeableConcept"]["coding"][0]["code"],
        "39113611000001102"
    );
    assert_eq!(
        course["courseOfTherapyType"]["coding"][0]["code"],
        "continuous"
    );
    assert_eq!(course["dispenseRequest"]["quantity"]["value"], 200.0);
    assert_eq!(course["dispenseRequest"]["quantity"]["unit"], "dose");
    assert_eq!(
        course["extension"][0]["extension"][0]["valueDateTime"],
        "2027-02-10"
    );

    let immunisation = only(&bundle, "Immunization");
    assert_eq!(
        immunisation["vaccineCode"]["coding"][0]["code"],
        "1324681000000101"
    );
    assert_eq!(immunisation["occurrenceDateTime"], "2025-10-05");
    assert_eq!(
        immunisation["performer"][0]["actor"]["display"],
        "Practice Nurse Jones"
    );

    let encounter = only(&bundle, "Encounter");
    assert_eq!(encounter["type"][0]["coding"][0]["code"], "185317003");
    assert_eq!(encounter["period"]["start"], "2025-11-02");
    let stored_text = record_entries::Entity::find()
        .filter(record_entries::Column::PatientId.eq(patient.id))
        .filter(record_entries::Column::Section.eq(record_entries::RecordSection::Consultations))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .detail;
    assert_eq!(stored_text.as_deref(), Some(CONSULTATION_TEXT));
    let div = encounter["text"]["div"].as_str().unwrap();
    assert!(
        div.contains("&lt;no&gt; fever &amp; &quot;wheeze&quot;"),
        "{div}"
    );

    let observation = only(&bundle, "Observation");
    assert_eq!(observation["code"]["coding"][0]["code"], "1049301000000100");
    assert_eq!(observation["code"]["text"], "HbA1c level");
    assert_eq!(observation["valueQuantity"]["value"], 48.0);
    assert_eq!(observation["valueQuantity"]["unit"], "mmol/mol");
    assert_eq!(observation["referenceRange"][0]["low"]["value"], 20.0);
    assert_eq!(observation["referenceRange"][0]["high"]["value"], 41.0);
    assert_eq!(observation["interpretation"][0]["coding"][0]["code"], "H");
    assert_eq!(observation["performer"][0]["display"], "Priya Patel");
    assert_eq!(observation["effectiveDateTime"], "2025-11-10");
    // The entered (filed) date goes back out where it came in.
    assert_eq!(observation["issued"], "2025-11-11T00:00:00Z");
    assert_eq!(observation["note"][0]["text"], "Reviewed");

    let letter = only(&bundle, "DocumentReference");
    assert_eq!(letter["type"]["coding"][0]["code"], "373942005");
    assert_eq!(letter["description"], "Discharge summary: Ward 7");
    assert_eq!(letter["custodian"]["display"], "Leeds Teaching Hospitals");
    assert_eq!(letter["context"]["period"]["start"], "2025-11-18");
    assert_eq!(letter["date"], "2025-11-20T00:00:00Z");
    let attachment = &letter["content"][0]["attachment"];
    assert_eq!(attachment["contentType"], "application/pdf");
    assert_eq!(attachment["size"], LETTER.len());
    let content = app
        .client
        .get(attachment["url"].as_str().unwrap())
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&content[..], LETTER);

    // Every reference points to an entry of the Bundle.
    let full_urls: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["fullUrl"].as_str())
        .collect();
    for resource in of_type(&bundle, "Condition")
        .into_iter()
        .chain(of_type(&bundle, "Observation"))
        .chain(of_type(&bundle, "DocumentReference"))
    {
        let reference = resource["subject"]["reference"].as_str().unwrap();
        assert!(full_urls.contains(&reference), "{reference}");
    }

    // The export is in the patient's access log, one line per section read.
    let logged = access_log::Entity::find()
        .filter(access_log::Column::PatientId.eq(patient.id))
        .count(&app.db)
        .await
        .unwrap();
    assert!(logged >= 7, "{logged} access-log lines");

    validate_with_independent_model(&bundle);
}

#[tokio::test]
async fn a_proxys_export_holds_only_what_the_proxy_may_see() {
    let app = spawn_app().await;
    let (patient, token) = imported_patient(&app).await;
    // The problem is hidden from proxies; the patient still sees it.
    let problem = record_entries::Entity::find()
        .filter(record_entries::Column::PatientId.eq(patient.id))
        .filter(record_entries::Column::Section.eq(record_entries::RecordSection::Problems))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut row = problem.into_active_model();
    row.hidden_from_proxies = Set(true);
    row.update(&app.db).await.unwrap();
    let (_, proxy) =
        fixtures::proxy_account(&app, &patient, "record_summary,record_detailed").await;

    let own = export(&app, &token, patient.id).await;
    assert_eq!(of_type(&own, "Condition").len(), 1);
    let seen = export(&app, &proxy, patient.id).await;
    let text = seen.to_string();
    // Summary and detailed sections, less what is hidden from proxies.
    assert_eq!(of_type(&seen, "AllergyIntolerance").len(), 1);
    assert_eq!(of_type(&seen, "Immunization").len(), 1);
    assert_eq!(of_type(&seen, "Encounter").len(), 1);
    assert_eq!(of_type(&seen, "Observation").len(), 1);
    assert!(of_type(&seen, "Condition").is_empty(), "{seen:#}");
    assert!(!text.contains("Asthma") && !text.contains("195967001"));
    // No documents scope, no prescriptions scope.
    assert!(of_type(&seen, "DocumentReference").is_empty());
    assert!(!text.contains("Discharge summary"));
    assert!(of_type(&seen, "MedicationRequest").is_empty());
    // The patient's identifiers are theirs: the proxy sees the name only.
    assert!(!text.contains(&patient.nhs_number));
    assert!(!text.contains("1980-05-17"));
    assert_eq!(only(&seen, "Patient")["name"][0]["family"], "Lovelace");

    // A proxy with the appointments scope only gets the Patient alone.
    let (_, booking_only) = fixtures::proxy_account(&app, &patient, "appointments").await;
    let bare = export(&app, &booking_only, patient.id).await;
    assert_eq!(bare["entry"].as_array().map(Vec::len), Some(1), "{bare:#}");

    validate_with_independent_model(&seen);
}

#[tokio::test]
async fn entered_dates_map_both_ways_and_a_missing_one_is_named_by_its_fhirpath() {
    let app = spawn_app().await;
    let (patient, token) = imported_patient(&app).await;
    let stored: Vec<(String, chrono::NaiveDate)> = record_entries::Entity::find()
        .filter(record_entries::Column::PatientId.eq(patient.id))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.term, e.entered_on))
        .collect();
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
    for (term, entered) in [
        ("Asthma", day("2024-02-10")),
        ("Allergy to penicillin", day("2024-03-01")),
        ("Salbutamol 100micrograms/dose inhaler", day("2024-02-10")),
        ("Influenza vaccination", day("2025-10-05")),
        ("Telephone encounter", day("2025-11-02")),
    ] {
        assert!(
            stored.contains(&(term.to_owned(), entered)),
            "{term}: {stored:?}"
        );
    }
    let bundle = export(&app, &token, patient.id).await;
    assert_eq!(only(&bundle, "Condition")["recordedDate"], "2024-02-10");
    assert_eq!(
        only(&bundle, "AllergyIntolerance")["recordedDate"],
        "2024-03-01"
    );
    assert_eq!(
        only(&bundle, "MedicationStatement")["dateAsserted"],
        "2024-02-10"
    );
    assert_eq!(only(&bundle, "Immunization")["recorded"], "2025-10-05");

    let (_, key) = practice_with_key(&app).await;
    let subject = json!({"reference": "urn:uuid:p"});
    let undated = transaction(vec![
        entry(
            "urn:uuid:p",
            patient_resource("P-9", &fixtures::unique_nhs_number()),
        ),
        entry(
            "urn:uuid:c",
            json!({
                "resourceType": "Condition",
                "identifier": [{"value": "C-9"}],
                "code": coding(SNOMED, "195967001", "Asthma"),
                "subject": subject,
                "onsetDateTime": "2024-02-10",
            }),
        ),
        entry(
            "urn:uuid:o",
            json!({
                "resourceType": "Observation",
                "identifier": [{"value": "R-9"}],
                "status": "final",
                "code": coding(SNOMED, "1049301000000100", "HbA1c level"),
                "subject": subject,
                "effectiveDateTime": "2025-11-10T08:30:00Z",
                "valueQuantity": {"value": 48, "unit": "mmol/mol"},
            }),
        ),
    ]);
    let (status, _, outcome) = post_bundle(&app, &key, &undated).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome:#}");
    assert_eq!(
        issues(&outcome),
        [
            (
                "Bundle.entry[1].resource.recordedDate".to_owned(),
                "required".to_owned()
            ),
            (
                "Bundle.entry[2].resource.issued".to_owned(),
                "required".to_owned()
            ),
        ]
    );
}

/// The issues of an `OperationOutcome` as (FHIRPath, stable code).
fn issues(outcome: &Value) -> Vec<(String, String)> {
    outcome["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|issue| {
            (
                issue["expression"][0]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                issue["details"]["coding"][0]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_invalid_bundle_is_refused_whole_naming_each_problem() {
    let app = spawn_app().await;
    let (practice, key) = practice_with_key(&app).await;
    let valid = fixtures::unique_nhs_number();
    let mut bad_check_digit = valid.clone();
    let last = bad_check_digit.pop().unwrap().to_digit(10).unwrap();
    bad_check_digit.push(char::from_digit((last + 1) % 10, 10).unwrap());
    let mut no_nhs_number = patient_resource("P-1", "unused");
    no_nhs_number["identifier"] =
        json!([{"system": "https://clinical-system.example/patient", "value": "P-1"}]);
    let mut bad_birth_date = patient_resource("P-3", &fixtures::unique_nhs_number());
    bad_birth_date["birthDate"] = json!("1980-02-30");
    let oversize = vec![b'a'; 4 * 1024 * 1024 + 1];
    let bundle = transaction(vec![
        entry("urn:uuid:p1", no_nhs_number),
        entry("urn:uuid:p2", patient_resource("P-2", &bad_check_digit)),
        entry(
            "urn:uuid:plan",
            json!({"resourceType": "CarePlan", "status": "active"}),
        ),
        entry(
            "urn:uuid:c1",
            json!({
                "resourceType": "Condition",
                "identifier": [{"value": "C-1"}],
                "code": coding(SNOMED, "195967001", "Asthma"),
                "subject": {"reference": "urn:uuid:nobody"},
                "onsetDateTime": "2024-02-10",
            }),
        ),
        entry(
            "urn:uuid:d1",
            json!({
                "resourceType": "DocumentReference",
                "masterIdentifier": {"value": "D-1"},
                "status": "current",
                "subject": {"reference": "urn:uuid:p3"},
                "description": "Huge letter",
                "date": "2025-11-20T15:00:00Z",
                "content": [{"attachment": {"data": base64::engine::general_purpose::STANDARD.encode(&oversize)}}],
            }),
        ),
        entry("urn:uuid:p3", bad_birth_date),
        entry(
            "urn:uuid:c2",
            json!({
                "resourceType": "Condition",
                "identifier": [{"value": "C-2"}],
                "code": coding(SNOMED, "38341003", "Hypertension"),
                "subject": {"reference": "urn:uuid:p3"},
                "onsetDateTime": "2024-02-10",
            }),
        ),
    ]);
    let (status, content_type, outcome) = post_bundle(&app, &key, &bundle).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome:#}");
    assert_eq!(content_type, "application/fhir+json");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let found = issues(&outcome);
    for expected in [
        ("Bundle.entry[0].resource.identifier", "required"),
        (
            "Bundle.entry[1].resource.identifier[0].value",
            "invalid_nhs_number",
        ),
        (
            "Bundle.entry[2].resource.resourceType",
            "unknown_resource_type",
        ),
        (
            "Bundle.entry[3].resource.subject.reference",
            "unresolved_reference",
        ),
        (
            "Bundle.entry[4].resource.content[0].attachment.data",
            "attachment_too_large",
        ),
        ("Bundle.entry[5].resource.birthDate", "invalid_date"),
        // The Condition of that patient has no entered date either.
        ("Bundle.entry[6].resource.recordedDate", "required"),
    ] {
        assert!(
            found
                .iter()
                .any(|(path, code)| path == expected.0 && code == expected.1),
            "{expected:?} not in {found:#?}"
        );
    }
    assert_eq!(found.len(), 7, "{found:#?}");
    for issue in outcome["issue"].as_array().unwrap() {
        assert_eq!(issue["severity"], "error");
    }

    // Nothing of it is stored, not even what was valid.
    let stored = patients::Entity::find()
        .filter(patients::Column::PracticeId.eq(practice.id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    assert_eq!(
        record_entries::Entity::find().count(&app.db).await.unwrap(),
        0
    );
    assert_eq!(documents::Entity::find().count(&app.db).await.unwrap(), 0);

    // A body that is no Bundle is refused as such.
    let (status, _, outcome) = post_bundle(&app, &key, &json!({"resourceType": "Patient"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        issues(&outcome),
        [(
            "Bundle.resourceType".to_owned(),
            "malformed_bundle".to_owned()
        )]
    );
    validate_with_independent_model(&outcome);
}

// ---------------------------------------------------------------------------------------------
// The independent model
// ---------------------------------------------------------------------------------------------

/// One installation of the validator per test process.
static VALIDATOR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The Python of a virtualenv under target/ holding the pinned `fhir.resources`
/// (tests/fhir/requirements.txt), made on first use; `.ci/run` makes it before the tests.
fn validator_python() -> PathBuf {
    let mut installed = VALIDATOR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(python) = installed.as_ref() {
        return python.clone();
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let venv = target.join("fhir-validator");
    let python = venv.join("bin").join("python");
    let requirements = workspace.join("tests/fhir/requirements.txt");
    let marker = venv.join("requirements.txt");
    let current = std::fs::read(&marker).ok() == std::fs::read(&requirements).ok();
    if !python.exists() || !current {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(made.success(), "python3 -m venv failed");
        let pip = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements)
            .status()
            .unwrap();
        assert!(
            pip.success(),
            "installing tests/fhir/requirements.txt failed"
        );
        std::fs::copy(&requirements, &marker).unwrap();
    }
    *installed = Some(python.clone());
    python
}

/// Asserts that `resource` is valid FHIR R4 by the independent model.
fn validate_with_independent_model(resource: &Value) {
    let python = validator_python();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), resource.to_string()).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fhir/validate.py");
    let output = Command::new(python)
        .arg(script)
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "not valid FHIR R4:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
