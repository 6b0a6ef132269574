//! FHIR R4, in and out: the language of GP clinical systems and of the NHS (UK Core profiles).
//!
//! - [`model`]: typed serde structs of the resources and elements used, and nothing more.
//! - [`bundle`]: an incoming Bundle read with its size, entry count and attachments bounded
//!   before anything is parsed, and references resolved between its entries.
//! - [`import`]: a Bundle mapped onto the same domain functions as the JSON import, in one
//!   transaction, every problem reported at once.
//! - [`export`]: a viewer's permitted slice of a patient's record as a Bundle, read through the
//!   access module only and recorded in the access log.
//! - [`outcome`]: problems as an `OperationOutcome` naming each resource and element
//!   (FHIRPath).
//!
//! `docs/fhir.md` is the mapping table.

pub mod bundle;
pub mod export;
pub mod import;
pub mod model;
pub mod outcome;

/// The media type of FHIR JSON.
pub const FHIR_JSON: &str = "application/fhir+json";
/// The NHS number's identifier system.
pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
/// SNOMED CT.
pub const SNOMED_SYSTEM: &str = "http://snomed.info/sct";
/// The NHS Dictionary of medicines and devices (dm+d), whose ids are SNOMED CT concepts.
pub const DMD_SYSTEM: &str = "https://dmd.nhs.uk";

/// Document types by their SNOMED CT concept, both ways (`other_letter` has none).
const DOCUMENT_TYPES: [(&str, &str, &str); 3] = [
    ("discharge_summary", "373942005", "Discharge summary"),
    (
        "outpatient_letter",
        "371531000",
        "Report of clinical encounter",
    ),
    ("referral_letter", "3457005", "Patient referral"),
];

/// The document type for a `DocumentReference.type` SNOMED CT code.
fn document_type_of(code: Option<&str>) -> &'static str {
    DOCUMENT_TYPES
        .iter()
        .find(|(_, snomed, _)| Some(*snomed) == code)
        .map_or("other_letter", |(name, _, _)| name)
}

/// The SNOMED CT code and term for a document type, if it has one.
fn document_code_of(document_type: &str) -> Option<(&'static str, &'static str)> {
    DOCUMENT_TYPES
        .iter()
        .find(|(name, _, _)| *name == document_type)
        .map(|(_, code, term)| (*code, *term))
}

/// The extensions of UK Core and GP Connect that the mappings read and write.
mod ext {
    use super::model::Extension;

    /// UK Core: repeat information of a course (`authorisationExpiryDate`: its review date).
    pub const REPEAT_INFORMATION: &str =
        "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-MedicationRepeatInformation";
    /// UK Core: when an allergy ended (`endDate`).
    pub const ALLERGY_END: &str =
        "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AllergyIntoleranceEnd";
    /// GP Connect: how an appointment takes place (`In-person`, `Telephone`, `Video`).
    pub const DELIVERY_CHANNEL: &str =
        "https://fhir.nhs.uk/StructureDefinition/Extension-GPConnect-DeliveryChannel-2";

    /// The first extension with `url`.
    pub fn find<'a>(extensions: &'a [Extension], url: &str) -> Option<&'a Extension> {
        extensions.iter().find(|e| e.url == url)
    }
}

/// An Encounter's free text as its narrative: XHTML both ways, plain text inside.
pub mod narrative {
    /// The XHTML `div` for plain text: escaped, line breaks as `<br/>`.
    pub fn from_text(text: &str) -> String {
        let mut div = String::from(r#"<div xmlns="http://www.w3.org/1999/xhtml">"#);
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                div.push_str("<br/>");
            }
            for c in line.trim_end_matches('\r').chars() {
                match c {
                    '&' => div.push_str("&amp;"),
                    '<' => div.push_str("&lt;"),
                    '>' => div.push_str("&gt;"),
                    '"' => div.push_str("&quot;"),
                    c => div.push(c),
                }
            }
        }
        div.push_str("</div>");
        div
    }

    /// The plain text of an XHTML `div`: tags dropped (a `<br>` and the end of a paragraph
    /// or `div` inside it become line breaks), the common entities decoded.
    pub fn to_text(div: &str) -> String {
        let mut text = String::new();
        let mut rest = div;
        while let Some(open) = rest.find('<') {
            text.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('>') else {
                rest = "";
                break;
            };
            let tag = rest[open + 1..open + close]
                .trim()
                .trim_end_matches('/')
                .to_ascii_lowercase();
            let name = tag.split_whitespace().next().unwrap_or_default();
            if matches!(name, "br" | "/p" | "/li") {
                text.push('\n');
            }
            rest = &rest[open + close + 1..];
        }
        text.push_str(rest);
        let decoded = text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&apos;", "'")
            .replace("&nbsp;", " ")
            .replace("&amp;", "&");
        decoded.trim().to_owned()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn free_text_survives_the_narrative() {
            let text = "Seen with cough <3 weeks> & \"wheeze\".\nPlan: salbutamol.";
            assert_eq!(to_text(&from_text(text)), text);
            assert_eq!(
                to_text(
                    r#"<div xmlns="http://www.w3.org/1999/xhtml"><p>History: cough</p><p>Plan: rest&nbsp;&amp; fluids</p></div>"#
                ),
                "History: cough\nPlan: rest & fluids"
            );
        }
    }
}
