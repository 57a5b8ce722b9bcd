"""Shared test set-up: no test may open a network connection."""

from __future__ import annotations

import socket
from typing import Any

import pytest


class NetworkAccessError(AssertionError):
    """A test tried to reach the network; tests here run offline."""


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise NetworkAccessError(f"test opened a network connection: {args!r}")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that connects a socket or resolves a host name."""
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
