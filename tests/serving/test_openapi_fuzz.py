"""Schemathesis against the OpenAPI spec of the ASGI app: no server errors, responses conform.

The app runs on the real tiny bundle with small limits (so generated texts and batches reach
them) and an admin key. Each operation gets a few schema-valid and a few schema-violating
cases, which keeps the run well under a minute. (Schemathesis' lazy pytest fixture loader does not
work with this pytest version, so the cases are driven through ``as_strategy`` directly.)
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from serving.db import engine as db
from serving.app import create_app
from serving.security.auth import create_key
from serving.settings import Settings

TINY_BUNDLE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "tiny_bundle"
# A small default keeps the run well under a minute; raise it for a deeper local run.
EXAMPLES_PER_OPERATION = int(os.environ.get("TRIAGE_FUZZ_EXAMPLES", "25"))
# Every default check runs except "schema-valid data must be accepted": two limits cannot be
# written in JSON Schema (received_at must be a plausible time; the body byte limit over many long
# items), so the server rightly answers 422/413 to some schema-valid requests.
EXCLUDED = [positive_data_acceptance]
# Schema-violating requests must be refused with a 4xx; 413 is how over-long batches and bodies
# are refused here (E212, E511), and no 5xx is acceptable.
CONFIG = SchemathesisConfig.from_dict({
    "checks": {"negative_data_rejection": {
        "expected-statuses": ["400", "401", "403", "404", "405", "409", "413", "415", "422", "429"]}}
})


AUTH_HEADERS = {"authorization", "x-api-key"}


def mutates_credentials(case) -> bool:
    """True when a negative case's violation is in the credential headers themselves: sending our
    valid key on top would hide the violation, so such cases go out as generated (→ 401)."""
    meta = case.meta
    mutations = getattr(getattr(meta, "phase", None), "data", None)
    for m in getattr(mutations, "mutations", ()) or ():
        names = {str(m.parameter or "").lower(), *(str(p).lower() for p in m.path)}
        if m.parameter_location.value == "header" and names & AUTH_HEADERS:
            return True
    return False


@pytest.fixture(scope="module")
def fuzz_target(tiny_classifier, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'triage.db'}"
    engine = db.make_engine(url)
    db.migrate(engine)
    with db.make_sessionmaker(engine).begin() as session:
        key = create_key(session, "admin")[1]
    engine.dispose()
    app_settings = Settings(
        database_url=url, bundle_dir=TINY_BUNDLE,  # what POST /v1/admin/reload re-reads
        max_text_chars=200, max_batch_items=8, max_body_bytes=64 * 1024, rate_limit_per_minute=0,
        # The fuzzer sends wrong keys on purpose and expects 401 each time, not the 429 E528 that
        # limits key guessing (tested in tests/serving/test_hardening.py).
        invalid_key_attempts_per_minute=0,
    )
    app = create_app(app_settings, classifier_override=tiny_classifier)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    operations = [result.ok() for result in schema.get_all_operations()]
    return operations, {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_no_server_errors_and_conforming_responses(fuzz_target, mode):
    operations, auth = fuzz_target
    assert {op.label for op in operations} >= {"POST /v1/classify", "GET /v1/matrix", "GET /metrics"}
    exercised = []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=os.environ.get("TRIAGE_FUZZ_RANDOM") is None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            headers = None if mutates_credentials(case) else auth
            case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)

        try:
            run()
        except Unsatisfiable:
            # Nothing to violate (no parameters, no body, e.g. GET /healthz) in negative mode.
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        exercised.append(operation.label)
    assert "POST /v1/classify" in exercised and "GET /v1/matrix" in exercised
