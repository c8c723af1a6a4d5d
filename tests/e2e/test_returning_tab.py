"""A tab whose socket was away for two seconds gets every message stored meanwhile, also one whose key sorts a
little before the newest message the tab already had (a slow write, a retry, two processes' clocks apart)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page

from chat.models import key_time, new_message_key
from tests.helpers import wait_until

from .chat_page import Api, join, shown_keys, wait_connected
from .conftest import Backend, Deployment

pytestmark = pytest.mark.e2e


def plant(deployment: Deployment, key: str, text: str) -> None:
    """Store a message as another process whose clock is behind would have, without announcing it."""
    with deployment.dynamodb() as client:
        client.put_item(
            TableName=f"{deployment.prefix}Messages",
            Item={
                "PartitionKey": {"S": deployment.room},
                "CreatedAt": {"S": key},
                "UserName": {"S": "Late"},
                "DisplayName": {"S": "Late"},
                "AuthorId": {"S": "1a7e1a7e1a7e1a7e"},
                "Text": {"S": text},
            },
        )


def test_a_returning_tab_gets_a_message_stored_with_a_slightly_older_key(
    backend: Backend, tmp_path: Path, new_person: Callable[[str], Page]
) -> None:
    deployment = Deployment(backend=backend, log_dir=tmp_path)
    try:
        # the process's own catch-up runs every half second, so it holds the late message before the tab is back
        (app,) = deployment.start("returning", catchup_interval_seconds="0.5")
        reader = new_person(app.base_url)
        join(reader, "Reader")
        api = Api(app.base_url)
        try:
            newest = api.post(api.join("Talker"), "the newest message")["key"]
            wait_until(lambda: shown_keys(reader) == [newest], timeout=10, what="the first message")

            reader.evaluate("window.socket.disconnect()")  # the tab is away
            moment = key_time(newest)
            assert moment is not None
            late = new_message_key(moment - timedelta(seconds=3))
            plant(deployment, late, "stored late, three seconds before the newest")
            reader.wait_for_timeout(2000)  # the process's catch-up has it; the tab, away, does not
            assert shown_keys(reader) == [newest]

            reader.evaluate("window.socket.connect()")  # back: the rejoin answers what the tab lacks
            wait_connected(reader)
            wait_until(lambda: shown_keys(reader) == [late, newest], timeout=10, what="the late message")
        finally:
            api.close()
    finally:
        deployment.stop()
