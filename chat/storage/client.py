"""One boto3 DynamoDB client, its thread pool, and the translation of botocore errors."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import StorageUnavailable
from .http import LeanSession

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)
T = TypeVar("T")

_WORKERS = 16
UNAVAILABLE = "The message store cannot be reached right now. Nothing was lost; try again in a moment."


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class Dynamo:
    """A boto3 client plus the executor its blocking calls run on, so they never block the event loop."""

    def __init__(self, client: DynamoDBClient, *, workers: int = _WORKERS) -> None:
        self.client = client
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dynamodb")

    async def run(self, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking boto3 call on the storage threads; botocore errors become StorageUnavailable.

        ClientErrors the caller expects (e.g. ConditionalCheckFailedException) are caught by the caller
        inside ``func``; whatever escapes here is a failure of the backend, not of the request.
        """
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(func, *args, **kwargs))
        except (BotoCoreError, ClientError) as exc:
            log.warning("DynamoDB call %s failed: %s", getattr(func, "__name__", func), exc)
            raise StorageUnavailable(UNAVAILABLE) from exc

    def on_call(self, listener: Callable[[str, str], None]) -> None:
        """Call ``listener(operation, table)`` before every API call this client makes (once per call, whatever
        botocore's retries do), through botocore's public event hooks."""

        def heard(model: Any, params: dict[str, Any], **_: Any) -> None:
            listener(str(model.name), str(params.get("TableName", "")))

        self.client.meta.events.register("before-parameter-build.dynamodb", heard)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.client.close()


def connect(
    *,
    endpoint: str | None,
    region: str,
    workers: int = _WORKERS,
    credentials: tuple[str, str] | None = None,
    timeout: float = 5.0,
    attempts: int = 3,
) -> Dynamo:
    """A client for ``endpoint`` (DynamoDB Local, moto) or, with None, AWS through the standard credential chain.

    ``credentials`` (key id, secret) overrides the chain; only the embedded mode uses it. ``timeout`` bounds each
    read (a connect gets at most 2 s of it) and ``attempts`` counts the first try and botocore's retries.
    """
    config = Config(
        region_name=region,
        max_pool_connections=workers,
        connect_timeout=min(2.0, timeout),
        read_timeout=timeout,
        retries={"mode": "standard", "max_attempts": attempts},
    )
    key_id, secret = credentials or (None, None)
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        config=config,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )
    lighten(client, connect_timeout=min(2.0, timeout), read_timeout=timeout)
    return Dynamo(client, workers=workers)


def lighten(client: DynamoDBClient, *, connect_timeout: float, read_timeout: float) -> None:
    """Send ``client``'s requests through LeanSession instead of botocore's urllib3 session.

    botocore has no option for its HTTP session class, so this replaces the session of the client's endpoint
    (``client._endpoint.http_session``) with one that falls back to it; tests/unit/test_storage_http.py fails if
    that attribute or the settings LeanSession reads from botocore's session go away.
    """
    endpoint = client._endpoint  # type: ignore[attr-defined]
    endpoint.http_session = LeanSession(
        endpoint.http_session, connect_timeout=connect_timeout, read_timeout=read_timeout
    )
