"""One POST to Microsoft Graph, bounded in time and size; every failure is a `GraphError`.

A socket timeout bounds each read, not the answer: a server that trickles a byte a second
is never cut off by it. So each tenant has a `Budget` (a deadline on the monotonic clock and
a byte allowance), and a watchdog shuts the connection's socket when the deadline passes,
whatever phase the request is in (status line, headers, body). Transport errors of every
kind (`http.client.IncompleteRead`, `BadStatusLine`, `LineTooLong`, a reset, TLS) end that
request as a GraphError, so one tenant's broken server never ends the run. Endpoints are
compared by scheme, host and port, never as strings.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Final

from association.exchange_online import endpoint as exchange_endpoint
from association.exchange_online.endpoint import DEFAULT_PORTS, LOOPBACK, NoRedirects, origin

MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024
"""One answer; the tenant's `Budget` allows less in all (`MAX_TENANT_BYTES`)."""
MAX_TENANT_BYTES: Final = 8 * 1024 * 1024
"""Every answer for one tenant together: a clean tenant's batch is ~10 KB, so this is far
above need, and with `--concurrency` tenants in memory at once it stays well below a GiB."""

AUTHORITIES: Final = {
    "graph.microsoft.com": "login.microsoftonline.com",
    "graph.microsoft.us": "login.microsoftonline.us",
    "dod-graph.microsoft.us": "login.microsoftonline.us",
    "microsoftgraph.chinacloudapi.cn": "login.chinacloudapi.cn",
}
"""Graph's national cloud endpoints and the Entra ID authority that signs in for each
(learn.microsoft.com/graph/deployments; azure-identity's `AzureAuthorityHosts`)."""


class GraphError(Exception):
    """Graph could not answer: unreachable, refused the token, or throttled us out."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Endpoint:
    """Where Graph is: scheme, host and port, each normalised (lower case, default port)."""

    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{host}" + ("" if default else f":{self.port}")

    @property
    def authority(self) -> str | None:
        """The sign-in authority host for this Graph, if it is a cloud azure-identity knows."""
        return AUTHORITIES.get(self.host) if self.scheme == "https" else None

    def owns(self, url: str) -> bool:
        """Whether `url` is on this endpoint (same scheme, host and port)."""
        return origin(url) == (self.scheme, self.host, self.port)


def check_endpoint(url: str) -> Endpoint:
    """The endpoint; ValueError unless https://HOST[:PORT], or plain http on loopback (the
    product's check for Exchange endpoints, which never echoes a user name or password)."""
    checked = exchange_endpoint.check_endpoint(
        url, "a Microsoft Graph endpoint (--graph-endpoint)", "https://graph.microsoft.com"
    )
    return Endpoint(*origin(checked))


@dataclass
class Budget:
    """What one tenant may still spend: time until `deadline` and bytes of answers."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    bytes_left: int = field(default_factory=lambda: MAX_TENANT_BYTES)
    deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = self.clock() + self.seconds

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def out_of_time(self) -> GraphError:
        return GraphError(
            f"no complete answer from Graph within the tenant's {self.seconds:g} s "
            "(--tenant-timeout): stopped waiting"
        )


class Watchdog:
    """Shuts the sockets of the connections made for one request (or, for the Exchange
    client, one tenant's requests) once its time is up.

    The socket is kept from `connect()`: urllib drops the connection's own reference once the
    headers are read, while the answer's body is still read through it."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.fired = False
        self.lock = threading.Lock()

    def close(self) -> None:
        """Close every socket it watched (after the request, or the tenant, is done)."""
        with self.lock:
            for sock in self.sockets:
                sock.close()

    def fire(self) -> None:
        with self.lock:
            self.fired = True
            for sock in self.sockets:
                _shut(sock)

    def watch(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.append(sock)
            if self.fired:
                _shut(sock)

    def connection(
        self, base: type[http.client.HTTPConnection]
    ) -> type[http.client.HTTPConnection]:
        watchdog = self

        class Watched(base):  # type: ignore[valid-type, misc]
            def connect(self) -> None:
                super().connect()
                watchdog.watch(self.sock)

        return Watched


def _shut(sock: socket.socket) -> None:
    """The plain socket's shutdown: it ends a read in progress, a TLS one too."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watched(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """urllib's HTTP and HTTPS handlers (certificates verified), with watched connections."""

    def __init__(self, watchdog: Watchdog) -> None:
        super().__init__()
        self.watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self.watchdog.connection(http.client.HTTPConnection), req)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self.watchdog.connection(http.client.HTTPSConnection), req)


TRANSPORT_ERRORS: Final = (OSError, http.client.HTTPException, ValueError)
"""What a broken connection raises: resets and TLS errors (OSError), a malformed or cut-off
answer (IncompleteRead, BadStatusLine, LineTooLong), a read on a socket shut meanwhile."""


def post(
    endpoint: Endpoint,
    url: str,
    data: bytes,
    headers: Mapping[str, str],
    budget: Budget,
    timeout: float = 30.0,
) -> tuple[int, Message, bytes]:
    """POST `data` to `url`; the status, headers and body, read within `budget`."""
    remaining = budget.remaining()
    if remaining <= 0:
        raise budget.out_of_time()
    watchdog = Watchdog()
    handlers: list[Any] = [NoRedirects(), Watched(watchdog)]
    if endpoint.host in LOOPBACK:  # a proxy from the environment must not see local traffic
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, data=data, method="POST", headers=dict(headers))
    limit = min(MAX_RESPONSE_BYTES, budget.bytes_left)
    timer = threading.Timer(remaining, watchdog.fire)
    timer.daemon = True
    timer.start()
    try:
        status, answer_headers, body = _exchange(opener, request, min(timeout, remaining), limit)
    except TRANSPORT_ERRORS as error:
        if watchdog.fired:
            raise budget.out_of_time() from None
        raise GraphError(f"cannot reach {endpoint.url}: {_reason(error)}") from None
    finally:
        timer.cancel()
        watchdog.close()
    if watchdog.fired:
        raise budget.out_of_time()
    if len(body) > limit:
        raise GraphError(
            f"Graph's answers for this tenant came to more than {limit} bytes"
            + (" in one answer" if limit == MAX_RESPONSE_BYTES else "")
            + ": stopped reading"
        )
    budget.bytes_left -= len(body)
    return status, answer_headers, body


def _exchange(
    opener: urllib.request.OpenerDirector,
    request: urllib.request.Request,
    timeout: float,
    limit: int,
) -> tuple[int, Message, bytes]:
    try:
        with opener.open(request, timeout=timeout) as answer:
            return answer.status, answer.headers, answer.read(limit + 1)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read(limit + 1)


def _reason(error: BaseException) -> str:
    """Why, in words that quote nothing the server sent (a bad status line is its bytes)."""
    if isinstance(error, http.client.IncompleteRead):
        return "the answer broke off before its end"
    if isinstance(error, http.client.HTTPException):
        return f"the answer is not HTTP ({type(error).__name__})"
    if isinstance(error, urllib.error.URLError):
        return _reason(error.reason) if isinstance(error.reason, OSError) else str(error.reason)
    if isinstance(error, OSError):
        return error.strerror or str(error) or type(error).__name__
    return type(error).__name__
