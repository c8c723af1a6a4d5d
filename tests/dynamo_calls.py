"""What a DynamoDB client sends and gets, seen through botocore's own event hooks (no private attributes).

A test registers a ``Calls`` on the client its store uses, and afterwards asserts on the operations issued, the
parameters they carried and what DynamoDB answered: that a listing never Scans, that a count reads a bounded
number of items.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from chat.storage import Dynamo

_CALL = "tests.recorded_call"


@dataclass
class Call:
    operation: str
    params: dict[str, Any]
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class Calls:
    """Every call in order; ``forbidden`` operations fail the call itself, before anything is sent."""

    calls: list[Call] = field(default_factory=list)
    forbidden: frozenset[str] = frozenset()
    refused: list[str] = field(default_factory=list)

    def of(self, operation: str) -> list[Call]:
        return [call for call in self.calls if call.operation == operation]

    def count_queries(self) -> list[str]:
        """The partition (a room) of each Select=COUNT Query, in order: what unread counts cost."""
        return [
            call.params["ExpressionAttributeValues"][":room"]["S"]
            for call in self.of("Query")
            if call.params.get("Select") == "COUNT"
        ]

    def _sent(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        # botocore hands the same context to every event of one call: the answer finds its call by it
        context[_CALL] = call = Call(model.name, dict(params))
        self.calls.append(call)

    def _before(self, model: Any, **_: Any) -> None:
        if model.name in self.forbidden:
            self.refused.append(model.name)
            raise AssertionError(f"{model.name} issued, which this path must never do")

    def _got(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = context.get(_CALL)
        if isinstance(call, Call):
            call.answer = parsed


@contextmanager
def watched(db: Dynamo, *, forbidden: tuple[str, ...] = ()) -> Iterator[Calls]:
    """Record ``db``'s calls while the block runs, those of all its storage threads."""
    calls = Calls(forbidden=frozenset(forbidden))
    events = db.client.meta.events
    hooks = [
        ("provide-client-params.dynamodb", calls._sent),
        ("before-call.dynamodb", calls._before),
        ("after-call.dynamodb", calls._got),
    ]
    for event, hook in hooks:
        events.register(event, hook)
    try:
        yield calls
    finally:
        for event, hook in hooks:
            events.unregister(event, hook)
