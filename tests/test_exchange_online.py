"""The EWS allow-list resource, driven over HTTP against a fake Exchange Online on 127.0.0.1.

Each test runs the dynamic provider's own operations (create, read, diff, update, delete) as
the Pulumi engine would call them, through the real client, and reads the fake tenant's
organization afterwards: what an admin would see in `Get-OrganizationConfig
-RetrieveEwsOperationAccessPolicy`. The fake is as strict as the docs (tests/fake_exchange.py):
no list without the switch, 204 answers, warnings-only answers, reads that lag writes.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dill
import pytest
from fake_exchange import TOKEN, FakeExchange, FakeOrganization, serve
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.rpc import UNKNOWN

from association.exchange_online.client import ExchangeAdminClient
from association.exchange_online.errors import ExchangeError
from association.exchange_online.ews_access import EwsAccessProvider
from association.exchange_online.patience import Limits
from association.exchange_online.retry import retry_after_seconds

TENANT = "7d9f3f2e-4b1a-4c5e-9a8b-1c2d3e4f5a6b"
OURS = "3c9e2a1b-5d4f-4e6a-8b7c-9d0e1f2a3b4c"
OTHERS = [
    "11111111-2222-4333-8444-555555555555",
    "66666666-7777-4888-9999-aaaaaaaaaaaa",
    "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff",
]


class Tokens:
    """The token provider's interface; counts sign-ins."""

    def __init__(self, token: str = TOKEN) -> None:
        self.value, self.asked = token, 0

    def token(self, tenant_id: str, scope: str) -> str:
        self.asked += 1
        return self.value


@pytest.fixture
def exchange() -> FakeExchange:
    organization = FakeOrganization(ews_enabled=True, allowed=list(OTHERS))
    return FakeExchange(tenants={TENANT: organization})


@pytest.fixture
def endpoint(exchange: FakeExchange) -> Iterator[str]:
    with serve(exchange) as url:
        yield url


def provider(
    limits: Limits | None = None,
    tokens: Tokens | None = None,
    while_waiting: Callable[[], None] | None = None,
) -> EwsAccessProvider:
    """The provider with a client that records its waits instead of sleeping; `while_waiting`
    runs during each wait (what another admin does meanwhile)."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if while_waiting is not None:
            while_waiting()

    def connect(endpoint: str, authority: str, tenant: str) -> ExchangeAdminClient:
        return ExchangeAdminClient(endpoint, tenant, tokens or Tokens(), limits, sleep=sleep)

    made = EwsAccessProvider(connect)
    made.waits = waits  # type: ignore[attr-defined]
    return made


def props(endpoint: str, app_id: str = OURS, change: bool = False) -> dict[str, Any]:
    return {
        "tenantId": TENANT,
        "appId": app_id,
        "endpoint": endpoint,
        "authority": "login.microsoftonline.com",
        "changeOtherApps": change,
    }


def organization(exchange: FakeExchange) -> FakeOrganization:
    return exchange.tenants[TENANT]


@pytest.mark.parametrize("shape", ["string", "list"])
def test_create_keeps_three_other_entries_and_adds_ours(
    exchange: FakeExchange, endpoint: str, shape: Any
) -> None:
    exchange.list_shape = shape
    result = provider().create(props(endpoint))
    assert organization(exchange).allowed == [*OTHERS, OURS]
    assert organization(exchange).ews_enabled is True
    assert result.id == f"{TENANT}/{OURS}"
    assert result.outs is not None
    assert result.outs["listed"] is True


def test_every_read_of_the_list_asks_for_it_with_the_switch(
    exchange: FakeExchange, endpoint: str
) -> None:
    made = provider()
    outs = made.create(props(endpoint)).outs or {}
    made.read(f"{TENANT}/{OURS}", outs)
    made.delete(f"{TENANT}/{OURS}", outs)
    reads = [c for c in exchange.calls if c.cmdlet == "Get-OrganizationConfig"]
    assert len(reads) >= 6
    assert all(c.parameters == {"RetrieveEwsOperationAccessPolicy": True} for c in reads)


def test_without_the_switch_the_list_reads_empty(exchange: FakeExchange, endpoint: str) -> None:
    """Why the switch matters: the fake, like the docs, shows the list only when asked."""
    client = ExchangeAdminClient(endpoint, TENANT, Tokens())
    (config,) = client.invoke("Get-OrganizationConfig")
    assert config["EwsAllowedAppIDs"] is None
    assert organization(exchange).allowed == OTHERS


@pytest.mark.parametrize(
    ("enabled", "listed", "why"),
    [
        (None, list(OTHERS), "EwsEnabled is not configured"),
        (None, [], "EwsEnabled is not configured"),
        (True, [], "with no EwsAllowedAppIDs"),
    ],
)
def test_where_ews_is_not_restricted_nothing_is_written_unless_the_stack_says_so(
    exchange: FakeExchange, endpoint: str, enabled: bool | None, listed: list[str], why: str
) -> None:
    organization(exchange).ews_enabled, organization(exchange).allowed = enabled, listed
    with pytest.raises(ExchangeError) as refused:
        provider().create(props(endpoint))
    message = str(refused.value)
    assert why in message
    assert "takes EWS from every app it does not list" in message
    assert "pulumi config set --path 'mimecast-association:exchange.changeOtherApps' true" in (
        message
    )
    assert exchange.writes() == []
    provider().create(props(endpoint, change=True))
    assert organization(exchange).ews_enabled is True
    assert organization(exchange).allowed == [*listed, OURS]


def test_switching_ews_back_on_for_listed_apps_needs_the_stack_to_say_so(
    exchange: FakeExchange, endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    organization(exchange).ews_enabled = False  # what Microsoft did to unset tenants on 10-01
    with pytest.raises(ExchangeError) as refused:
        provider().create(props(endpoint))
    message = str(refused.value)
    assert "EWS is off for the organization" in message
    assert all(other in message for other in OTHERS)
    assert "exchange.changeOtherApps' true" in message
    assert exchange.writes() == []
    provider().create(props(endpoint, change=True))
    assert organization(exchange).ews_enabled is True
    assert organization(exchange).allowed == [*OTHERS, OURS]
    (warning,) = capsys.readouterr().err.splitlines()
    assert warning.startswith(f"warning: Exchange Online, tenant {TENANT}, EWS was off")
    assert all(other in warning for other in OTHERS)


def test_a_warning_holds_no_control_character_and_names_at_most_twenty_apps(
    exchange: FakeExchange, endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = [f"{n:08x}-0000-4000-8000-000000000000" for n in range(30)]
    organization(exchange).ews_enabled = False
    organization(exchange).allowed = [*hostile, "x\x1b[2J\rwarning: all good"]
    provider().create(props(endpoint, change=True))
    (warning,) = capsys.readouterr().err.splitlines()
    assert "\x1b" not in warning
    assert "\r" not in warning
    assert hostile[19] in warning
    assert hostile[20] not in warning
    assert "and 11 more" in warning


def test_off_with_no_list_is_switched_on_for_this_app_alone(
    exchange: FakeExchange, endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    organization(exchange).ews_enabled, organization(exchange).allowed = False, []
    provider().create(props(endpoint))
    assert (organization(exchange).ews_enabled, organization(exchange).allowed) == (True, [OURS])
    assert capsys.readouterr().err == ""


def test_twice_is_idempotent_and_adopts_a_listed_app(exchange: FakeExchange, endpoint: str) -> None:
    provider().create(props(endpoint))
    writes = len(exchange.writes())
    provider().create(props(endpoint))
    assert organization(exchange).allowed == [*OTHERS, OURS]
    assert len(exchange.writes()) == writes == 1


def test_an_edit_between_read_and_write_is_not_lost(exchange: FakeExchange, endpoint: str) -> None:
    admin = "dddddddd-eeee-4fff-8000-111111111111"
    exchange.after_read = lambda org: org.allowed.append(admin)
    provider().create(props(endpoint))
    assert organization(exchange).allowed == [*OTHERS, admin, OURS]


def test_read_sees_our_id_removed_and_diff_wants_it_back(
    exchange: FakeExchange, endpoint: str
) -> None:
    made = provider()
    outs = made.create(props(endpoint)).outs or {}
    organization(exchange).allowed.remove(OURS)  # an admin edits the list in PowerShell
    read = made.read(f"{TENANT}/{OURS}", outs)
    assert read.outs is not None
    assert read.outs["listed"] is False
    diff = made.diff(f"{TENANT}/{OURS}", read.outs, props(endpoint))
    assert diff.changes is True
    assert diff.replaces == []
    made.update(f"{TENANT}/{OURS}", read.outs, props(endpoint))
    assert organization(exchange).allowed == [*OTHERS, OURS]


def test_read_sees_ews_switched_off(exchange: FakeExchange, endpoint: str) -> None:
    made = provider()
    outs = made.create(props(endpoint)).outs or {}
    organization(exchange).ews_enabled = False
    read = made.read(f"{TENANT}/{OURS}", outs)
    assert read.outs is not None
    assert read.outs["ewsEnabled"] is False
    assert made.diff(f"{TENANT}/{OURS}", read.outs, props(endpoint)).changes is True


def test_no_diff_when_the_tenant_is_as_declared(exchange: FakeExchange, endpoint: str) -> None:
    made = provider()
    outs = made.create(props(endpoint)).outs or {}
    assert made.diff(f"{TENANT}/{OURS}", outs, props(endpoint)).changes is False


def test_another_app_id_replaces(exchange: FakeExchange, endpoint: str) -> None:
    made = provider()
    outs = made.create(props(endpoint)).outs or {}
    diff = made.diff(f"{TENANT}/{OURS}", outs, props(endpoint, OTHERS[0].replace("1", "9")))
    assert diff.replaces == ["appId"]


def test_delete_removes_only_ours(exchange: FakeExchange, endpoint: str) -> None:
    made = provider()
    outs = made.create(props(endpoint)).outs or {}
    made.delete(f"{TENANT}/{OURS}", outs)
    assert organization(exchange).allowed == OTHERS
    assert organization(exchange).ews_enabled is True


def test_delete_of_the_last_entry_switches_ews_off(exchange: FakeExchange, endpoint: str) -> None:
    organization(exchange).allowed = []
    made = provider()
    outs = made.create(props(endpoint, change=True)).outs or {}
    made.delete(f"{TENANT}/{OURS}", outs)
    # Off blocks every EWS request whatever the list holds (Set-OrganizationConfig.md), so the
    # list goes too; never on with an empty list, which stops restricting.
    assert organization(exchange).ews_enabled is False
    assert organization(exchange).allowed == []
    (last,) = exchange.writes()[-1:]
    assert last.parameters == {"EwsAllowedAppIDs": None, "EwsEnabled": False}


def test_delete_where_the_switch_is_unset_only_takes_our_entry(
    exchange: FakeExchange, endpoint: str
) -> None:
    organization(exchange).ews_enabled, organization(exchange).allowed = None, [OURS]
    provider().delete(f"{TENANT}/{OURS}", props(endpoint))
    assert (organization(exchange).ews_enabled, organization(exchange).allowed) == (None, [])


def test_delete_of_an_app_already_gone_changes_nothing(
    exchange: FakeExchange, endpoint: str
) -> None:
    provider().delete(f"{TENANT}/{OURS}", props(endpoint))
    assert exchange.writes() == []


def test_a_write_answered_204_or_with_warnings_only_succeeds(
    exchange: FakeExchange, endpoint: str
) -> None:
    client = ExchangeAdminClient(endpoint, TENANT, Tokens())
    wanted = {"EwsEnabled": True, "EwsAllowedAppIDs": ",".join([*OTHERS, OURS])}
    assert client.invoke("Set-OrganizationConfig", wanted) == []  # 204, no body
    assert client.warnings == []
    assert client.invoke("Set-OrganizationConfig", wanted) == []  # nothing to change
    (warning,) = client.warnings
    assert warning.startswith(f"Exchange Online, tenant {TENANT}, Set-OrganizationConfig: ")
    assert "no settings of 'contoso.onmicrosoft.com' have been modified" in warning


def test_a_write_that_shows_late_is_waited_for_not_written_again(
    exchange: FakeExchange, endpoint: str
) -> None:
    exchange.stale_reads = 3  # reads answered from a copy that has not seen the write
    made = provider()
    outs = made.create(props(endpoint)).outs or {}
    assert outs["listed"] is True
    assert made.waits == [2.0, 4.0, 8.0]  # type: ignore[attr-defined]
    assert [c.cmdlet for c in exchange.writes()] == ["Set-OrganizationConfig"]


def test_a_write_that_never_shows_is_one_clear_error_after_two_minutes(
    exchange: FakeExchange, endpoint: str
) -> None:
    exchange.stale_reads = 1000
    made = provider()
    with pytest.raises(ExchangeError, match="still shows the list as before it after 120 s"):
        made.create(props(endpoint))
    assert sum(made.waits) <= 120  # type: ignore[attr-defined]
    assert len(exchange.writes()) == 1, "never written again blindly"


def test_an_entry_removed_by_someone_else_after_our_write_is_named(
    exchange: FakeExchange, endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    exchange.after_write = lambda org: org.allowed.remove(OTHERS[1])
    provider().create(props(endpoint))
    assert organization(exchange).allowed == [OTHERS[0], OTHERS[2], OURS]
    (warning,) = capsys.readouterr().err.splitlines()
    assert f"EwsAllowedAppIDs held {OTHERS[1]} just before this run's write" in warning
    assert "Search-UnifiedAuditLog -Operations Set-OrganizationConfig" in warning


def test_a_stale_write_by_someone_else_that_drops_ours_is_redone(
    exchange: FakeExchange, endpoint: str
) -> None:
    """Another stack of this tenant adds its app from a read made before our write."""
    theirs = "dddddddd-eeee-4fff-8000-111111111111"
    exchange.after_write = lambda org: setattr(org, "allowed", [*OTHERS, theirs])
    outs = provider().create(props(endpoint)).outs or {}
    assert outs["listed"] is True
    assert organization(exchange).allowed == [*OTHERS, theirs, OURS]
    assert len(exchange.writes()) == 2


def test_a_throttled_write_is_retried_from_a_fresh_read(
    exchange: FakeExchange, endpoint: str
) -> None:
    admin = "dddddddd-eeee-4fff-8000-111111111111"
    exchange.throttled["Set-OrganizationConfig"] = 1
    made = provider(while_waiting=lambda: organization(exchange).allowed.append(admin))
    made.create(props(endpoint))
    assert made.waits == [7.0]  # type: ignore[attr-defined]
    assert organization(exchange).allowed == [*OTHERS, admin, OURS]
    first, second = [c for c in exchange.calls if c.cmdlet == "Set-OrganizationConfig"]
    assert admin not in first.parameters["EwsAllowedAppIDs"]
    assert admin in second.parameters["EwsAllowedAppIDs"], "the retry was made from a new read"


def test_a_throttled_delete_keeps_what_someone_added_meanwhile(
    exchange: FakeExchange, endpoint: str
) -> None:
    admin = "dddddddd-eeee-4fff-8000-111111111111"
    organization(exchange).allowed = [*OTHERS, OURS]
    exchange.throttled["Set-OrganizationConfig"] = 1
    made = provider(while_waiting=lambda: organization(exchange).allowed.append(admin))
    made.delete(f"{TENANT}/{OURS}", props(endpoint))
    assert organization(exchange).allowed == [*OTHERS, admin]


@pytest.mark.parametrize("others", [OTHERS, []])
def test_a_replacement_deletes_first_and_leaves_exactly_the_new_entry(
    exchange: FakeExchange, endpoint: str, others: list[str]
) -> None:
    """What the engine does with delete_before_replace: delete the old, then create the new."""
    organization(exchange).allowed = list(others)
    made = provider()
    newer = "eeeeeeee-0000-4111-8222-333333333333"
    outs = made.create(props(endpoint, change=True)).outs or {}
    diff = made.diff(f"{TENANT}/{OURS}", outs, props(endpoint, newer, change=True))
    assert (diff.replaces, diff.delete_before_replace) == (["appId"], True)
    made.delete(f"{TENANT}/{OURS}", outs)
    made.create(props(endpoint, newer, change=True))
    assert organization(exchange).allowed == [*others, newer]
    assert organization(exchange).ews_enabled is True


def test_a_throttled_write_without_retry_after_backs_off_and_says_how_often(
    exchange: FakeExchange, endpoint: str
) -> None:
    exchange.retry_after = ""  # no usable Retry-After: 2 s, doubled each time
    exchange.throttled["Set-OrganizationConfig"] = 100
    made = provider()
    with pytest.raises(ExchangeError, match=r"HTTP 429\) after 5 attempts; run `pulumi up`"):
        made.create(props(endpoint))
    assert made.waits == [2.0, 4.0, 8.0, 16.0]  # type: ignore[attr-defined]
    assert organization(exchange).allowed == OTHERS


def test_a_read_without_value_or_without_ews_enabled_is_a_broken_answer(
    exchange: FakeExchange, endpoint: str
) -> None:
    """For a read, no objects must be said (`value: []`): a refresh would take a missing one
    for an object deleted outside Pulumi, and a missing switch for an unset one."""
    client = ExchangeAdminClient(endpoint, TENANT, Tokens())
    exchange.answer = "no-value"
    with pytest.raises(ExchangeError, match="the answer of a read has no `value`"):
        client.invoke("Get-ManagementScope")
    exchange.answer = "normal"
    exchange.drop_fields = {"EwsEnabled"}
    with pytest.raises(ExchangeError, match="no boolean EwsEnabled"):
        provider().create(props(endpoint))
    assert exchange.writes() == []


def test_one_token_per_tenant_and_the_headers_the_module_sends(
    exchange: FakeExchange, endpoint: str
) -> None:
    tokens = Tokens()
    provider(tokens=tokens).create(props(endpoint))
    assert tokens.asked == 1
    headers = exchange.calls[0].headers
    assert headers["x-anchormailbox"] == (
        "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@" + TENANT
    )
    assert headers["x-cmdletname"] == "Get-OrganizationConfig"
    assert headers["prefer"] == "odata.maxpagesize=1000"


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (401, ["token was rejected", "Exchange.ManageAsApp"]),
        (403, ["HTTP 403", "Exchange.ManageAsApp", "Organization Configuration"]),
        (500, ["HTTP 500", "Get-OrganizationConfig could not be run"]),
    ],
)
def test_refusals_name_the_tenant_and_the_rights(
    exchange: FakeExchange, endpoint: str, status: int, words: list[str]
) -> None:
    exchange.statuses["Get-OrganizationConfig"] = status
    with pytest.raises(ExchangeError) as raised:
        provider().create(props(endpoint))
    message = str(raised.value)
    assert f"tenant {TENANT}" in message
    assert all(word in message for word in words), message
    assert TOKEN not in message
    assert exchange.writes() == []


def test_a_wrong_token_is_rejected_with_the_fix(exchange: FakeExchange, endpoint: str) -> None:
    with pytest.raises(ExchangeError, match=f"az login --tenant {TENANT}"):
        provider(tokens=Tokens("someone-elses-token")).create(props(endpoint))


def test_throttling_is_retried_after_retry_after(exchange: FakeExchange, endpoint: str) -> None:
    exchange.throttle = 2
    made = provider()
    made.create(props(endpoint))
    assert made.waits == [7.0, 7.0]  # type: ignore[attr-defined]
    assert organization(exchange).allowed == [*OTHERS, OURS]


def test_throttled_out_is_one_clear_error(exchange: FakeExchange, endpoint: str) -> None:
    exchange.throttle = 100
    with pytest.raises(ExchangeError, match=f"tenant {TENANT}.*HTTP 429.*again later"):
        provider().create(props(endpoint))
    assert exchange.writes() == []


def test_retry_after_beyond_the_budget_stops_at_once(exchange: FakeExchange, endpoint: str) -> None:
    exchange.throttle, exchange.retry_after = 1, "3600"
    made = provider()
    with pytest.raises(ExchangeError, match="HTTP 429"):
        made.create(props(endpoint))
    assert made.waits == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("answer", "words"),
    [("oversized", "larger than"), ("invalid", "not valid JSON"), ("redirect", "redirect")],
)
def test_hostile_answers_give_one_clear_error(
    exchange: FakeExchange, endpoint: str, answer: Any, words: str
) -> None:
    exchange.answer = answer
    with pytest.raises(ExchangeError, match=f"tenant {TENANT}.*{words}"):
        provider().create(props(endpoint))


def test_a_redirect_never_carries_the_token(exchange: FakeExchange, endpoint: str) -> None:
    elsewhere = FakeExchange()
    with serve(elsewhere) as other:
        exchange.answer, exchange.redirect_to = "redirect", f"{other}/adminapi/beta/x/InvokeCommand"
        with pytest.raises(ExchangeError):
            provider().create(props(endpoint))
    assert elsewhere.calls == []


def test_a_next_link_elsewhere_is_refused(exchange: FakeExchange, endpoint: str) -> None:
    elsewhere = FakeExchange()
    with serve(elsewhere) as other:
        organization(exchange).service_principals = [{"AppId": OURS}, {"AppId": OTHERS[0]}]
        exchange.page_size, exchange.base = 1, other  # the fake now links to another port
        client = ExchangeAdminClient(endpoint, TENANT, Tokens())
        with pytest.raises(ExchangeError, match="refused a nextLink outside"):
            client.invoke("Get-ServicePrincipal")
    assert elsewhere.calls == []


def test_pages_are_all_read(exchange: FakeExchange, endpoint: str) -> None:
    organization(exchange).service_principals = [{"AppId": str(n)} for n in range(5)]
    exchange.page_size = 2
    client = ExchangeAdminClient(endpoint, TENANT, Tokens())
    assert [sp["AppId"] for sp in client.invoke("Get-ServicePrincipal")] == list("01234")
    assert client.sent == 3


def test_a_trickling_answer_stops_at_the_deadline(exchange: FakeExchange, endpoint: str) -> None:
    exchange.answer = "trickle"  # 20 pieces, 0.1 s apart
    with pytest.raises(ExchangeError, match="deadline"):
        provider(Limits(deadline=0.5)).create(props(endpoint))


def test_the_token_is_in_no_repr_and_not_in_the_state(endpoint: str) -> None:
    client = ExchangeAdminClient(endpoint, TENANT, Tokens())
    client.invoke("Get-OrganizationConfig")
    assert TOKEN not in repr(client)
    blob = base64.b64decode(serialize_provider(EwsAccessProvider()))
    assert b"association.exchange_online.ews_access" in blob  # pickled by reference
    assert TOKEN.encode() not in blob
    restored = dill.loads(blob)
    assert type(restored) is EwsAccessProvider
    assert restored.connect is None
    assert vars(restored) == {"connect": None}


def test_check_names_every_wrong_input_and_spares_unknowns() -> None:
    news = {
        "tenantId": "contoso",
        "appId": UNKNOWN,
        "endpoint": "http://example.com",
        "authority": "",
    }
    failures = EwsAccessProvider().check({}, news).failures
    assert sorted(f.property for f in failures) == ["authority", "endpoint", "tenantId"]


@pytest.mark.parametrize(
    ("value", "attempt", "seconds"),
    [
        ("7", 0, 7.0),
        ("-3", 0, 0.0),
        ("Wed, 02 Dec 2026 12:00:30 GMT", 0, 30.0),
        ("Wed, 02 Dec 2026 11:59:00 GMT", 0, 0.0),
        ("soon", 2, 8.0),
        (None, 0, 2.0),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(value: object, attempt: int, seconds: float) -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert retry_after_seconds(value, attempt, 2.0, now) == seconds


def test_a_fresh_interpreter_in_the_project_directory_loads_the_provider() -> None:
    """What `python -m pulumi.dynamic` does in `get_provider`, started where the CLI starts it."""
    blob = serialize_provider(EwsAccessProvider())
    load = (
        "import base64, sys, dill; p = dill.loads(base64.b64decode(sys.argv[1])); "
        "print(type(p).__module__, type(p).__name__, vars(p))"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", load, blob], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.split(" ", 2)[:2] == [
        "association.exchange_online.ews_access",
        "EwsAccessProvider",
    ]
    assert done.stdout.strip().endswith("{'connect': None}")
