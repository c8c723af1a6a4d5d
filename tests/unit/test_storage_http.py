"""The storage client's HTTP transport (chat/storage/http.py) against a scripted server on a local socket: what
botocore sends through it, what it reads back, and that every failure is still botocore's (retried by it, mapped to
StorageUnavailable by chat)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.httpsession import URLLib3Session

from chat.errors import StorageUnavailable
from chat.storage import Dynamo, connect
from chat.storage.http import LeanSession
from tests.helpers import free_port

_ITEM = {"Item": {"UserName": {"S": "ada"}}}
HANG = b"hang"  # a scripted answer: read the request, answer nothing
CLOSE = b"\0close"  # at the end of a scripted answer: close the connection after sending it


def ok(body: object = _ITEM, *, extra: str = "") -> bytes:
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {len(data)}\r\n{extra}\r\n"
    return head.encode() + data


@dataclass
class Server:
    """Answers each request with the next scripted answer (``ok()`` once the script is done) and records it."""

    port: int
    script: list[bytes] = field(default_factory=list)
    requests: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)  # connection, headers, body
    connections: int = 0

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.handle, args=(conn, self.connections), daemon=True).start()

    def handle(self, conn: socket.socket, number: int) -> None:
        reader = conn.makefile("rb")
        with conn, reader:
            while True:
                line = reader.readline()
                if not line:
                    return
                headers: dict[str, str] = {}
                while (line := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = reader.read(int(headers.get("content-length", "0")))
                self.requests.append((number, headers, body))
                answer = self.script.pop(0) if self.script else ok()
                if answer == HANG:
                    reader.read()  # until the client gives up and closes
                    return
                conn.sendall(answer.removesuffix(CLOSE))
                if answer.endswith(CLOSE):
                    return


@pytest.fixture
def server() -> Iterator[Server]:
    listener = socket.create_server(("127.0.0.1", 0))
    scripted = Server(port=listener.getsockname()[1])
    threading.Thread(target=scripted.serve, args=(listener,), daemon=True).start()
    yield scripted
    listener.close()


def dynamo(port: int, *, attempts: int = 3, timeout: float = 2.0) -> Dynamo:
    return connect(
        endpoint=f"http://127.0.0.1:{port}",
        region="us-east-1",
        credentials=("test", "test"),
        timeout=timeout,
        attempts=attempts,
    )


def get(db: Dynamo) -> dict[str, object]:
    return dict(db.client.get_item(TableName="Users", Key={"UserName": {"S": "ada"}}, ConsistentRead=True))


def test_a_request_goes_out_signed_and_its_answer_is_parsed(server: Server) -> None:
    db = dynamo(server.port)
    try:
        assert get(db)["Item"] == _ITEM["Item"]
    finally:
        db.close()
    [(_, headers, body)] = server.requests
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")
    assert headers["x-amz-target"] == "DynamoDB_20120810.GetItem"
    assert headers["host"] == f"127.0.0.1:{server.port}"
    assert json.loads(body) == {"TableName": "Users", "Key": {"UserName": {"S": "ada"}}, "ConsistentRead": True}


def test_calls_on_one_thread_share_one_connection(server: Server) -> None:
    db = dynamo(server.port)
    try:
        for _ in range(3):
            get(db)
    finally:
        db.close()
    assert server.connections == 1
    assert len(server.requests) == 3


def test_a_chunked_answer_is_read(server: Server) -> None:
    data = json.dumps(_ITEM).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (data[:7], data[7:]))
    server.script = [head + chunks + b"0\r\n\r\n"]
    db = dynamo(server.port)
    try:
        assert get(db)["Item"] == _ITEM["Item"]
        assert get(db)["Item"] == _ITEM["Item"]  # the connection is still in step after the last chunk
    finally:
        db.close()
    assert server.connections == 1


def test_a_connection_the_server_closes_is_replaced_before_the_next_call(server: Server) -> None:
    server.script = [ok(extra="Connection: close\r\n") + CLOSE]
    db = dynamo(server.port, attempts=1)
    try:
        get(db)
        get(db)
    finally:
        db.close()
    assert [number for number, _, _ in server.requests] == [1, 2]


def test_a_server_error_is_retried_by_botocore(server: Server) -> None:
    error = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "x"}).encode()
    server.script = [b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n%s" % (len(error), error)]
    db = dynamo(server.port)
    try:
        assert get(db)["Item"] == _ITEM["Item"]
    finally:
        db.close()
    assert len(server.requests) == 2


async def botocore_error(port: int, *, attempts: int = 3, timeout: float = 2.0) -> BaseException | None:
    """What botocore raised under the StorageUnavailable of one ``get`` through Dynamo.run."""
    db = dynamo(port, attempts=attempts, timeout=timeout)
    try:
        with pytest.raises(StorageUnavailable) as raised:
            await db.run(get, db)
    finally:
        db.close()
    return raised.value.__cause__


async def test_an_answer_cut_off_is_retried_then_becomes_storage_unavailable(server: Server) -> None:
    server.script = [ok()[:-5] + CLOSE] * 10
    assert isinstance(await botocore_error(server.port), ConnectionClosedError)
    assert 1 < len(server.requests) < 10  # retried by botocore, as many times as it was told


async def test_an_unanswered_call_times_out_as_botocore_read_timeout(server: Server) -> None:
    server.script = [HANG] * 10
    assert isinstance(await botocore_error(server.port, attempts=1, timeout=0.3), ReadTimeoutError)


async def test_an_endpoint_nobody_listens_on_is_botocore_endpoint_connection_error() -> None:
    assert isinstance(await botocore_error(free_port(), attempts=1), EndpointConnectionError)


class _Recording(URLLib3Session):
    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.sent: list[AWSPreparedRequest] = []

    def send(self, request: AWSPreparedRequest) -> AWSResponse:
        self.sent.append(request)
        return AWSResponse(request.url, 200, {}, None)  # type: ignore[arg-type]


def test_a_request_through_a_proxy_goes_to_botocores_session() -> None:
    fallback = _Recording(proxies={"http": "http://127.0.0.1:9"})
    lean = LeanSession(fallback, connect_timeout=1, read_timeout=1)
    request = AWSPreparedRequest("POST", "http://127.0.0.1:9/", {}, b"{}", False)
    assert lean.send(request).status_code == 200
    assert fallback.sent == [request]


def test_botocore_still_has_the_session_connect_replaces_and_the_settings_it_reads() -> None:
    """connect() replaces ``client._endpoint.http_session`` and LeanSession reads three private attributes of
    botocore's URLLib3Session: if botocore renames any of them, this fails before the storage does."""
    proxy = "http://proxy.invalid:3128"
    config = Config(region_name="us-east-1", proxies={"https": proxy}, client_cert="cert.pem")
    client = boto3.client("dynamodb", config=config, aws_access_key_id="k", aws_secret_access_key="s")
    original: Any = client._endpoint.http_session  # type: ignore[attr-defined]
    assert type(original) is URLLib3Session
    assert original._verify is not None
    assert original._cert_file == "cert.pem"
    assert original._proxy_config.proxy_url_for("https://dynamodb.us-east-1.amazonaws.com/") == proxy
    db = connect(endpoint=None, region="us-east-1", credentials=("k", "s"))
    try:
        session = db.client._endpoint.http_session  # type: ignore[attr-defined]
        assert isinstance(session, LeanSession)
        assert type(session._fallback) is URLLib3Session
    finally:
        db.close()
