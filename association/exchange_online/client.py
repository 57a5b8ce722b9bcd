"""Run one Exchange Online cmdlet over the admin REST endpoint, as the module's REST mode does.

`POST {endpoint}/adminapi/beta/{tenant}/InvokeCommand` with `{"CmdletInput": {"CmdletName",
"Parameters"}}`; the answer is `{"value": [...]}` with `@odata.nextLink` pages, each page
asked with the same body (KelvinTegelaar/CIPP-API New-ExoRequest.ps1, jflieben/M365Permissions
new-ExOQuery.ps1, GreyCorbel/ExoHelper Invoke-ExoCommand.ps1). Hostile answers are bounded:
body size, pages, and one deadline per tenant that covers retries, pages and slow bodies. The
token goes only to the endpoint's origin: no redirect is followed, a nextLink elsewhere is
refused, and the token is never in a repr, a message or an exception.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from typing import Any, Final, Protocol
from urllib.parse import quote

from association.exchange_online.endpoint import LOOPBACK, NoRedirects, check_endpoint, origin
from association.exchange_online.retry import retry_after_seconds
from association.exchange_online.rights import needed_for
from association.text import visible

ANCHOR_MAILBOX: Final = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@"
"""Anchor the tools above send for tenant-wide cmdlets (followed by the tenant ID)."""
CLIENT_APPLICATION: Final = "mimecast-association"
MAX_DETAIL: Final = 400
"""Characters of Exchange's own error text shown in a message."""


class ExchangeError(Exception):
    """Exchange Online did not do what was asked; the message names the tenant and the fix."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TokenProvider(Protocol):
    """Signs in at operation time; never stored in state (see `signin`)."""

    def token(self, tenant_id: str, scope: str) -> str: ...


@dataclass(frozen=True)
class Limits:
    """How much a hostile or struggling endpoint may cost one tenant."""

    max_body: int = 4 * 1024 * 1024
    max_total: int | None = None
    """Bytes of every answer together (the audit's per-tenant budget); None: no total."""
    max_pages: int = 50
    deadline: float = 300.0
    """Seconds for everything one client does: requests, pages, bodies and retry waits."""
    attempts: int = 5
    total_wait: float = 120.0
    default_wait: float = 2.0
    """When no usable `Retry-After` comes, doubled on each attempt."""
    timeout: float = 30.0
    """Seconds one socket operation may block."""


class ExchangeAdminClient:
    """Cmdlets in one tenant with one token (asked for once, on first use)."""

    def __init__(
        self,
        endpoint: str,
        tenant_id: str,
        tokens: TokenProvider,
        limits: Limits | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rights: Callable[[str], str] = needed_for,
        who: str = "the deploy identity",
        handlers: Sequence[urllib.request.BaseHandler] = (),
    ) -> None:
        """`rights` and `who` word a refusal: what `who` needs to run a cmdlet (the audit's
        identity needs less than the deploy identity). `handlers` go into the opener (the
        audit's watchdog, which shuts the connections at the tenant's deadline)."""
        self.endpoint = check_endpoint(endpoint)
        self._rights, self._who = rights, who
        self.tenant_id = tenant_id
        self.limits = limits or Limits()
        self.sent = 0
        self.received = 0
        """Bytes of answers read so far."""
        self._count = threading.Lock()
        """Cmdlets may run from several threads at once (the audit runs its reads together):
        the counts and the total byte cap are kept under this lock."""
        self._tokens, self._token = tokens, ""
        self._sleep, self._clock, self._now = sleep, clock, now
        self._ends = clock() + self.limits.deadline
        chain: list[urllib.request.BaseHandler] = [NoRedirects(), *handlers]
        if origin(self.endpoint)[1] in LOOPBACK:  # a proxy must not see a local fake's traffic
            chain.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*chain)
        self._url = f"{self.endpoint}/adminapi/beta/{quote(tenant_id, safe='')}/InvokeCommand"

    def __repr__(self) -> str:
        return f"ExchangeAdminClient(endpoint={self.endpoint!r}, tenant_id={self.tenant_id!r})"

    def invoke(
        self, cmdlet: str, parameters: Mapping[str, object] | None = None
    ) -> list[dict[str, Any]]:
        """Every object the cmdlet returns, all pages read; ExchangeError otherwise."""
        body = json.dumps(
            {"CmdletInput": {"CmdletName": cmdlet, "Parameters": dict(parameters or {})}}
        ).encode()
        items: list[dict[str, Any]] = []
        asked = [self._url]
        url: str | None = self._url
        while url is not None:
            document = self._post_with_retries(url, cmdlet, body)
            items.extend(self._items(cmdlet, document))
            url = self._next_page(cmdlet, document, asked)
        return items

    def _fail(self, cmdlet: str, text: str, status: int | None = None) -> ExchangeError:
        return ExchangeError(f"Exchange Online, tenant {self.tenant_id}, {cmdlet}: {text}", status)

    def _items(self, cmdlet: str, document: object) -> list[dict[str, Any]]:
        value = document.get("value") if isinstance(document, dict) else None
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self._fail(cmdlet, "the answer is not a list of objects under `value`")
        return value

    def _next_page(self, cmdlet: str, document: Any, asked: list[str]) -> str | None:
        link = document.get("@odata.nextLink", document.get("odata.nextLink"))
        if link is None:
            return None
        if not isinstance(link, str) or origin(link) != origin(self.endpoint):
            raise self._fail(cmdlet, f"refused a nextLink outside {self.endpoint}")
        if link in asked:
            raise self._fail(cmdlet, "a nextLink pointed at a page already read: stopped paging")
        if len(asked) >= self.limits.max_pages:
            raise self._fail(cmdlet, f"more than {self.limits.max_pages} pages: stopped paging")
        asked.append(link)
        return link

    def _post_with_retries(self, url: str, cmdlet: str, body: bytes) -> Any:
        # A 504 may come after the cmdlet ran: only reads are safe to repeat then.
        retryable = {429, 503} | ({504} if cmdlet.startswith("Get-") else set())
        waited = 0.0
        for attempt in range(self.limits.attempts):
            status, headers, document = self._post(url, cmdlet, body)
            if status == 200:
                return document
            if status not in retryable:
                raise self._refusal(cmdlet, status, document)
            wait = retry_after_seconds(
                headers.get("Retry-After"), attempt, self.limits.default_wait, self._now()
            )
            if (
                attempt + 1 == self.limits.attempts
                or waited + wait > self.limits.total_wait
                or self._clock() + wait > self._ends
            ):
                break
            self._sleep(wait)
            waited += wait
        raise self._fail(
            cmdlet,
            f"still throttled or unavailable (HTTP {status}) after {attempt + 1} attempts; run "
            "`pulumi up` again later",
            status,
        )

    def _refusal(self, cmdlet: str, status: int, document: Any) -> ExchangeError:
        detail = _error_detail(document)
        said = f" Exchange said: {detail}" if detail else ""
        if status == 401:
            text = (
                "the token was rejected (HTTP 401). Sign in to this tenant again (`az login "
                f"--tenant {self.tenant_id}`) or check the pipeline identity's federated "
                f"credential; {self._who} needs {self._rights(cmdlet)}."
            )
        elif status == 403:
            text = f"refused (HTTP 403): {self._who} needs {self._rights(cmdlet)}."
        else:
            text = f"failed (HTTP {status})."
        return self._fail(cmdlet, text + said, status)

    def _bearer(self) -> str:
        if not self._token:
            self._token = self._tokens.token(self.tenant_id, f"{self.endpoint}/.default")
        return self._token

    def _post(self, url: str, cmdlet: str, body: bytes) -> tuple[int, Message, Any]:
        remaining = self._ends - self._clock()
        if remaining <= 0:
            raise self._fail(cmdlet, f"gave up after {self.limits.deadline:g} s (the deadline)")
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self._bearer()}",
                "Content-Type": "application/json; charset=utf-8",
                "Accept": "application/json",
                "Prefer": "odata.maxpagesize=1000",
                "X-AnchorMailbox": ANCHOR_MAILBOX + self.tenant_id,
                "X-CmdletName": cmdlet,
                "X-ClientApplication": CLIENT_APPLICATION,
                "client-request-id": str(uuid.uuid4()),
            },
        )
        with self._count:
            self.sent += 1
        try:
            with self._opener.open(request, timeout=min(self.limits.timeout, remaining)) as answer:
                status, headers, data = answer.status, answer.headers, self._read(answer, cmdlet)
        except urllib.error.HTTPError as error:
            with error:
                status, headers, data = error.code, error.headers, self._read(error, cmdlet)
        except (urllib.error.URLError, OSError) as error:
            reason = visible(str(getattr(error, "reason", error)))
            raise self._fail(cmdlet, f"cannot reach {self.endpoint}: {reason}") from None
        except http.client.HTTPException as error:  # a cut-off body, no status line: its bytes
            what = type(error).__name__  # are the server's, so only the kind is said
            raise self._fail(cmdlet, f"the answer is not usable HTTP ({what})") from None
        if 300 <= status < 400:
            raise self._fail(cmdlet, f"refused a redirect (HTTP {status})", status)
        try:
            document = json.loads(data) if data.strip() else {}
        except (ValueError, RecursionError):
            if status == 200:
                raise self._fail(cmdlet, "the answer is not valid JSON", status) from None
            document = {}
        return status, headers, document

    def _read(self, answer: Any, cmdlet: str) -> bytes:
        """The body, refused past `max_body` bytes or past the deadline, however slowly it
        trickles in (`read1` returns after one receive)."""
        chunks: list[bytes] = []
        size = 0
        while chunk := answer.read1(65536):
            size += len(chunk)
            with self._count:
                self.received += len(chunk)
                received = self.received
            if size > self.limits.max_body:
                raise self._fail(cmdlet, f"the answer is larger than {self.limits.max_body} bytes")
            total = self.limits.max_total
            if total is not None and received > total:
                raise self._fail(cmdlet, f"the answers came to more than {total} bytes in all")
            if self._clock() > self._ends:
                raise self._fail(cmdlet, f"gave up after {self.limits.deadline:g} s (the deadline)")
            chunks.append(chunk)
        return b"".join(chunks)


def _error_detail(document: Any) -> str:
    """Exchange's own words, shown escaped: `error.details[].message` (often `code|type|text`),
    `error.innererror.internalException.message`, or `error.message` (the shapes the tools
    above read)."""
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return ""
    texts: list[str] = []
    details = error.get("details")
    if isinstance(details, list):
        texts += [d["message"] for d in details if isinstance(d, dict) and "message" in d]
    inner = error.get("innererror") or error.get("innerError")
    internal = inner.get("internalException") if isinstance(inner, dict) else None
    if not texts and isinstance(internal, dict):
        texts.append(internal.get("message", ""))
    if not texts:
        texts += [error.get("code", ""), error.get("message", "")]
    text = " ".join(str(part).split("|")[-1] for part in texts if isinstance(part, str) and part)
    text = visible(text)
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "..."
