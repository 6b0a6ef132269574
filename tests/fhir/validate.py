"""Validates FHIR R4 JSON files with fhir.resources, a model independent of the server's.

Usage: validate.py FILE...  Each file holds one resource (a Bundle, an OperationOutcome, ...).
Prints one line per file; exits 1 when any file is not valid FHIR R4, with the model's errors.
"""

import json
import sys

import fhir.resources
from fhir.resources import construct_fhir_element
from pydantic import ValidationError


def main(paths):
    if fhir.resources.__fhir_version__ != "4.0.1":
        print(f"expected the FHIR 4.0.1 model, found {fhir.resources.__fhir_version__}")
        return 1
    failed = 0
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        kind = document.get("resourceType", "?")
        try:
            resource = construct_fhir_element(kind, document)
        except (ValidationError, LookupError, ValueError) as error:
            failed += 1
            print(f"{path}: {kind} is not valid FHIR R4:\n{error}")
            continue
        entries = getattr(resource, "entry", None) or []
        types = sorted({entry.resource.resource_type for entry in entries})
        print(f"{path}: valid FHIR R4 {kind} of {len(entries)} entries {types}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
