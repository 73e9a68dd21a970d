"""The official FHIR R4 JSON schema for the test scripts that validate medlake's output
(tests/hl7v2/validate_fhir_schema.py, tests/synth/validate_schema.py)."""
import json

# ctest SKIP_RETURN_CODE of those tests.
SKIP = 77


def load_validator(schema_path):
    """A Draft 6 validator of the schema, or None (after saying why) when the schema or the
    python3 jsonschema module is absent."""
    try:
        import jsonschema
    except ImportError:
        print("SKIP: python3 jsonschema not installed")
        return None
    try:
        with open(schema_path) as f:
            schema = json.load(f)
    except OSError:
        print("SKIP: no FHIR R4 schema at " + schema_path)
        return None
    return jsonschema.Draft6Validator(schema)


def is_valid(validator, resource):
    """True when `resource` conforms; otherwise prints its first three errors."""
    errors = list(validator.iter_errors(resource))
    for error in errors[:3]:
        where = "/".join(str(p) for p in error.absolute_path)
        print(f"{resource.get('resourceType')}/{resource.get('id')} {where}: "
              f"{error.message[:200]}")
    return not errors
