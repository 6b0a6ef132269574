#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/seeds/<target>/) from the sync protocol's
golden vectors (sync-protocol/tests/vectors/frames.json) and the end-to-end tests' fixtures
(tests/tests/it/import.rs, fhir.rs, push.rs). Run from the repository root:
`python3 fuzz/make_seeds.py .`"""
import json, base64, os, sys
root = sys.argv[1]
S = os.path.join(root, 'fuzz/seeds')
def put(target, name, data):
    d = os.path.join(S, target); os.makedirs(d, exist_ok=True)
    if isinstance(data, str): data = data.encode()
    open(os.path.join(d, name), 'wb').write(data)

def nhs_from(nine):
    total = sum(int(d) * (10 - i) for i, d in enumerate(nine))
    check = 11 - total % 11
    if check == 11: check = 0
    if check == 10: return None
    return nine + str(check)
def nhs(n):
    seed = n * 7
    while True:
        s = nhs_from('999' + str(seed).zfill(6)[-6:])
        if s: return s
        seed += 1

# sync frames and messages: the golden vectors
vec = json.load(open(os.path.join(root, 'sync-protocol/tests/vectors/frames.json')))
i = 0
for step in vec['steps'] + vec['shapes']:
    b = bytes.fromhex(step['cbor_hex'])
    put('sync_frame', f'vector-{i:02}', b); i += 1
import re
j = 0
def walk(o):
    global j
    if isinstance(o, dict):
        for k, v in o.items():
            if k == 'sync' and isinstance(v, str) and v.startswith("h'"):
                put('sync_message', f'vector-{j:02}', bytes.fromhex(v[2:-1])); j += 1
            else: walk(v)
    elif isinstance(o, list):
        for v in o: walk(v)
for step in vec['steps'] + vec['shapes']:
    walk(step.get('diagnostic'))

# personal documents: edit scripts (see hostile::personal_document)
put('personal_document', 'notes-and-markers', bytes([0, 1,0,4,3, 0,1,1,0, 2,2,8,0, 3,4,12,0]))
put('personal_document', 'hidden-and-draft', bytes([0, 2,2,0,0, 3,4,4,0, 1,0,4,200]))
put('personal_document', 'unknown-root', bytes([1, 4,0,1,1, 0,7,0,0]))

def patient(eid, n):
    return {"external_id": eid, "nhs_number": nhs(n), "given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1980-05-17", "sex": "female"}
def entry(eid, p, section, term):
    return {"external_id": eid, "patient_external_id": p, "section": section, "snomed_code": "294505008", "term": term, "effective_date": "2024-03-01", "entered_on": "2024-03-01", "hidden": False, "hidden_from_proxies": False}
def result(eid, p, code, value):
    try: num = float(value)
    except: num = None
    return {"external_id": eid, "patient_external_id": p, "test_code": code, "test_name": "Serum cholesterol", "value": value, "numeric_value": num, "unit": "mmol/L", "range_low": 0.0, "range_high": 5.0, "abnormal_flag": "normal", "requester": "Dr Patel", "effective_date": "2024-04-02", "entered_on": "2024-04-03"}
full = {
  "prospective_access_date": "2023-10-31",
  "patients": [patient("P1", 1), {"external_id": "P2", "nhs_number": nhs(2), "given_name": "Tom", "family_name": "Jones", "date_of_birth": "2012-01-09", "sex": "male", "access_level": "summary", "record_access_from": "2024-01-01", "competent": True, "archived": False}],
  "entries": [entry("E1", "P1", "allergies", "Penicillin allergy"), entry("E2", "P1", "problems", "Asthma"),
     {"external_id": "E3", "patient_external_id": "P2", "section": "consultations", "snomed_code": "185317003", "term": "Telephone consultation", "effective_date": "2024-05-01", "end_date": "2024-05-01", "entered_on": "2024-05-01", "detail": "Discussed inhaler technique.\nReview in 3 months.", "author": "Dr Patel", "hidden": True, "hidden_from_proxies": True}],
  "results": [result("R1", "P1", "HBA1C", "41"), result("R2", "P1", "CHOL", "4.2")],
  "access_codes": [{"external_id": "C1", "patient_external_id": "P2", "snomed_code": "1364731000000104", "recorded_at": "2024-06-01T10:30:00Z"}],
}
put('import_batch', 'full', json.dumps(full, indent=1))
bad_patient = patient("P4", 4); bad_patient["nhs_number"] = "9434765918"
undated = entry("E12", "P3", "problems", "Undated"); del undated["entered_on"]
bad_result = result("R9", "P3", "HBA1C", "40"); bad_result["effective_date"] = "2024-13-01"; bad_result["abnormal_flag"] = "weird"
bad = {"patients": [patient("P3", 3), bad_patient, patient("P3", 5)],
  "entries": [entry("E9", "P3", "problems", "Hypertension"), entry("E10", "NOBODY", "problems", "Hypertension"), entry("E9", "P3", "problems", "Hypertension again"), entry("E11", "P1", "diagnoses", "Gout"), undated],
  "results": [result("R8", "P3", "HBA1C", "40"), bad_result],
  "access_codes": [{"external_id": "C9", "patient_external_id": "P3", "snomed_code": "123456789", "recorded_at": "2024-06-01"}],
  "prospective_access_date": "31/10/2023"}
put('import_batch', 'every-bad-field', json.dumps(bad))
put('import_batch', 'empty', '{}')

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
def letter(eid, p, content, **kw):
    d = {"external_id": eid, "patient_external_id": p, "document_type": "discharge_summary", "title": "Discharge summary.pdf", "author_organisation": "Royal Infirmary", "effective_date": "2024-07-01", "entered_on": "2024-07-02", "content_base64": base64.b64encode(content).decode()}
    d.update(kw); return d
put('import_document', 'pdf', json.dumps(letter("L1", "P1", PDF)))
put('import_document', 'text-with-line-breaks', json.dumps(letter("L2", "P1", "Dear Dr Patel,\r\n\tThank you. Café.\n".encode(), content_base64="RGVhciBEciBQYXRlbCwNCglUaGFuayB5b3Uu\r\nIENhZsOpLgo=")))
put('import_document', 'broken', json.dumps(letter("L3", "P1", b"", document_type="memo", content_base64="%%% not base64 %%%")))

letters = {'pdf': b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 'png': b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 'jpeg': b"\xff\xd8\xff\xe0\0\x10JFIF",
  'tiff-le': b"II*\0\x08\0\0\0", 'tiff-be': b"MM\0*\0\0\0\x08", 'rtf': b"{\\rtf1\\ansi Hello}", 'rtf-bom': b"\xef\xbb\xbf{\\rtf1 Hi}",
  'text': "Dear Dr Patel,\r\n\tThank you. Café.\n".encode(), 'exe': b"MZ\x90\x00\x03\x00\x00\x00", 'elf': b"\x7fELF\x02\x01\x01", 'zip': b"PK\x03\x04zip",
  'nul': b"plain text with a NUL\0", 'not-utf8': b"\xff\xfe not utf-8"}
for k, v in letters.items(): put('letter_type', k, v)

NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"; SNOMED = "http://snomed.info/sct"; DMD = "https://dmd.nhs.uk"
LETTER = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
def ent(url, res): return {"fullUrl": url, "resource": res, "request": {"method": "POST", "url": res["resourceType"]}}
def coding(system, code, display): return {"coding": [{"system": system, "code": code, "display": display}], "text": display}
subject = {"reference": "urn:uuid:patient-1"}
entries = [
 ent("urn:uuid:patient-1", {"resourceType": "Patient", "identifier": [{"system": NHS_SYSTEM, "value": nhs(1)}, {"system": "https://clinical-system.example/patient", "value": "P-100"}], "name": [{"use": "official", "family": "Lovelace", "given": ["Ada"]}], "gender": "female", "birthDate": "1980-05-17"}),
 ent("urn:uuid:gp-1", {"resourceType": "Practitioner", "name": [{"family": "Patel", "given": ["Priya"], "prefix": ["Dr"]}]}),
 ent("urn:uuid:hospital-1", {"resourceType": "Organization", "name": "Leeds Teaching Hospitals"}),
 ent("urn:uuid:problem-1", {"resourceType": "Condition", "identifier": [{"system": "https://clinical-system.example/entry", "value": "C-1"}], "clinicalStatus": coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"), "code": coding(SNOMED, "195967001", "Asthma"), "subject": subject, "onsetDateTime": "2024-02-10", "recordedDate": "2024-02-10T11:20:00+00:00", "asserter": {"reference": "urn:uuid:gp-1"}, "note": [{"text": "Exercise induced"}]}),
 ent("urn:uuid:allergy-1", {"resourceType": "AllergyIntolerance", "identifier": [{"value": "A-1"}], "code": coding(SNOMED, "91936005", "Allergy to penicillin"), "patient": subject, "onsetDateTime": "2019-06-01", "recordedDate": "2024-03-01", "recorder": {"display": "Dr Priya Patel"}}),
 ent("urn:uuid:statement-1", {"resourceType": "MedicationStatement", "identifier": [{"value": "MS-1"}], "status": "active", "medicationCodeableConcept": coding(DMD, "39113611000001102", "Salbutamol 100micrograms/dose inhaler"), "subject": subject, "effectivePeriod": {"start": "2024-02-10"}, "dateAsserted": "2024-02-10", "dosage": [{"text": "Two puffs when required"}]}),
 ent("urn:uuid:course-1", {"resourceType": "MedicationRequest", "identifier": [{"value": "MR-1"}], "extension": [{"url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-MedicationRepeatInformation", "extension": [{"url": "authorisationExpiryDate", "valueDateTime": "2027-02-10"}]}], "status": "active", "intent": "plan", "medicationCodeableConcept": coding(DMD, "39113611000001102", "Salbutamol 100micrograms/dose inhaler"), "subject": subject, "authoredOn": "2024-02-10", "courseOfTherapyType": coding("http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy", "continuous", "Continuous long term therapy"), "dosageInstruction": [{"text": "Two puffs when required"}], "dispenseRequest": {"quantity": {"value": 200, "unit": "dose"}}}),
 ent("urn:uuid:immunisation-1", {"resourceType": "Immunization", "identifier": [{"value": "I-1"}], "status": "completed", "vaccineCode": coding(SNOMED, "1324681000000101", "Influenza vaccination"), "patient": subject, "occurrenceDateTime": "2025-10-05", "recorded": "2025-10-05", "performer": [{"actor": {"display": "Practice Nurse Jones"}}]}),
 ent("urn:uuid:encounter-1", {"resourceType": "Encounter", "identifier": [{"value": "EN-1"}], "text": {"status": "additional", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Cough for 3 weeks, &lt;no&gt; fever &amp; &quot;wheeze&quot; at night.<br/>Plan: inhaler review in 4 weeks.</div>"}, "status": "finished", "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}, "type": [coding(SNOMED, "185317003", "Telephone encounter")], "subject": subject, "participant": [{"individual": {"reference": "urn:uuid:gp-1"}}], "period": {"start": "2025-11-02T10:00:00Z", "end": "2025-11-02T10:10:00Z"}}),
 ent("urn:uuid:result-1", {"resourceType": "Observation", "identifier": [{"value": "R-1"}], "status": "final", "code": coding(SNOMED, "1049301000000100", "HbA1c level"), "subject": subject, "effectiveDateTime": "2025-11-10T08:30:00Z", "issued": "2025-11-11T09:00:00Z", "performer": [{"reference": "urn:uuid:gp-1"}], "valueQuantity": {"value": 48, "unit": "mmol/mol", "system": "http://unitsofmeasure.org", "code": "mmol/mol"}, "interpretation": [coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "H", "High")], "referenceRange": [{"low": {"value": 20, "unit": "mmol/mol"}, "high": {"value": 41, "unit": "mmol/mol"}}]}),
 ent("urn:uuid:letter-1", {"resourceType": "DocumentReference", "masterIdentifier": {"value": "D-1"}, "status": "current", "type": coding(SNOMED, "373942005", "Discharge summary"), "subject": subject, "date": "2025-11-20T15:00:00Z", "custodian": {"reference": "urn:uuid:hospital-1"}, "description": "Discharge summary: Ward 7", "content": [{"attachment": {"contentType": "application/pdf", "data": base64.b64encode(LETTER).decode()}}], "context": {"period": {"start": "2025-11-18"}}}),
 ent("urn:uuid:schedule-1", {"resourceType": "Schedule", "actor": [{"reference": "urn:uuid:gp-1"}, {"reference": "Location/surgery", "display": "Main surgery, room 2"}], "serviceType": [{"text": "GP appointment"}], "comment": "Monday morning surgery"}),
 ent("urn:uuid:slot-1", {"resourceType": "Slot", "identifier": [{"value": "S-1"}], "extension": [{"url": "https://fhir.nhs.uk/StructureDefinition/Extension-GPConnect-DeliveryChannel-2", "valueCode": "Telephone"}], "schedule": {"reference": "urn:uuid:schedule-1"}, "status": "free", "start": "2026-12-07T09:00:00Z", "end": "2026-12-07T09:10:00Z"}),
]
put('fhir_bundle', 'realistic', json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}, indent=1))
put('fhir_bundle', 'collection-unknown-type', json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [ent("urn:uuid:x", {"resourceType": "Questionnaire"}), {"fullUrl": "urn:uuid:y"}, ent("urn:uuid:patient-1", {"resourceType": "Patient", "birthDate": 5})]}))
put('fhir_bundle', 'not-a-bundle', json.dumps({"resourceType": "Patient", "type": "document"}))

put('review_cursor', 'cursor', base64.urlsafe_b64encode(b"2026-11-23T10:00:00.123456Z|6f1c2a4e-8b7d-4c3e-9f10-2a3b4c5d6e7f").decode().rstrip('='))
put('review_cursor', 'offset', base64.urlsafe_b64encode(b"2026-11-23T10:00:00+05:30|6f1c2a4e-8b7d-4c3e-9f10-2a3b4c5d6e7f").decode().rstrip('='))
put('review_cursor', 'leap-second', base64.urlsafe_b64encode(b"2016-12-31T23:59:60Z|00000000-0000-0000-0000-000000000000").decode().rstrip('='))
put('review_cursor', 'garbage', "not a cursor")

p256 = base64.urlsafe_b64encode(b"\x04" + bytes(range(64))).decode().rstrip('=')
auth = base64.urlsafe_b64encode(bytes(range(16))).decode().rstrip('=')
put('push_channel', 'web-push', json.dumps({"endpoint": "https://push.example.net/send/abc", "expirationTime": None, "keys": {"p256dh": p256, "auth": auth}}))
put('push_channel', 'loopback', json.dumps({"endpoint": "http://127.0.0.1:9/x", "keys": {"p256dh": p256, "auth": auth}}))
put('push_channel', 'apns', json.dumps({"provider": "apns", "token": "ab" * 32}))
put('push_channel', 'fcm', json.dumps({"provider": "fcm", "token": "fcm-token_1:abc"}))
put('push_channel', 'bad', json.dumps({"endpoint": "http://push.example.net/x", "keys": {"p256dh": "AAAA", "auth": "!!"}}))
