"""Run one Exchange Online cmdlet over the admin REST endpoint, as the module's REST mode does.

`POST {endpoint}/adminapi/beta/{tenant}/InvokeCommand` with `{"CmdletInput": {"CmdletName",
"Parameters"}}` (a switch is `"Name": true`, as CIPP-API sends `RetrieveEwsOperationAccessPolicy`);
any 2xx is success (`answer.read_answer`), `{"value": [...]}` with `@odata.nextLink` pages, each
page asked with the same body (KelvinTegelaar/CIPP-API New-ExoRequest.ps1, jflieben/
M365Permissions new-ExOQuery.ps1, GreyCorbel/ExoHelper Invoke-ExoCommand.ps1). A throttled read
is asked again; a throttled write is not (`Throttled`): its body came from a read that may be
stale by then, so the caller starts over from the read (`retrying`). Exchange may answer a read
from a copy that has not seen a write yet, so writes are checked by polling (`settle`).

Hostile answers are bounded: body size, pages, and one deadline per tenant that covers retries,
pages, waits and slow bodies. The token goes only to the endpoint's origin: no redirect is
followed, a nextLink elsewhere is refused, and the token is never in a repr, a message or an
exception.
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
from datetime import UTC, datetime
from email.message import Message
from typing import Any, Final, Protocol
from urllib.parse import quote

from association.exchange_online.answer import error_detail, read_answer
from association.exchange_online.endpoint import LOOPBACK, NoRedirects, check_endpoint, origin
from association.exchange_online.errors import ExchangeError, Throttled
from association.exchange_online.patience import Limits, Patience, throttled_out
from association.exchange_online.retry import retry_after_seconds
from association.exchange_online.rights import needed_for
from association.text import visible

ANCHOR_MAILBOX: Final = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@"
"""Anchor the tools above send for tenant-wide cmdlets (followed by the tenant ID)."""
CLIENT_APPLICATION: Final = "mimecast-association"
MAX_CLIENT_WARNINGS: Final = 100
"""Warnings one client keeps (each answer keeps at most `answer.MAX_WARNINGS`)."""
MAX_WARNING: Final = 2000
"""Characters of one warning."""


class TokenProvider(Protocol):
    """Signs in at operation time; never stored in state (see `signin`)."""

    def token(self, tenant_id: str, scope: str) -> str: ...


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
        self.warnings: list[str] = []
        """What Exchange warned about (`@adminapi.warnings`) and what the resources noticed,
        escaped, in order: the providers print them (`provider_base.report`)."""
        self._count = threading.Lock()
        """Cmdlets may run from several threads at once (the audit runs its reads together):
        the counts and the total byte cap are kept under this lock."""
        self._tokens, self._token = tokens, ""
        self.patience = Patience(self.limits, sleep, clock, now)
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
        """Every object the cmdlet returns, all pages read; ExchangeError otherwise (Throttled
        for a write Exchange turned away for now)."""
        body = json.dumps(
            {"CmdletInput": {"CmdletName": cmdlet, "Parameters": dict(parameters or {})}}
        ).encode()
        items: list[dict[str, Any]] = []
        asked = [self._url]
        url: str | None = self._url
        while url is not None:
            try:
                answer = read_answer(
                    self._post_with_retries(url, cmdlet, body), cmdlet.startswith("Get-")
                )
            except ValueError as error:
                raise self._fail(cmdlet, str(error)) from None
            items.extend(answer.items)
            for text in answer.warnings:
                self.warn(f"{cmdlet}: {text}")
            url = self._next_page(cmdlet, answer.next_link, asked)
        return items

    def warn(self, text: str) -> None:
        """Keep a warning for the resource to print, naming the tenant; escaped and cut, since
        it may hold Exchange's text (entries of the list)."""
        shown = visible(text)
        if len(shown) > MAX_WARNING:
            shown = shown[:MAX_WARNING] + "..."
        with self._count:
            if len(self.warnings) < MAX_CLIENT_WARNINGS:
                self.warnings.append(f"Exchange Online, tenant {self.tenant_id}, {shown}")

    def _fail(self, cmdlet: str, text: str, status: int | None = None) -> ExchangeError:
        return ExchangeError(f"Exchange Online, tenant {self.tenant_id}, {cmdlet}: {text}", status)

    def _next_page(self, cmdlet: str, link: object, asked: list[str]) -> str | None:
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
        # A 504 may come after the cmdlet ran, and a write re-sent as it was may carry a stale
        # list: only reads are asked again here.
        read = cmdlet.startswith("Get-")
        attempt = 0
        while True:
            status, headers, document = self._post(url, cmdlet, body)
            if 200 <= status < 300:
                return document
            if status not in ({429, 503, 504} if read else {429, 503}):
                raise self._refusal(cmdlet, status, document)
            if not read:
                raise Throttled(self._fail(cmdlet, "").args[0], status, headers.get("Retry-After"))
            wait = retry_after_seconds(
                headers.get("Retry-After"), attempt, self.limits.default_wait, self.patience.now()
            )
            if not self.patience.may_wait(wait, attempt):
                raise self._fail(cmdlet, throttled_out(status, attempt + 1), status)
            self.patience.pause(wait)
            attempt += 1

    def _refusal(self, cmdlet: str, status: int, document: Any) -> ExchangeError:
        detail = error_detail(document)
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
        remaining = self.patience.remaining()
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
            if 200 <= status < 300:
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
            if self.patience.remaining() < 0:
                raise self._fail(cmdlet, f"gave up after {self.limits.deadline:g} s (the deadline)")
            chunks.append(chunk)
        return b"".join(chunks)
