"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis).

Every operation of the document the service serves at /api/openapi.json is called
on the real production server with generated valid and invalid inputs; every response
must be a non-5xx that matches the documented status codes, content type, headers
and schema. Examples are bounded so the whole run stays well under two minutes.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from app import __version__
from app.openapi import openapi_document
from tests.conftest import CONTAINER_DIR, Server, dockerfile_cmd, server_env
from tests.pgproxy import free_port

schema = schemathesis.openapi.from_dict(openapi_document(__version__))


@pytest.fixture(scope="module")
def live(database, app, tmp_path_factory):  # `app` has migrated the schema already
    port = free_port()
    log_path = tmp_path_factory.mktemp("fuzz") / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            dockerfile_cmd(),
            cwd=CONTAINER_DIR,
            env=server_env(database, port, LOG_LEVEL="WARNING"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(proc, port, log_path)
    server.wait_health("/health/ready")
    yield server
    assert server.stop() == 0


def test_served_document_is_the_fuzzed_one(live):
    served = requests.get(live.url + "/api/openapi.json", timeout=10).json()
    assert served == openapi_document(__version__)


@schema.parametrize()
@settings(
    # Bounded: the whole module takes well under two minutes on 2 cores.
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    # Reproducible by default (CI must not flake); FUZZ_RANDOM=1 explores new inputs.
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    database=None,
)
def test_api_conforms_to_its_openapi_document(case, live):
    excluded = []
    if case.query and case.query.get("cursor"):
        # A cursor is opaque: a schema-valid string is not necessarily one the service
        # issued, and rejecting a forged one (422) is correct. All other checks still run.
        excluded.append(positive_data_acceptance)
    response = case.call(base_url=live.url)
    if response.status_code == 414:
        # The HTTP server refuses huge request heads before the app runs (a
        # documented 414): a correct rejection of schema-violating data that
        # schemathesis' negative-data check does not list.
        excluded.append(negative_data_rejection)
    case.validate_response(response, excluded_checks=excluded)
