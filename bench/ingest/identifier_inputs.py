#!/usr/bin/env python3
"""Writes the identifier-heavy NDJSON inputs of docs/benchmarks.md ("Ninth pass" onwards).

Usage: identifier_inputs.py OUT_DIR [SCALE]

OUT_DIR/practitioners/Practitioner.ndjson: 400,000 x SCALE Practitioners with 4 identifiers
(a provider directory). OUT_DIR/patients/Patient.ndjson: 200,000 x SCALE Patients with the five
identifier systems of a Synthea Patient, whose first two values are random UUIDs (a master
patient index). Deterministic (seeded); no real data.
"""
import json
import os
import random
import sys
import uuid

PATIENT_SYSTEMS = [
    "https://github.com/synthetichealth/synthea",
    "http://hospital.smarthealthit.org",
    "http://hl7.org/fhir/sid/us-ssn",
    "urn:oid:2.16.840.1.113883.4.3.25",
    "http://standardhealthrecord.org/fhir/StructureDefinition/passportNumber",
]
PRACTITIONER_SYSTEMS = ["http://hl7.org/fhir/sid/us-npi", "urn:a", "urn:b", "urn:c"]


def dump(resource):
    return json.dumps(resource, separators=(",", ":"))


def main():
    out = sys.argv[1]
    scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    rng = random.Random(1)
    os.makedirs(os.path.join(out, "practitioners"), exist_ok=True)
    os.makedirs(os.path.join(out, "patients"), exist_ok=True)
    with open(os.path.join(out, "practitioners", "Practitioner.ndjson"), "w") as f:
        for i in range(int(400000 * scale)):
            identifiers = [{"system": s, "value": f"{s[-1]}{i}"} for s in PRACTITIONER_SYSTEMS]
            print(dump({"resourceType": "Practitioner", "id": f"p{i}",
                        "identifier": identifiers, "name": [{"family": "X"}]}), file=f)
    with open(os.path.join(out, "patients", "Patient.ndjson"), "w") as f:
        for i in range(int(200000 * scale)):
            pid = str(uuid.UUID(int=rng.getrandbits(128)))
            values = [pid, str(uuid.UUID(int=rng.getrandbits(128))), f"999-{i % 100:02d}-{i}",
                      f"S{i:08d}", f"X{i:08d}X"]
            identifiers = [{"system": s, "value": v} for s, v in zip(PATIENT_SYSTEMS, values)]
            print(dump({"resourceType": "Patient", "id": pid, "identifier": identifiers,
                        "gender": "female", "birthDate": "1970-01-01"}), file=f)


if __name__ == "__main__":
    main()
