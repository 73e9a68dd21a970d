#!/usr/bin/env python3
"""Generates a small population with `medlake synth` and validates a sample of every FHIR
NDJSON file (and some transaction Bundles) against the official FHIR R4 JSON schema.

Usage: validate_schema.py MEDLAKE_BINARY SCHEMA_JSON
Exits 77 (ctest SKIP_RETURN_CODE) when the schema or the python3 jsonschema module is absent.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fhir_schema  # noqa: E402

PER_FILE = 250


def main():
    medlake, schema_path = sys.argv[1], sys.argv[2]
    validator = fhir_schema.load_validator(schema_path)
    if validator is None:
        return fhir_schema.SKIP
    out = tempfile.mkdtemp(prefix="medlake_synth_schema_")
    try:
        subprocess.run([medlake, "synth", "--patients", "300", "--seed", "21", "--out", out,
                        "--formats", "fhir", "--bundles", "--quiet"], check=True)
        paths = [os.path.join(out, "fhir", n) for n in sorted(os.listdir(os.path.join(out, "fhir")))]
        paths.append(os.path.join(out, "fhir-bundles", "Bundle.ndjson"))
        count = invalid = 0
        for path in paths:
            with open(path) as f:
                lines = f.readlines()
            # Spread the sample over the file: first, middle and last resources.
            step = max(1, len(lines) // PER_FILE)
            limit = 3 if path.endswith("Bundle.ndjson") else PER_FILE
            sample = lines[::step][:limit]
            if path.endswith("Procedure.ndjson"):
                # Also the first procedure of every code: the kinds differ in shape.
                first_of_code = {}
                for line in lines:
                    code = json.loads(line)["code"]["coding"][0]["code"]
                    first_of_code.setdefault(code, line)
                sample += list(first_of_code.values())
            if not sample:
                print(f"no resources in {os.path.basename(path)}")
                invalid += 1
            for line in sample:
                count += 1
                if not fhir_schema.is_valid(validator, json.loads(line)):
                    invalid += 1
        print(f"{count} resources validated, {invalid} invalid")
        return 1 if invalid or count == 0 else 0
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
