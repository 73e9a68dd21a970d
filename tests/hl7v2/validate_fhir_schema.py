#!/usr/bin/env python3
"""Validates FHIR R4 resources (JSON lines from a command) against the official FHIR R4 JSON
schema. Usage: validate_fhir_schema.py SCHEMA -- COMMAND ARGS...
Exits 77 (ctest SKIP_RETURN_CODE) when the schema or the jsonschema module is absent."""
import json
import subprocess
import sys


def main():
    schema_path = sys.argv[1]
    command = sys.argv[sys.argv.index("--") + 1:]
    try:
        import jsonschema
    except ImportError:
        print("SKIP: python3 jsonschema not installed")
        return 77
    try:
        with open(schema_path) as f:
            schema = json.load(f)
    except OSError:
        print("SKIP: no FHIR R4 schema at " + schema_path)
        return 77
    validator = jsonschema.Draft6Validator(schema)
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    count = 0
    invalid = 0
    for line in out.splitlines():
        resource = json.loads(line)
        count += 1
        errors = list(validator.iter_errors(resource))
        if errors:
            invalid += 1
            for error in errors[:3]:
                path = "/".join(str(p) for p in error.absolute_path)
                print(f"{resource.get('resourceType')}/{resource.get('id')} {path}: "
                      f"{error.message[:200]}")
    print(f"{count} resources validated, {invalid} invalid")
    return 1 if invalid or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
