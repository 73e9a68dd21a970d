#!/usr/bin/env python3
"""Validates FHIR R4 resources (JSON lines from a command) against the official FHIR R4 JSON
schema. Usage: validate_fhir_schema.py SCHEMA -- COMMAND ARGS...
Exits 77 (ctest SKIP_RETURN_CODE) when the schema or the jsonschema module is absent."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fhir_schema  # noqa: E402


def main():
    schema_path = sys.argv[1]
    command = sys.argv[sys.argv.index("--") + 1:]
    validator = fhir_schema.load_validator(schema_path)
    if validator is None:
        return fhir_schema.SKIP
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    count = 0
    invalid = 0
    for line in out.splitlines():
        count += 1
        if not fhir_schema.is_valid(validator, json.loads(line)):
            invalid += 1
    print(f"{count} resources validated, {invalid} invalid")
    return 1 if invalid or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
