"""Graph v1.0 over `transport`: JSON batches, `@odata.nextLink` paging, throttling retries.

As few HTTP requests as Graph allows: every GET of a tenant goes into one `$batch` (at most
20 a batch, Graph's limit), and the next pages of every list go together into the next
batch. A 429 or 503 (of the batch or of requests inside it) is retried after its
`Retry-After` (seconds or an HTTP date, read as the Exchange client reads it: `retry`), within a
bounded number of attempts per batch and a bounded total wait per tenant, never past the
tenant's deadline (`transport.Budget`). Paging is bounded too: a `nextLink` seen before, or
more than `MAX_PAGES` pages, is an error, never an endless loop. The bearer token goes only
to the endpoint it was given for: no redirect is followed and a `nextLink` to another
scheme, host or port is refused. The token is asked for before each batch (so a source can
refresh it) and is in no `repr`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any, Final
from urllib.parse import urlsplit

from association.exchange_online.retry import retry_after_seconds
from association_tools.audit.transport import Budget, Endpoint, GraphError, post
from association_tools.safe_read import InputError, load_json

__all__ = ["GraphClient", "GraphError", "Request", "Response", "RetryPolicy", "error_code"]

API_VERSION: Final = "v1.0"
BATCH_LIMIT: Final = 20
"""Requests in one JSON batch (learn.microsoft.com/graph/json-batching)."""
RETRYABLE: Final = frozenset({429, 503})
DEFAULT_TENANT_SECONDS: Final = 180.0
MAX_PAGES = 100
"""Pages read of one list before it counts as endless (the audit's lists hold a handful of
items, Graph's pages at least 100); a plain module value so tests can lower it."""


@dataclass(frozen=True)
class Request:
    """One request inside a batch; `url` is relative to the version, e.g. `/applications/{id}`.
    The audit only reads; the bootstrap also writes (`method` POST with a JSON `body`)."""

    id: str
    url: str
    method: str = "GET"
    body: Mapping[str, Any] | None = None

    def batched(self) -> dict[str, Any]:
        """As Graph's JSON batch takes it (learn.microsoft.com/graph/json-batching)."""
        item: dict[str, Any] = {"id": self.id, "method": self.method, "url": self.url}
        if self.body is not None:
            item["body"] = dict(self.body)
            item["headers"] = {"Content-Type": "application/json"}
        return item


@dataclass(frozen=True)
class Response:
    """A request's status and body; a list's `value` holds every page."""

    status: int
    body: Mapping[str, Any]


@dataclass(frozen=True)
class RetryPolicy:
    """How long throttling may hold up one tenant before it counts as an error."""

    attempts: int = 5
    """Per batch."""
    total_wait: float = 120.0
    """Per tenant, over every batch and page: Graph's `Retry-After`s added up."""
    default_wait: float = 2.0
    """When Graph sends no usable `Retry-After`, doubled on each attempt."""


@dataclass
class GraphClient:
    """Batched GETs against one endpoint for one tenant; `sent` counts HTTP requests."""

    endpoint: Endpoint
    token: Callable[[], str] = field(repr=False)
    """Asked before each batch: the token source refreshes a token that is about to expire."""
    budget: Budget = field(default_factory=lambda: Budget(DEFAULT_TENANT_SECONDS))
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """The wall clock, for a `Retry-After` given as an HTTP date."""
    timeout: float = 30.0
    """Of each socket operation; the budget's deadline bounds the whole."""
    sent: int = 0
    waited: float = 0.0
    """Seconds of `Retry-After` waited for this tenant so far."""

    def get_all(self, requests: Sequence[Request]) -> dict[str, Response]:
        """Each request's response, lists with all their pages, in as few batches as allowed.
        A throttled write (429 inside the batch: not run) is sent again like a read."""
        results: dict[str, Response] = {}
        pages = {request.id: [request.url] for request in requests}  # each list's URLs asked
        reads = {request.id for request in requests if request.method == "GET"}
        pending = list(requests)
        while pending:
            chunk, pending = pending[:BATCH_LIMIT], pending[BATCH_LIMIT:]
            for request_id, page in self._batch(chunk).items():
                earlier = results.get(request_id)
                response = page
                if earlier is not None:  # a further page of a list
                    values = [*_listed(earlier.body), *_listed(page.body)]
                    response = Response(page.status, {**page.body, "value": values})
                results[request_id] = response
                next_link = page.body.get("@odata.nextLink")
                if page.status == 200 and next_link is not None and request_id in reads:
                    url = self._next_page(next_link, pages[request_id])
                    pending.append(Request(request_id, url))
        return results

    def _next_page(self, next_link: object, asked: list[str]) -> str:
        """The next page's URL, added to `asked` (the list's URLs so far, its first one first);
        GraphError for a link elsewhere, and rather than loop forever."""
        collection = asked[0].split("?")[0]
        link = next_link if isinstance(next_link, str) else ""
        parts = urlsplit(link)
        prefix = f"/{API_VERSION}/"
        if not self.endpoint.owns(link) or not parts.path.startswith(prefix):
            raise GraphError(
                f"Graph's list {collection} sent a nextLink outside "
                f"{self.endpoint.url}/{API_VERSION}: not followed"
            )
        url = parts.path[len(prefix) - 1 :] + (f"?{parts.query}" if parts.query else "")
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
        for attempt in range(self.policy.attempts):
            waiting = [r for r in requests if r.id not in done]
            body = {"requests": [r.batched() for r in waiting]}
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
            if (
                attempt + 1 == self.policy.attempts
                or self.waited + wait > self.policy.total_wait
                or wait >= self.budget.remaining()
            ):
                break
            self.sleep(wait)
            self.waited += wait
        raise GraphError(
            f"throttled out: Graph still answered 429/503 after {attempt + 1} attempts; "
            f"waiting longer would pass {self.policy.total_wait:g} s of waiting or the "
            "tenant's deadline. Run the audit again later",
            429,
        )

    def _retry_after(self, value: object, attempt: int) -> float:
        """Seconds to wait, as `retry.retry_after_seconds` reads `Retry-After`."""
        return retry_after_seconds(value, attempt, self.policy.default_wait, self.now())

    def _post(self, path: str, body: object) -> tuple[int, Message, Any]:
        headers = {
            "Authorization": f"Bearer {self.token()}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.sent += 1
        url = f"{self.endpoint.url}/{API_VERSION}{path}"
        status, answer_headers, data = post(
            self.endpoint, url, json.dumps(body).encode(), headers, self.budget, self.timeout
        )
        try:
            document = load_json(data, "Graph's answer") if data.strip() else {}
        except InputError as error:
            raise GraphError(str(error), status) from None
        return status, answer_headers, document


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


def _listed(body: Mapping[str, Any]) -> list[Any]:
    """A page's `value`, if it is a list (Graph's answers are input: it may not be)."""
    value = body.get("value")
    return value if isinstance(value, list) else []


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
    if status == 401:
        return (
            f"Graph rejected the token (401{' ' + detail if detail else ''}): it has expired, "
            "or is for another tenant or another cloud's Graph; sign in again"
        )
    return f"Graph answered {status}" + (f": {detail}" if detail else "")
