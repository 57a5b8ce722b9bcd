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


def check_endpoint(url: str) -> str:
    """The endpoint without a trailing slash; ValueError unless https, or http on loopback."""
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)
    if (
        not secure
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or parts.path.strip("/")
    ):
        raise ValueError(
            f"{url!r} is not an Exchange Online endpoint: give https://HOST (plain http only "
            "for localhost, 127.0.0.1 or [::1]), e.g. https://outlook.office365.com"
        )
    return url.rstrip("/")


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
