"""Where Exchange Online's admin endpoint is, per cloud, and which URLs may carry our token.

The national clouds are settings, not code paths: each is an endpoint and the sign-in
authority that issues tokens for it (ExchangeOnlineManagement's `-ExchangeEnvironmentName`
values O365Default, O365USGovGCCHigh, O365USGovDoD, O365China).
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "::1"})
DEFAULT_PORTS: Final = {"https": 443, "http": 80}


@dataclass(frozen=True)
class ExchangeCloud:
    """One Microsoft cloud: its Exchange Online endpoint and its sign-in authority host."""

    name: str
    endpoint: str
    authority: str
    """The host azure-identity signs in at (its `authority=`), e.g. `login.microsoftonline.us`."""

    @property
    def scope(self) -> str:
        """The token scope: the endpoint's `.default` (`https://outlook.office365.com/.default`)."""
        return f"{self.endpoint}/.default"


CLOUDS: Final = {
    cloud.name: cloud
    for cloud in (
        ExchangeCloud("global", "https://outlook.office365.com", "login.microsoftonline.com"),
        ExchangeCloud("usgovernment", "https://outlook.office365.us", "login.microsoftonline.us"),
        ExchangeCloud("dod", "https://webmail.apps.mil", "login.microsoftonline.us"),
        ExchangeCloud("china", "https://partner.outlook.cn", "login.chinacloudapi.cn"),
    )
}
DEFAULT_CLOUD: Final = CLOUDS["global"]


def check_endpoint(
    url: str, service: str = "an Exchange Online endpoint", example: str = DEFAULT_CLOUD.endpoint
) -> str:
    """The endpoint without a trailing slash; ValueError unless https://HOST[:PORT], or plain
    http on loopback. A URL holding a user name or password is refused without being echoed.
    `service` and `example` word the message (the audit checks its Graph endpoint here too)."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise ValueError(f"the URL for {service} holds a user name or password: give https://HOST")
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    scheme = parts.scheme.lower()
    hostname = (parts.hostname or "").lower()
    secure = scheme == "https" or (scheme == "http" and hostname in LOOPBACK)
    if (
        not secure
        or not hostname
        or not port_ok
        or parts.query
        or parts.fragment
        or parts.path.strip("/")
    ):
        raise ValueError(
            f"{url!r} is not {service}: give https://HOST (plain http only "
            f"for localhost, 127.0.0.1 or [::1]), e.g. {example}"
        )
    return url.rstrip("/")


def cloud_of(url: str) -> ExchangeCloud | None:
    """The cloud whose Exchange endpoint `url` is (same scheme, host and port), if any."""
    return next((c for c in CLOUDS.values() if origin(c.endpoint) == origin(url)), None)


def origin(url: str) -> tuple[str, str, int]:
    """Scheme, host and port: two URLs with the same origin may see the same bearer token."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1  # a port that is not a number: no origin matches it
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme, -1)


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the bearer token to wherever it points: every 3xx stays an
    HTTPError for the caller to refuse."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
