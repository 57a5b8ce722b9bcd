"""Shared test set-up: no test may reach the network beyond this machine's loopback.

Loopback stays open so tests can drive a local fake server (the audit's fake Graph on
127.0.0.1); any other address, and any name but `localhost`, is refused.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class NetworkAccessError(AssertionError):
    """A test tried to reach the network; tests here run offline."""


def _host(address: object) -> object:
    return address[0] if isinstance(address, tuple) and address else address


def _loopback_only(real: Callable[..., Any], position: int) -> Callable[..., Any]:
    """`real`, refusing any call whose address (argument `position`) is not loopback."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        target = args[position] if len(args) > position else None
        if _host(target) not in LOOPBACK:
            raise NetworkAccessError(f"test opened a network connection: {args!r}")
        return real(*args, **kwargs)

    return guarded


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that connects a socket or resolves a name outside loopback."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only(socket.socket.connect, 1))
    monkeypatch.setattr(socket.socket, "connect_ex", _loopback_only(socket.socket.connect_ex, 1))
    monkeypatch.setattr(socket, "create_connection", _loopback_only(socket.create_connection, 0))
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_only(socket.getaddrinfo, 0))
