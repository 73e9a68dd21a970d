#!/usr/bin/env python3
"""Writes the identifier-heavy NDJSON inputs of docs/benchmarks.md ("Ninth pass" onwards).

Usage: identifier_inputs.py OUT_DIR [SCALE]

OUT_DIR/practitioners/Practitioner.ndjson: 400,000 x SCALE Practitioners with 4 identifiers
(a provider directory). OUT_DIR/patients/Patient.ndjson: 200,000 x SCALE Patients with the five
identifier systems of a Synthea Patient, whose first two values are random UUIDs (a master
patient index). OUT_DIR/bundles/bundle00.json ... bundle13.json: 14 transaction Bundles of
30,000 x SCALE such Patients each (large documents, each read as one piece: docs/benchmarks.md,
"Fifteenth pass"). Deterministic (seeded); no real data.
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
            print(dump(patient(rng, i)), file=f)
    os.makedirs(os.path.join(out, "bundles"), exist_ok=True)
    per_bundle = int(30000 * scale)
    for b in range(14):
        entries = []
        for k in range(per_bundle):
            p = patient(rng, 1000000 + b * per_bundle + k)
            entries.append({"fullUrl": f"urn:uuid:{p['id']}", "resource": p,
                            "request": {"method": "PUT", "url": f"Patient/{p['id']}"}})
        with open(os.path.join(out, "bundles", f"bundle{b:02d}.json"), "w") as f:
            f.write(dump({"resourceType": "Bundle", "type": "transaction", "entry": entries}))


def patient(rng, i):
    pid = str(uuid.UUID(int=rng.getrandbits(128)))
    values = [pid, str(uuid.UUID(int=rng.getrandbits(128))), f"999-{i % 100:02d}-{i}",
              f"S{i:08d}", f"X{i:08d}X"]
    identifiers = [{"system": s, "value": v} for s, v in zip(PATIENT_SYSTEMS, values)]
    return {"resourceType": "Patient", "id": pid, "identifier": identifiers,
            "gender": "female", "birthDate": "1970-01-01"}


if __name__ == "__main__":
    main()
