//! Problems as a FHIR `OperationOutcome`: every refusal of the FHIR import is one, whose issues
//! each name the resource and element at fault as FHIRPath (`Bundle.entry[3].resource.birthDate`)
//! with the project's stable code beside the FHIR issue type.

use super::model::{CodeableConcept, Coding, OperationOutcome, OutcomeIssue};
use crate::error::{AppError, ErrorCode};
use crate::validate::Invalid;

/// The code system of the stable codes carried in `issue.details.coding`.
pub const ISSUE_SYSTEM: &str = "urn:gp-online:issue";

/// One problem: where (FHIRPath), a stable code and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// FHIRPath of the element at fault.
    pub expression: String,
    /// Stable code, e.g. `invalid_nhs_number`.
    pub code: &'static str,
    /// What is wrong, for people.
    pub reason: String,
}

impl Issue {
    /// An issue at `expression`.
    pub fn new(
        expression: impl Into<String>,
        code: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            expression: expression.into(),
            code,
            reason: reason.into(),
        }
    }

    /// An issue from a field check.
    pub fn from_invalid(expression: impl Into<String>, invalid: Invalid) -> Self {
        Self::new(expression, invalid.code, invalid.reason)
    }

    /// The FHIR issue type (the `IssueType` value set) for the stable code.
    fn fhir_code(&self) -> &'static str {
        match self.code {
            "required" => "required",
            "unknown_patient" | "unresolved_reference" => "not-found",
            "too_long" => "too-long",
            "too_many_resources" | "attachment_too_large" | "document_too_large" => "too-costly",
            "unknown_resource_type" | "unsupported_bundle_type" | "unsupported_document_type" => {
                "not-supported"
            }
            "nhs_number_in_use" => "conflict",
            "malformed_resource" | "malformed_bundle" => "structure",
            code if code.starts_with("duplicate") => "duplicate",
            code if code.starts_with("invalid") || code.starts_with("unknown") => "value",
            _ => "invalid",
        }
    }
}

/// A refused FHIR request: the error code (which decides the HTTP status) and its issues.
#[derive(Debug)]
pub struct Refusal {
    /// The stable error code of the whole refusal.
    pub code: ErrorCode,
    /// Every problem found.
    pub issues: Vec<Issue>,
    /// The cause of a server fault, logged and never sent.
    pub cause: Option<String>,
}

impl Refusal {
    /// A refusal listing `issues` (422).
    pub fn invalid(issues: Vec<Issue>) -> Self {
        Self {
            code: ErrorCode::ValidationFailed,
            issues,
            cause: None,
        }
    }

    /// A refusal of the whole request with one issue.
    pub fn whole(code: ErrorCode, issue: Issue) -> Self {
        Self {
            code,
            issues: vec![issue],
            cause: None,
        }
    }

    /// The `OperationOutcome` sent for this refusal. A server fault says nothing of its cause.
    pub fn outcome(&self) -> OperationOutcome {
        let issue = if self.issues.is_empty() {
            vec![OutcomeIssue {
                severity: "error".to_owned(),
                code: if self.code == ErrorCode::InternalError {
                    "exception"
                } else {
                    "processing"
                }
                .to_owned(),
                details: Some(details(self.code.as_str(), self.code.title())),
                expression: Vec::new(),
            }]
        } else {
            self.issues
                .iter()
                .map(|issue| OutcomeIssue {
                    severity: "error".to_owned(),
                    code: issue.fhir_code().to_owned(),
                    details: Some(details(issue.code, &issue.reason)),
                    expression: vec![issue.expression.clone()],
                })
                .collect()
        };
        OperationOutcome {
            resource_type: "OperationOutcome".to_owned(),
            issue,
        }
    }
}

/// An error of the domain functions, as a refusal without issues (their field errors are
/// mapped to FHIRPath by the import, which knows where each field came from).
impl From<AppError> for Refusal {
    fn from(error: AppError) -> Self {
        Self {
            code: error.code,
            issues: Vec::new(),
            cause: error.cause,
        }
    }
}

impl From<sea_orm::DbErr> for Refusal {
    fn from(error: sea_orm::DbErr) -> Self {
        AppError::from(error).into()
    }
}

fn details(code: &str, text: &str) -> CodeableConcept {
    CodeableConcept {
        coding: vec![Coding {
            system: Some(ISSUE_SYSTEM.to_owned()),
            code: Some(code.to_owned()),
            display: None,
        }],
        text: Some(text.to_owned()),
    }
}

/// A successful import's summary, as `information` issues (one line per kind of item).
pub fn summary(lines: Vec<String>) -> OperationOutcome {
    OperationOutcome {
        resource_type: "OperationOutcome".to_owned(),
        issue: lines
            .into_iter()
            .map(|line| OutcomeIssue {
                severity: "information".to_owned(),
                code: "informational".to_owned(),
                details: Some(CodeableConcept {
                    coding: Vec::new(),
                    text: Some(line),
                }),
                expression: Vec::new(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_carry_the_fhir_type_the_stable_code_and_the_path() {
        let refusal = Refusal::invalid(vec![
            Issue::new(
                "Bundle.entry[0].resource.identifier",
                "required",
                "an NHS number is required",
            ),
            Issue::new(
                "Bundle.entry[2].resource.subject",
                "unresolved_reference",
                "no entry of the Bundle has this reference",
            ),
            Issue::new(
                "Bundle.entry[1].resource.identifier",
                "invalid_nhs_number",
                "bad check digit",
            ),
        ]);
        let outcome = serde_json::to_value(refusal.outcome()).unwrap_or_default();
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        let types: Vec<&str> = outcome["issue"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|issue| issue["code"].as_str())
            .collect();
        assert_eq!(types, ["required", "not-found", "value"]);
        assert_eq!(
            outcome["issue"][1]["expression"][0],
            "Bundle.entry[2].resource.subject"
        );
        assert_eq!(
            outcome["issue"][2]["details"]["coding"][0]["code"],
            "invalid_nhs_number"
        );
    }

    #[test]
    fn a_server_fault_says_nothing_of_its_cause() {
        let refusal = Refusal::from(AppError::internal("connection string postgres://secret"));
        let text = serde_json::to_string(&refusal.outcome()).unwrap_or_default();
        assert!(!text.contains("secret"));
        assert!(text.contains("internal_error"));
    }
}
