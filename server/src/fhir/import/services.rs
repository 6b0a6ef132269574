//! Services: MedicationRequest repeat courses, and Slot with its Schedule.

use super::*;

impl Mapper<'_> {
    pub(super) fn course(&self, mapped: &mut Mapped, entry: &Entry, m: &MedicationRequest) {
        let mut origin = Origin::new(entry);
        let issues = &mut mapped.issues;
        let external_id = external_id(&m.common.identifier, &mut origin, issues);
        let patient = self.patient_of(m.subject.as_ref(), &mut origin, "subject", issues);
        let (snomed_code, medication) = match coded(
            m.medication_codeable_concept.as_ref(),
            &[DMD_SYSTEM, SNOMED_SYSTEM],
        ) {
            Some((k, code, term)) => {
                origin.at(
                    "snomed_code",
                    format!("medicationCodeableConcept.coding[{k}].code"),
                );
                origin.at(
                    "medication",
                    format!("medicationCodeableConcept.coding[{k}].display"),
                );
                (code, term)
            }
            None => {
                issues.push(Issue::new(
                    origin.path("medicationCodeableConcept"),
                    "required",
                    format!("a coding in {DMD_SYSTEM} or {SNOMED_SYSTEM} is required"),
                ));
                (String::new(), String::new())
            }
        };
        origin.at("dosage", "dosageInstruction[0].text");
        let dosage = m
            .dosage_instruction
            .first()
            .and_then(|d| d.text.clone())
            .unwrap_or_default();
        origin.at("quantity", "dispenseRequest.quantity");
        let quantity = m
            .dispense_request
            .as_ref()
            .and_then(|d| d.quantity.as_ref())
            .map(|q| {
                let value = q.value.map(|v| v.to_string()).unwrap_or_default();
                match q.unit.as_deref().or(q.code.as_deref()) {
                    Some(unit) => format!("{value} {unit}"),
                    None => value,
                }
            })
            .unwrap_or_default();
        let kind = m
            .course_of_therapy_type
            .as_ref()
            .and_then(|t| t.coding.iter().find_map(|c| c.code.as_deref()));
        let course_type = match kind {
            Some("acute") => Some(CourseKind::Acute),
            Some("continuous") => Some(CourseKind::Repeat),
            Some("continuous-repeat-dispensing") => Some(CourseKind::RepeatDispensing),
            other => {
                issues.push(Issue::new(
                    origin.path("courseOfTherapyType"),
                    if other.is_none() {
                        "required"
                    } else {
                        "invalid_value"
                    },
                    "expected acute, continuous or continuous-repeat-dispensing",
                ));
                None
            }
        };
        let status = m.status.as_deref().unwrap_or_default();
        let mut date = |value: Option<&str>, element: &str| -> Option<NaiveDate> {
            let value = value?;
            match parse_date(&date_of(value)) {
                Ok(date) => Some(date),
                Err(invalid) => {
                    issues.push(Issue::from_invalid(origin.path(element), invalid));
                    None
                }
            }
        };
        let review_date = date(
            ext::find(&m.common.extension, ext::REPEAT_INFORMATION)
                .and_then(|info| ext::find(&info.extension, "authorisationExpiryDate"))
                .and_then(|e| e.value_date_time.as_deref()),
            "extension",
        );
        let validity_end = m
            .dispense_request
            .as_ref()
            .and_then(|d| d.validity_period.as_ref())
            .and_then(|p| p.end.as_deref());
        let ended = matches!(
            status,
            "stopped" | "completed" | "cancelled" | "entered-in-error"
        );
        let ended_on = if ended {
            let end = date(validity_end, "dispenseRequest.validityPeriod.end");
            if end.is_none() && validity_end.is_none() {
                issues.push(Issue::new(
                    origin.path("dispenseRequest.validityPeriod.end"),
                    "required",
                    "a course that has ended needs its end date",
                ));
            }
            end
        } else {
            None
        };
        let (Some(patient_external_id), Some(course_type)) = (patient, course_type) else {
            return;
        };
        mapped.courses.push(CourseImport {
            patient_external_id,
            external_id,
            snomed_code,
            medication,
            dosage,
            quantity,
            course_type,
            can_be_requested: status == "active" && course_type == CourseKind::Repeat,
            last_issue_date: None,
            next_issue_date: None,
            review_date,
            ended_on,
            hidden: false,
            hidden_from_proxies: false,
        });
        mapped.course_origins.push(origin);
    }

    pub(super) fn slot(&self, mapped: &mut Mapped, entry: &Entry, s: &Slot) {
        let mut origin = Origin::new(entry);
        let issues = &mut mapped.issues;
        let external_id = external_id(&s.common.identifier, &mut origin, issues);
        if s.status.as_deref() != Some("free") {
            issues.push(Issue::new(
                origin.path("status"),
                "unsupported_slot_status",
                "only free slots are published; a slot is withdrawn through the practice API",
            ));
        }
        let path = origin.path("schedule");
        let schedule = match self.bundle.follow(s.schedule.as_ref(), &path, issues) {
            Some(
                target @ Entry {
                    resource: Resource::Schedule(schedule),
                    ..
                },
            ) => Some((target, schedule.as_ref())),
            Some(_) => {
                issues.push(Issue::new(
                    format!("{path}.reference"),
                    "unresolved_reference",
                    "this reference must point to a Schedule of the Bundle",
                ));
                None
            }
            None => None,
        };
        let Some((schedule_entry, schedule)) = schedule else {
            return;
        };
        let (clinicians, location) = self.actors(schedule_entry, schedule, issues);
        let service = |types: &[CodeableConcept]| {
            types
                .first()
                .and_then(|t| t.text.clone().or_else(|| t.coding.first()?.display.clone()))
        };
        let slot_type = service(&s.service_type)
            .or_else(|| {
                s.appointment_type
                    .as_ref()
                    .and_then(|t| t.text.clone().or_else(|| t.coding.first()?.display.clone()))
            })
            .or_else(|| service(&schedule.service_type))
            .unwrap_or_default();
        let channel = ext::find(&s.common.extension, ext::DELIVERY_CHANNEL)
            .and_then(|e| e.value_code.as_deref());
        let channel = match channel {
            None | Some("In-person") => "in_person",
            Some("Telephone") => "telephone",
            Some("Video") => "video",
            Some(_) => "unknown",
        };
        origin.at("starts_at", "start");
        origin.at("ends_at", "end");
        origin.at("slot_type", "serviceType");
        origin.at("channel", "extension");
        origin.at("clinician_name", "schedule");
        origin.at("location", "schedule");
        origin.at("session_name", "schedule");
        mapped.slots.push(NewSlot {
            external_id: Some(external_id),
            starts_at: s.start.clone().unwrap_or_default(),
            ends_at: s.end.clone().unwrap_or_default(),
            clinician_name: clinicians,
            clinician_staff_id: None,
            slot_type,
            session_name: schedule.comment.clone(),
            location,
            channel: channel.to_owned(),
        });
        mapped.slot_origins.push(origin);
    }

    /// A schedule's clinicians (joined) and location, from its actors.
    pub(super) fn actors(
        &self,
        entry: &Entry,
        schedule: &Schedule,
        issues: &mut Vec<Issue>,
    ) -> (String, String) {
        let mut clinicians = Vec::new();
        let mut location = String::new();
        let base = entry.path();
        for (k, actor) in schedule.actor.iter().enumerate() {
            let path = format!("{base}.actor[{k}]");
            let name = self.bundle.display(Some(actor), &path, issues);
            match (self.bundle.target_type(actor), name) {
                (Some("Location"), Some(name)) => location = name,
                (_, Some(name)) => clinicians.push(name),
                (_, None) => {}
            }
        }
        (clinicians.join(", "), location)
    }
}
