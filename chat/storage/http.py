"""A lighter HTTP transport under botocore: one kept-alive socket per storage thread, no urllib3.

botocore still builds, validates, signs, retries and parses every request, and reads its credentials through the
standard chain; only the socket work of ``Endpoint.http_session.send`` is done here. botocore's own session,
urllib3's pool under http.client, spent about half of the process's CPU per call on the write path (its request
and header objects, the pool lookup, email-parser headers): one GetItem against DynamoDB Local cost 0.88 ms of CPU
through it and 0.41 ms through this one.

Every failure becomes the botocore exception urllib3's would have become (EndpointConnectionError,
ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError, SSLError), so botocore's retries and chat's error
mapping see what they saw before. Requests this transport does not handle (through a proxy, with a client
certificate, a streamed body or output, an ``Expect`` header) go to botocore's session unchanged.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)
from botocore.httpsession import URLLib3Session, get_cert_path

_MAX_LINE = 65_536
_MAX_HEADERS = 100
_Address = tuple[str, str, int]  # scheme, host, port


class _Body:
    """What AWSResponse reads its content from: the body, read in full already."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


class _ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 as this transport reads it, or the connection ended inside it."""


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.timeout: float | None = None

    def set_timeout(self, seconds: float) -> None:
        """The socket's timeout, set only when it changes: each setting is a system call."""
        if seconds != self.timeout:
            self.sock.settimeout(seconds)
            self.timeout = seconds

    def dropped(self) -> bool:
        """True when the server closed (or wrote to) an idle connection: reusing it would fail or misread."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def _line(reader: Any) -> bytes:
    line: bytes = reader.readline(_MAX_LINE + 1)
    if not line:
        raise _ProtocolError("the connection closed")
    if len(line) > _MAX_LINE:
        raise _ProtocolError("a line too long")
    return line


def _read_head(reader: Any) -> tuple[int, str, dict[str, str]]:
    """The status, the version and the headers (by lower-case name) of the next final (not 1xx) response."""
    while True:
        version, _, rest = _line(reader).decode("latin-1").partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/") or not (code.isascii() and code.isdigit()):
            raise _ProtocolError("not an HTTP status line")
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            line = _line(reader)
            if line in (b"\r\n", b"\n"):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise _ProtocolError("a header line without a colon")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        else:
            raise _ProtocolError("too many headers")
        if not 100 <= int(code) < 200:
            return int(code), version, headers


def _read_exactly(reader: Any, size: int) -> bytes:
    data: bytes = reader.read(size)
    if len(data) != size:
        raise _ProtocolError("the connection closed inside a body")
    return data


def _read_chunked(reader: Any) -> bytes:
    parts: list[bytes] = []
    while True:
        size_text = _line(reader).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _ProtocolError("a bad chunk size") from None
        if size == 0:
            while _line(reader) not in (b"\r\n", b"\n"):  # trailers
                pass
            return b"".join(parts)
        parts.append(_read_exactly(reader, size))
        _line(reader)  # the CRLF after a chunk


class LeanSession:
    """botocore's http session interface (``send``, ``close``) on plain sockets, one connection per thread and
    address; ``fallback`` (botocore's own session, with the client's settings) serves what this one does not."""

    def __init__(self, fallback: URLLib3Session, *, connect_timeout: float, read_timeout: float) -> None:
        self._fallback = fallback
        # botocore's settings as its session holds them: the CA bundle or False, proxies, a client certificate
        self._verify: bool | str = fallback._verify  # type: ignore[attr-defined]
        self._proxies = fallback._proxy_config  # type: ignore[attr-defined]
        self._client_cert = fallback._cert_file is not None  # type: ignore[attr-defined]
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._tls: ssl.SSLContext | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[_Connection] = set()

    @property
    def fallback(self) -> URLLib3Session:
        """botocore's own session, which serves what this one does not."""
        return self._fallback

    def send(self, request: AWSPreparedRequest) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body
        if (
            self._client_cert
            or url.scheme not in ("http", "https")
            or request.stream_output
            or "Expect" in request.headers
            or not (body is None or isinstance(body, bytes | str))
            or self._proxies.proxy_url_for(request.url)
        ):
            return self._fallback.send(request)
        port = url.port or (443 if url.scheme == "https" else 80)
        address = (url.scheme, url.hostname or "", port)
        payload = body.encode() if isinstance(body, str) else body or b""
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        lines = [f"{request.method} {target} HTTP/1.1"]
        if "Host" not in request.headers:
            lines.append(f"Host: {url.netloc}")
        for name, value in request.headers.items():
            lines.append(f"{name}: {value.decode('latin-1') if isinstance(value, bytes) else value}")
        if request.method not in ("GET", "HEAD") and "Content-Length" not in request.headers:
            lines.append(f"Content-Length: {len(payload)}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
        read_timeout = getattr(request, "context", {}).get("read_timeout") or self._read_timeout
        connection = self._connection(address, request.url)
        try:
            connection.set_timeout(read_timeout)
            connection.sock.sendall(message)
            status, version, headers = _read_head(connection.reader)
            if request.method == "HEAD" or status in (204, 304):
                data = b""
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                data = _read_chunked(connection.reader)
            elif (length := headers.get("content-length")) is not None:
                data = _read_exactly(connection.reader, int(length))
            else:  # the body ends with the connection
                data = connection.reader.read()
                headers["connection"] = "close"
        except TimeoutError as exc:
            self._drop(address, connection)
            raise ReadTimeoutError(endpoint_url=request.url, error=exc) from exc
        except ssl.SSLError as exc:
            self._drop(address, connection)
            raise SSLError(endpoint_url=request.url, error=exc) from exc
        except (OSError, ValueError, _ProtocolError) as exc:
            self._drop(address, connection)
            raise ConnectionClosedError(endpoint_url=request.url, error=exc) from exc
        keep = headers.get("connection", "").lower()
        if keep == "close" or (version == "HTTP/1.0" and keep != "keep-alive"):
            self._drop(address, connection)
        return AWSResponse(request.url, status, cast(HTTPHeaders, headers), _Body(data))

    def close(self) -> None:
        with self._lock:
            connections, self._open = self._open, set()
        for connection in connections:
            connection.close()
        self._fallback.close()

    # -- connections ---------------------------------------------------------------------------------------
    def _connections(self) -> dict[_Address, _Connection]:
        found: dict[_Address, _Connection] | None = getattr(self._local, "connections", None)
        if found is None:
            found = self._local.connections = {}
        return found

    def _connection(self, address: _Address, url: str) -> _Connection:
        connection = self._connections().get(address)
        if connection is not None and not connection.dropped():
            return connection
        if connection is not None:
            self._drop(address, connection)
        connection = _Connection(self._connect(address, url))
        self._connections()[address] = connection
        with self._lock:
            self._open.add(connection)
        return connection

    def _connect(self, address: _Address, url: str) -> socket.socket:
        scheme, host, port = address
        try:
            sock = socket.create_connection((host, port), timeout=self._connect_timeout)
        except TimeoutError as exc:
            raise ConnectTimeoutError(endpoint_url=url, error=exc) from exc
        except OSError as exc:
            raise EndpointConnectionError(endpoint_url=url, error=exc) from exc
        # one write per request; without this a request and a delayed ACK would wait on each other
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == "http":
            return sock
        try:
            return self._tls_context().wrap_socket(sock, server_hostname=host)
        except ssl.SSLError as exc:
            sock.close()
            raise SSLError(endpoint_url=url, error=exc) from exc
        except OSError as exc:
            sock.close()
            raise EndpointConnectionError(endpoint_url=url, error=exc) from exc

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            if self._verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            else:
                bundle = self._verify if isinstance(self._verify, str) else get_cert_path(True)
                context = ssl.create_default_context(cafile=bundle)
            self._tls = context
        return self._tls

    def _drop(self, address: _Address, connection: _Connection) -> None:
        if self._connections().get(address) is connection:
            del self._connections()[address]
        with self._lock:
            self._open.discard(connection)
        connection.close()
