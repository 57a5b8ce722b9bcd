"""Microsoft Graph v1.0 over urllib: JSON batches, `@odata.nextLink` paging, throttling retries.

As few HTTP requests as Graph allows: every GET of a tenant goes into one `$batch` (at most 20
a batch, Graph's limit), and the next pages of every list go together into the next batch.
A 429 or 503 (of the batch or of requests inside it) is retried after its `Retry-After`
(seconds or an HTTP date), within a bounded number of attempts and a bounded total wait.
Paging is bounded too: a `nextLink` seen before, or more than `MAX_PAGES` pages, is an error,
never an endless loop. The bearer token goes only to the endpoint it was given for: no
redirect is followed and a `nextLink` elsewhere is refused.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urlsplit

from association_tools.safe_read import InputError, load_json

API_VERSION: Final = "v1.0"
BATCH_LIMIT: Final = 20
"""Requests in one JSON batch (learn.microsoft.com/graph/json-batching)."""
RETRYABLE: Final = frozenset({429, 503})
MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024
LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_PAGES = 100
"""Pages read of one list before it counts as endless (the audit's lists hold a handful of
items, Graph's pages at least 100); a plain module value so tests can lower it."""


class GraphError(Exception):
    """Graph could not answer: unreachable, refused the token, or throttled us out."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    """One GET inside a batch; `url` is relative to the version, e.g. `/applications/{id}`."""

    id: str
    url: str


@dataclass(frozen=True)
class Response:
    """A request's status and body; a list's `value` holds every page."""

    status: int
    body: Mapping[str, Any]


@dataclass(frozen=True)
class RetryPolicy:
    """How long throttling may hold up one tenant before it counts as an error."""

    attempts: int = 5
    total_wait: float = 120.0
    default_wait: float = 2.0
    """When Graph sends no usable `Retry-After`, doubled on each attempt."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the bearer token to wherever it points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def check_endpoint(url: str) -> str:
    """The endpoint without a trailing slash; ValueError unless https, or http on loopback."""
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)
    if not secure or not parts.hostname or parts.query or parts.fragment or parts.path.strip("/"):
        raise ValueError(
            f"{url!r} is not a Graph endpoint: give https://HOST (plain http only for "
            "localhost, 127.0.0.1 or [::1])"
        )
    return url.rstrip("/")


@dataclass
class GraphClient:
    """Batched GETs against one endpoint with one token; `sent` counts HTTP requests."""

    endpoint: str
    token: str
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """The wall clock, for a `Retry-After` given as an HTTP date."""
    timeout: float = 30.0
    sent: int = 0

    def __post_init__(self) -> None:
        loopback = urlsplit(self.endpoint).hostname in LOOPBACK
        handlers: list[Any] = [_NoRedirects()]
        if loopback:  # a proxy from the environment must not see a local test server's traffic
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)
        self._base = f"{self.endpoint}/{API_VERSION}"

    def get_all(self, requests: Sequence[Request]) -> dict[str, Response]:
        """Each request's response, lists with all their pages, in as few batches as allowed."""
        results: dict[str, Response] = {}
        pages = {request.id: [request.url] for request in requests}  # each list's URLs asked
        pending = list(requests)
        while pending:
            chunk, pending = pending[:BATCH_LIMIT], pending[BATCH_LIMIT:]
            for request_id, page in self._batch(chunk).items():
                earlier = results.get(request_id)
                response = page
                if earlier is not None:  # a further page of a list
                    values = [*earlier.body.get("value", []), *page.body.get("value", [])]
                    response = Response(page.status, {**page.body, "value": values})
                results[request_id] = response
                next_link = page.body.get("@odata.nextLink")
                if page.status == 200 and next_link is not None:
                    url = self._next_page(next_link, pages[request_id])
                    pending.append(Request(request_id, url))
        return results

    def _next_page(self, next_link: object, asked: list[str]) -> str:
        """The next page's URL, added to `asked` (the list's URLs so far, its first one first);
        GraphError for a link elsewhere, and rather than loop forever."""
        if not isinstance(next_link, str) or not next_link.startswith(self._base + "/"):
            raise GraphError(f"Graph sent a nextLink outside {self._base}: {next_link!r}")
        url = next_link[len(self._base) :]
        collection = asked[0].split("?")[0]
        if url in asked:
            raise GraphError(
                f"Graph's list {collection} sent a nextLink to a page already read: "
                "stopped paging rather than loop forever"
            )
        if len(asked) >= MAX_PAGES:
            raise GraphError(
                f"Graph's list {collection} goes on past {MAX_PAGES} pages: stopped paging"
            )
        asked.append(url)
        return url

    def _batch(self, requests: Sequence[Request]) -> dict[str, Response]:
        """One batch, retrying throttled requests (or the whole batch) as Graph asks."""
        done: dict[str, Response] = {}
        started = self.clock()
        for attempt in range(self.policy.attempts):
            waiting = [r for r in requests if r.id not in done]
            body = {"requests": [{"id": r.id, "method": "GET", "url": r.url} for r in waiting]}
            status, headers, document = self._post("/$batch", body)
            waits = []
            if status in RETRYABLE:
                waits.append(self._retry_after(headers.get("Retry-After"), attempt))
            elif status != 200:
                raise GraphError(_error_text(status, document), status)
            else:
                for item in _responses(document):
                    if not any(item.id == r.id for r in waiting):
                        continue  # not an answer to this batch: nothing of ours to read
                    if item.status in RETRYABLE:
                        waits.append(self._retry_after(item.retry_after, attempt))
                    else:
                        done[item.id] = Response(item.status, item.body)
            if not waits:
                missing = [r.id for r in requests if r.id not in done]
                if missing:
                    raise GraphError(f"Graph's batch answer left out {', '.join(missing)}")
                return done
            wait = max(waits)
            if attempt + 1 == self.policy.attempts or (
                self.clock() - started + wait > self.policy.total_wait
            ):
                break
            self.sleep(wait)
        raise GraphError(
            f"throttled out: Graph still answered 429/503 after {self.policy.attempts} attempts "
            f"or {self.policy.total_wait:g} s of waiting; run the audit again later",
            429,
        )

    def _retry_after(self, value: object, attempt: int) -> float:
        """Seconds to wait: `Retry-After` as seconds or an HTTP date (RFC 9110), never below 0;
        without a usable one, the policy's default, doubled on each attempt."""
        text = str(value).strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return float(self.policy.default_wait * 2**attempt)
        if when.tzinfo is None:  # `-0000`: UTC, by RFC 5322
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - self.now()).total_seconds())

    def _post(self, path: str, body: object) -> tuple[int, Message, Any]:
        request = urllib.request.Request(
            self._base + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        self.sent += 1
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                status, headers, data = (
                    answer.status,
                    answer.headers,
                    answer.read(MAX_RESPONSE_BYTES + 1),
                )
        except urllib.error.HTTPError as error:
            with error:
                status, headers, data = error.code, error.headers, error.read(MAX_RESPONSE_BYTES)
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise GraphError(f"cannot reach {self.endpoint}: {reason}") from None
        if len(data) > MAX_RESPONSE_BYTES:
            raise GraphError(f"Graph's answer is larger than {MAX_RESPONSE_BYTES} bytes")
        try:
            document = load_json(data, "Graph's answer") if data.strip() else {}
        except InputError as error:
            raise GraphError(str(error), status) from None
        return status, headers, document


@dataclass(frozen=True)
class _Item:
    id: str
    status: int
    body: Mapping[str, Any]
    retry_after: object


def _responses(document: Any) -> list[_Item]:
    """The batch's responses, each checked for shape; Graph sends them in any order."""
    items = document.get("responses") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise GraphError("Graph's batch answer has no list of responses")
    parsed = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("status"), int):
            raise GraphError("Graph's batch answer has a response without a status")
        body = item.get("body")
        headers = item.get("headers")
        retry_after = headers.get("Retry-After") if isinstance(headers, dict) else None
        parsed.append(
            _Item(
                str(item.get("id")),
                item["status"],
                body if isinstance(body, dict) else {},
                retry_after,
            )
        )
    return parsed


def error_code(body: Mapping[str, Any]) -> str:
    """Graph's `error.code` (e.g. `Authorization_RequestDenied`), or an empty string."""
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else ""


def _error_text(status: int, document: Any) -> str:
    body = document if isinstance(document, dict) else {}
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    detail = " ".join(part for part in (error_code(body), message) if isinstance(part, str))
    return f"Graph answered {status}" + (f": {detail}" if detail else "")
