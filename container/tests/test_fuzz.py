"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis).

Every operation of the document the service serves at /api/openapi.json is called
on the real production server with generated valid and invalid inputs; every response
must be a non-5xx that matches the documented status codes, content type, headers
and schema. Examples are bounded so the whole run stays well under two minutes.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from app import __version__
from app.idempotency import KEY_HEADER, KEY_PATTERN, REPLAYED_HEADER
from app.openapi import openapi_document
from tests.conftest import CONTAINER_DIR, Server, dockerfile_cmd, server_env
from tests.pgproxy import free_port

schema = schemathesis.openapi.from_dict(openapi_document(__version__))


@pytest.fixture(scope="module")
def live(database, app, dynamodb, tmp_path_factory):  # `app` has migrated the schema already
    # With the idempotency table: the generated Idempotency-Key headers are claimed,
    # stored and replayed for real.
    port = free_port()
    log_path = tmp_path_factory.mktemp("fuzz") / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            dockerfile_cmd(),
            cwd=CONTAINER_DIR,
            env=server_env(database, port, LOG_LEVEL="WARNING", **dynamodb.server_env()),
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
    if response.status_code == 422 and _error_code(response) == "idempotency_key_mismatch":
        # A schema-valid Idempotency-Key may be one an earlier case used for another
        # request (generated keys repeat): refusing it (422) is what the draft asks.
        excluded.append(positive_data_acceptance)
    if response.status_code == 414:
        # The HTTP server refuses huge request heads before the app runs (a
        # documented 414): a correct rejection of schema-violating data that
        # schemathesis' negative-data check does not list.
        excluded.append(negative_data_rejection)
    case.validate_response(response, excluded_checks=excluded)


def _error_code(response) -> str | None:
    try:
        return response.json().get("error")
    except ValueError:
        return None


# -- conditional requests -------------------------------------------------------------
def _cacheable_reads(url: str) -> list[tuple[str, str, dict[str, int]]]:
    """(document path, method, path parameters) of each cacheable read, one product made."""
    made = requests.post(
        url + "/api/products",
        json={"name": "Conditional", "price": 1, "sku": "COND-" + os.urandom(4).hex()},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    return [
        ("/api/products", "GET", {}),
        ("/api/categories", "GET", {}),
        ("/api/products/{id}", "GET", {"id": made.json()["id"]}),
    ]


def test_conditional_answers_conform_over_http(live):
    # Through the production server (granian): a 304 keeps its headers and sends no
    # body, HEAD keeps GET's headers; every answer is checked against the document.
    for path, method, params in _cacheable_reads(live.url):
        operation = schema[path][method]
        plain = operation.Case(path_parameters=params)
        plain.validate_response(plain.call(base_url=live.url))
        url = live.url + plain.formatted_path
        first = requests.get(url, timeout=10)
        etag = first.headers["ETag"]
        assert first.headers["Cache-Control"].startswith("public, max-age=0, s-maxage=")
        for inm in (etag, "W/" + etag, f'"other", {etag}', "*"):
            case = operation.Case(path_parameters=params, headers={"If-None-Match": inm})
            case.validate_response(case.call(base_url=live.url))
            resp = requests.get(url, headers={"If-None-Match": inm}, timeout=10)
            assert resp.status_code == 304, (path, inm)
            assert resp.content == b""
            assert resp.headers["ETag"] == etag
            assert resp.headers["Cache-Control"] == first.headers["Cache-Control"]
        head = requests.head(url, timeout=10)
        assert head.status_code == 200
        assert head.content == b""
        for name in ("ETag", "Cache-Control", "Content-Length", "Content-Type"):
            assert head.headers[name] == first.headers[name], name
        head = requests.head(url, headers={"If-None-Match": etag}, timeout=10)
        assert head.status_code == 304
        stale = requests.get(url, headers={"If-None-Match": '"v0-0000000000000000"'}, timeout=10)
        assert stale.status_code == 200
        assert stale.content == first.content
    assert requests.get(live.url + "/api/info", timeout=10).headers["Cache-Control"] == "no-store"


_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
_OTHER_TAG = st.from_regex(r"\Av[0-9]{1,6}-[0-9a-f]{16}\Z")
_SPACE = st.sampled_from(["", " ", "  ", "\t"])


@pytest.fixture
def conditional_paths(app):
    client = app.test_client()
    made = client.post(
        "/api/products",
        json={"name": "Conditional", "price": 1, "sku": "INM-" + os.urandom(4).hex()},
    )
    assert made.status_code == 201
    return client, ["/api/products", "/api/categories", f"/api/products/{made.json['id']}"]


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")) * 2,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    database=None,
)
@given(
    path_index=st.integers(0, 2),
    elements=st.lists(
        st.tuples(
            st.sampled_from(["current", "other", "text"]),
            st.booleans(),  # W/
            _OTHER_TAG,
            st.text(
                st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"'),
                max_size=20,
            ),
            _SPACE,
            _SPACE,
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_if_none_match_lists_match_exactly_when_they_name_the_current_tag(
    conditional_paths, path_index, elements
):
    client, paths = conditional_paths
    path = paths[path_index]
    etag = client.get(path).headers["ETag"]
    parts, expect_304 = [], False
    for kind, weak, other, text, before, after in elements:
        if kind == "current":
            tag, expect_304 = etag, True
        elif kind == "other":
            tag = f'"{other}"'
        else:
            tag = f'"{text}"'
            expect_304 = expect_304 or tag == etag
        parts.append(before + ("W/" if weak else "") + tag + after)
    resp = client.get(path, headers={"If-None-Match": ",".join(parts)})
    assert resp.status_code == (304 if expect_304 else 200), (path, parts)
    assert resp.headers["ETag"] == etag
    assert (resp.data == b"") == expect_304


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")) * 2,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    database=None,
)
@given(path_index=st.integers(0, 2), text=_HEADER_TEXT)
def test_any_if_none_match_text_is_200_or_a_justified_304(conditional_paths, path_index, text):
    client, paths = conditional_paths
    path = paths[path_index]
    etag = client.get(path).headers["ETag"]
    resp = client.get(path, headers={"If-None-Match": text})
    assert resp.status_code in (200, 304), (path, text, resp.data)
    assert resp.headers["ETag"] == etag
    if resp.status_code == 304:
        # Only '*' or a text naming the current tag's value may validate.
        assert text.strip() == "*" or etag.strip('"') in text, text


# -- Idempotency-Key ----------------------------------------------------------------
_KEY_RE = re.compile(KEY_PATTERN[:-1] + r"\Z")
_PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
_KEY_TEXT = st.one_of(
    _HEADER_TEXT,
    st.text(_PRINTABLE, min_size=250, max_size=260),  # around the length limit
    st.builds('"{}"'.format, st.text(_PRINTABLE, max_size=256)),  # structured-field form
)


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")) * 2,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    database=None,
)
@given(text=_KEY_TEXT)
def test_any_idempotency_key_text_is_400_or_runs_once(idem_app, db_conn, text):
    # Generated texts repeat across examples (and the body's sku does not), so a
    # valid key may already be taken: then 422, and nothing runs.
    client = idem_app.test_client()
    body = {"name": "Keyed", "price": 1, "sku": "KEY-" + uuid.uuid4().hex[:12]}
    first = client.post("/api/products", json=body, headers={KEY_HEADER: text})
    again = client.post("/api/products", json=body, headers={KEY_HEADER: text})
    made = db_conn.execute("SELECT count(*) FROM products WHERE sku = %s", (body["sku"],))
    made = made.fetchone()[0]
    if not _KEY_RE.match(text):
        assert first.status_code == again.status_code == 400, text
        assert first.json["error"] == "invalid_idempotency_key"
        assert made == 0
    elif first.status_code == 422:
        assert first.json["error"] == again.json["error"] == "idempotency_key_mismatch"
        assert made == 0
    else:
        assert first.status_code == 201, (text, first.json)
        assert REPLAYED_HEADER not in first.headers
        assert again.headers[REPLAYED_HEADER] == "true"
        assert (again.status_code, again.data) == (201, first.data)
        assert made == 1
