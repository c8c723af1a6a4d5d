"""Schemathesis against the API's own OpenAPI document: no generated request may cause a server error.

The app runs on moto and fakeredis, served in-process (ASGI). Each operation gets schema-valid cases and
schema-breaking ones; every case is sent as generated (tokens are random, so refused), and the cases of the
routes that need a session are sent again with a fresh, live token so their bodies reach the service.
Hypothesis is derandomized: a run is repeatable.

The operations are driven with ``APIOperation.as_strategy`` and ``@given`` rather than ``@schema.parametrize``:
the fixture-based loader (``schemathesis.pytest.from_fixture``) sets ``Node._nodeid``, which pytest 9.2 no
longer has, and the module-level loader would need moto running at import.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from fakeredis import FakeAsyncRedis, FakeServer
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.openapi import from_asgi
from schemathesis.schemas import BaseSchema

from chat.bus import Bus
from chat.service import ChatService
from chat.storage import Dynamo, TableNames, ensure_tables
from tests.conftest import BUS_KEY, api_app, make_service

EXAMPLES_PER_OPERATION = 30
FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def fuzz_service(moto_dynamo: Dynamo, tables: TableNames) -> ChatService:
    """A service that is not started: the API needs no subscriber, and the app runs on schemathesis' loop."""
    ensure_tables(moto_dynamo, tables)
    return make_service(moto_dynamo, tables, Bus(redis=FakeAsyncRedis(server=FakeServer()), key=BUS_KEY))


@pytest.fixture
def api_schema(fuzz_service: ChatService) -> BaseSchema:
    return from_asgi("/openapi.json", api_app(fuzz_service))


def needs_session(case: Case) -> bool:
    security: list[dict[str, Any]] = case.operation.definition.raw.get("security", [])
    return any("HTTPBearer" in requirement for requirement in security)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_causes_a_server_error(
    api_schema: BaseSchema, fuzz_service: ChatService, mode: GenerationMode
) -> None:
    names = itertools.count()

    def live_token() -> str:
        """A new session (a new sender, so the rate limit never decides the outcome)."""
        return asyncio.run(fuzz_service.register(f"fuzz{next(names)}")).token

    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} == {
        "GET /api/health",
        "POST /api/sessions",
        "DELETE /api/sessions/current",
        "GET /api/messages",
        "POST /api/messages",
        "GET /api/rooms",
        "POST /api/rooms",
        "GET /api/rooms/{room}/messages",
        "POST /api/rooms/{room}/messages",
        "PATCH /api/rooms/{room}/messages/{key}",
        "DELETE /api/rooms/{room}/messages/{key}",
        "PUT /api/rooms/{room}/messages/{key}/reactions/{emoji}",
        "DELETE /api/rooms/{room}/messages/{key}/reactions/{emoji}",
        "GET /api/rooms/{room}/presence",
        "POST /api/rooms/{room}/typing",
        "POST /api/session/cookie",
        "DELETE /api/session/cookie",
    }
    for operation in operations:
        raw = operation.definition.raw
        if mode is GenerationMode.NEGATIVE and not raw.get("parameters") and "requestBody" not in raw:
            continue  # nothing to break: no parameters (health, clearing the cookie)

        @FUZZ
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case: Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])
            if needs_session(case):
                case.call_and_validate(checks=[not_a_server_error], headers={"Authorization": f"Bearer {live_token()}"})

        fuzz()
