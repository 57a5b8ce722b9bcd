"""The guard in conftest.py really stops network access, and only lets loopback through."""

import socket
import urllib.request

import pytest
from conftest import NetworkAccessError


@pytest.mark.parametrize(
    ("family", "host"), [(socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")]
)
def test_socket_connect_is_refused(family: socket.AddressFamily, host: str) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as sock, pytest.raises(NetworkAccessError):
        sock.connect((host, 9))


def test_http_request_is_refused() -> None:
    with pytest.raises(NetworkAccessError):
        urllib.request.urlopen("https://graph.microsoft.com/v1.0/", timeout=1)


def test_name_resolution_is_refused() -> None:
    with pytest.raises(NetworkAccessError):
        socket.getaddrinfo("example.com", 443)


def test_loopback_is_allowed() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            connection, _ = server.accept()
            connection.close()
