"""The guard in conftest.py really stops network access."""

import socket
import urllib.request

import pytest
from conftest import NetworkAccessError


def test_socket_connect_is_refused() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(NetworkAccessError),
    ):
        sock.connect(("127.0.0.1", 9))


def test_http_request_is_refused() -> None:
    with pytest.raises(NetworkAccessError):
        urllib.request.urlopen("https://graph.microsoft.com/v1.0/", timeout=1)
