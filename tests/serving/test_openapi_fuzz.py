"""Schemathesis against the OpenAPI spec of the ASGI app: no server errors, responses conform.

The app runs on the real tiny bundle with small limits (so generated texts and batches reach
them) and an admin key. Each operation gets a few schema-valid and a few schema-violating
cases, which keeps the run well under a minute. (Schemathesis' lazy pytest fixture loader does not
work with this pytest version, so the cases are driven through ``as_strategy`` directly.)
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from serving import db
from serving.app import create_app
from serving.auth import create_key
from serving.settings import Settings

EXAMPLES_PER_OPERATION = 12
# Every default check runs except "schema-valid data must be accepted": two limits cannot be
# written in JSON Schema (received_at must be a plausible time; the body byte limit over many long
# items), so the server rightly answers 422/413 to some schema-valid requests.
EXCLUDED = [positive_data_acceptance]


@pytest.fixture(scope="module")
def fuzz_target(tiny_classifier, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'triage.db'}"
    engine = db.make_engine(url)
    db.migrate(engine)
    with db.make_sessionmaker(engine).begin() as session:
        key = create_key(session, "admin")[1]
    engine.dispose()
    app_settings = Settings(
        database_url=url, max_text_chars=200, max_batch_items=8, max_body_bytes=64 * 1024, rate_limit_per_minute=0,
    )
    app = create_app(app_settings, classifier_override=tiny_classifier)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    return operations, {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_no_server_errors_and_conforming_responses(fuzz_target, mode):
    operations, auth = fuzz_target
    assert {op.label for op in operations} >= {"POST /v1/classify", "GET /v1/matrix", "GET /metrics"}
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(headers=auth, excluded_checks=EXCLUDED)

        run()
