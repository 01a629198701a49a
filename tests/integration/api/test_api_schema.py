"""Schemathesis against the platform API's OpenAPI schema: no 500s, answers as documented.

Every operation is called with generated inputs (a modest number per operation, for the
suite's time) as the supervisor, on an org with a manager and a trader, on SQLite and
PostgreSQL. The inputs are schemathesis's hypothesis strategies per operation
(its pytest fixture loader does not run under this pytest version).
Excluded: ``POST /traders/{id}/start`` (it launches real sessions; its rights and
refusals are in the authorization matrix, a real launch in the risk test).
"""

from __future__ import annotations

import os

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from aifap.api.app import create_app
from aifap.api.users import create_user
from aifap.exchange.emulator.server import ThreadedServer

PASSWORD = "schema-tests-password"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def base_url(api_db_url, tmp_path_factory):
    """The API served over HTTP on the module's database."""
    os.environ.setdefault("AIFAP_SECRET_KEY", "schema-tests-" + "q" * 40)
    url = api_db_url
    app = create_app(url, url, url, sessions_dir=tmp_path_factory.mktemp("s"), risk_interval=0)
    create_user(url, "root", PASSWORD, "supervisor")
    server = ThreadedServer(app)
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def login(base_url):
    answer = httpx.post(
        f"{base_url}/auth/token", data={"username": "root", "password": PASSWORD}, timeout=30
    )
    return answer.json()["access_token"]


@pytest.fixture(scope="module")
def token(base_url):
    client = httpx.Client(base_url=base_url, timeout=30)
    answer = client.post("/auth/token", data={"username": "root", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    made = client.post(
        "/managers", headers=headers,
        json={"username": "alice", "password": PASSWORD, "budget": "1000"},
    )  # fmt: skip
    client.post(
        "/traders", headers=headers,
        json={"name": "t1", "strategy": "strategies/momentum.py", "allocation": "10",
              "symbols": ["BTCUSDT"], "manager_id": made.json()["id"]},
    )  # fmt: skip
    client.close()
    return answer.json()["access_token"]


def operations(base_url):
    """Return every operation of the served schema but the excluded ones."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    return [op for op in found if op.path not in EXCLUDED]


EXCLUDED = {"/traders/{trader_id}/start"}


def test_no_server_error_and_answers_match_the_schema(base_url, token):
    checked = []
    for operation in operations(base_url):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case):
            bearer = login(base_url) if case.path == "/auth/logout" else token
            case.call_and_validate(
                base_url=base_url, headers={"Authorization": f"Bearer {bearer}"}, checks=CHECKS
            )

        call()
        checked.append(operation.label)
    assert len(checked) >= 25, checked
