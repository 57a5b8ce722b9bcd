"""Preflight for a fleet: one line per stack, the notices every stack shares once, a summary."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from certfactory import NOW, make_certificate, pem
from tenant import OTHER_TENANT, TENANT, copy_program

from association.certificates import rfc3339
from association.ews import ews_notices
from association.exchange_setting import ExchangeSetting, exchange_notices
from association.problems import Notice, Problem
from association_tools.preflight.cli import main
from association_tools.preflight.fleet_view import render_markdown
from association_tools.preflight.render import render_json, render_text
from association_tools.preflight.report import CertificateReport, StackReport
from association_tools.preflight.summary import FLEET_WIDE_CODES, summarize

OWNER = "aaaaaaaa-0000-0000-0000-000000000001"
SHARED = (
    *exchange_notices(ExchangeSetting(), "mimecast-association:exchange", NOW),
    *ews_notices(NOW, False, "mimecast-association:allowAfterEwsShutdown"),
)
"""The notices every unmanaged stack gets until 2027-04-01, as the program words them."""


def cert(days_left: int) -> CertificateReport:
    not_after = rfc3339(NOW + timedelta(days=days_left))
    return CertificateReport(
        "certificates[0]", "AB" * 20, "q98=", "k", "CN=x", "", not_after, days_left
    )


def fleet_of_300() -> list[StackReport]:
    """290 stacks whose only warnings are the shared ones, 10 certificates expiring in 19
    days, 2 stacks with errors and one without owners: the 300-tenant fleet of issue 19."""
    reports = []
    for index in range(300):
        stack = f"tenant-{index:04d}"
        warnings: tuple[Notice, ...] = SHARED
        errors: tuple[Problem, ...] = ()
        days = 300 + index
        if index % 30 == 7:
            days = 19
            warnings += (Notice("certificate-expiry", "certificates[0]", f"expires ({days} d)"),)
        if index in (5, 250):
            errors = (Problem("owners-required", "owners", "owners is not set in the file."),)
        reports.append(
            StackReport(stack, f"Pulumi.{stack}.yaml", TENANT, errors, warnings, (), (cert(days),))
        )
    return reports


def test_300_stacks_are_one_line_each_and_the_shared_notices_once() -> None:
    reports = fleet_of_300()
    text = render_text(reports, NOW, detailed=set())
    lines = text.splitlines()

    assert len(lines) < 320  # was about 60 lines a stack: 17,843 for 300
    rows = re.findall(r"(?m)^  (errors|warnings|ok) +(tenant-\d{4})  (.*)$", text)
    assert len(rows) == 300
    assert len({stack for _, stack, _ in rows}) == 300
    for code in ("ews-retirement", "ews-allow-list-manual"):
        assert sum(code in line for line in lines) == 1
        assert f"  warning  {code} (all 300 stacks): " in text
    # Errors first, then the ten expiring certificates, then the 288 with nothing of their own.
    assert [stack for status, stack, _ in rows[:2]] == ["tenant-0005", "tenant-0250"]
    assert {status for status, _, _ in rows[:2]} == {"errors"}
    assert rows[0][2].endswith("owners-required: owners is not set in the file.")
    expiring = rows[2:12]
    assert {status for status, _, _ in expiring} == {"warnings"}
    for *_, rest in expiring:
        assert re.fullmatch(
            r"expires \S+ \(19 days left\) +certificate-expiry: expires \(19 d\)", rest
        )
    assert {status for status, _, _ in rows[12:]} == {"ok"}
    assert lines[1] == (
        "300 stacks checked: 2 with errors, 10 with warnings, 288 ok (besides the notices "
        "every stack shares, listed once). Errors in: tenant-0005, tenant-0250."
    )
    assert "== " not in text  # no stack named: no plans


def test_the_json_starts_with_the_summary() -> None:
    reports = fleet_of_300()
    document = json.loads(render_json(reports, NOW))

    assert next(iter(document)) == "summary"
    summary = document["summary"]
    assert summary["stacks"] == 300
    assert summary["counts"] == {"errors": 2, "warnings": 298, "ok": 0}  # as stacks[].status
    assert summary["countsBesidesFleetWide"] == {"errors": 2, "warnings": 10, "ok": 288}
    assert [(n["code"], n["stacks"]) for n in summary["fleetWide"]] == [
        ("ews-allow-list-manual", 300),
        ("ews-retirement", 300),
    ]
    soonest = summary["soonestExpiries"]
    assert len(soonest) == 10
    assert {entry["daysLeft"] for entry in soonest} == {19}
    assert set(soonest[0]) == {"stack", "thumbprint", "notAfter", "daysLeft"}
    # Each stack's report is as before, every warning included.
    assert len(document["stacks"][0]["warnings"]) == 2


def test_own_status_tells_a_stacks_own_warnings_from_the_fleet_notices() -> None:
    """`jq '.stacks[] | select(.ownStatus != "ok")'` finds the 12 stacks to act on; `status`
    keeps counting the shared notices, so a filter written against it means what it meant."""
    document = json.loads(render_json(fleet_of_300(), NOW))
    stacks = document["stacks"]

    to_act_on = [s["stack"] for s in stacks if s["ownStatus"] != "ok"]
    assert len(to_act_on) == 12
    assert {s["stack"] for s in stacks if s["ownStatus"] == "errors"} == {
        "tenant-0005",
        "tenant-0250",
    }
    assert [s["stack"] for s in stacks if s["status"] != "ok"] == [s["stack"] for s in stacks]
    healthy = next(s for s in stacks if s["stack"] == "tenant-0000")
    assert (healthy["status"], healthy["ownStatus"]) == ("warnings", "ok")
    assert list(healthy)[-2:] == ["status", "ownStatus"]
    # The summary's counts are the two statuses, counted.
    for key, counts in (("status", "counts"), ("ownStatus", "countsBesidesFleetWide")):
        tally = {name: sum(s[key] == name for s in stacks) for name in ("errors", "warnings", "ok")}
        assert tally == document["summary"][counts]
    # A stack's own warnings: those whose code the summary does not list as fleet-wide.
    fleet = {notice["code"] for notice in document["summary"]["fleetWide"]}
    own = {w["code"] for s in stacks for w in s["warnings"] if w["code"] not in fleet}
    assert own == {"certificate-expiry"}


def test_markdown_is_one_escaped_row_per_stack() -> None:
    hostile = Problem("certificate-expired", None, "a | b <img src=x> `code` [l](http://x)\nnext")
    reports = [
        *fleet_of_300()[:3],
        StackReport("evil", "Pulumi.evil.yaml", OTHER_TENANT, errors=(hostile,)),
    ]
    markdown = render_markdown(summarize(reports), reports, NOW)
    lines = markdown.splitlines()
    rows = [line for line in lines if line.startswith("| `")]

    assert len(rows) == 4
    assert rows[0] == (
        "| `evil` | ❌ errors | no certificate | `certificate-expired`: a \\| b \\<img src=x\\> "
        "\\`code\\` \\[l\\](http\\://x)\\\\nnext |"
    )
    # Every row has its four cells: no value opened a fifth.
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 5 for row in rows)
    assert sum("ews-retirement" in line for line in lines) == 1


# --- the real command -------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy_program(tmp_path)
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "current.pem").write_bytes(pem(make_certificate("Current", serial=1)))
    soon = make_certificate("Soon", NOW - timedelta(days=300), NOW + timedelta(days=19), serial=2)
    (tmp_path / "certs" / "soon.pem").write_bytes(pem(soon))
    for stack, tenant, cert_file in (
        ("contoso", TENANT, "current"),
        ("contoso-again", TENANT, "current"),
        ("fabrikam", OTHER_TENANT, "soon"),
        ("litware", "33333333-2222-3333-4444-555555555555", "current"),
    ):
        config: dict[str, Any] = {
            "azuread:tenantId": tenant,
            "mimecast-association:certificates": [f"certs/{cert_file}.pem"],
            "mimecast-association:owners": [OWNER],
        }
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> tuple[int, str]:
    status = main(["--project-dir", str(project), "--now", rfc3339(NOW), *args])
    return status, capsys.readouterr().out


def test_the_fleet_view_of_real_stacks(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(capsys, project, "--markdown", str(project / "summary.md"))
    rows = re.findall(r"(?m)^  (errors|warnings|ok) +(\S+)  (.*)$", out)

    assert status == 0
    assert [(status, stack) for status, stack, _ in rows] == [
        ("warnings", "fabrikam"),  # its own warning: the certificate expires in 19 days
        ("warnings", "contoso"),  # both name one tenant: a warning on both, naming both
        ("warnings", "contoso-again"),
        ("ok", "litware"),
    ]
    assert re.search(r"\(19 days left\) +certificate-expiry: ", rows[0][2])
    for _, _, rest in rows[1:3]:
        assert "tenant-shared: Stacks contoso, contoso-again all manage tenant" in rest
    assert "== " not in out
    markdown = (project / "summary.md").read_text("utf-8")
    assert len([line for line in markdown.splitlines() if line.startswith("| `")]) == 4
    # The fleet-wide codes are what the program really says on every stack.
    _, document = run(capsys, project, "--json", "-")
    codes = {n["code"] for n in json.loads(document)["summary"]["fleetWide"]}
    assert codes == {"ews-allow-list-manual", "ews-retirement"} <= FLEET_WIDE_CODES


def test_named_stacks_and_plan_show_the_blocks(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, named = run(capsys, project, "litware")
    _, every = run(capsys, project, "--plan")

    assert re.findall(r"(?m)^== (\S+):", named) == ["litware"]
    assert re.findall(r"(?m)^== (\S+):", every) == [
        "fabrikam",
        "contoso",
        "contoso-again",
        "litware",
    ]
    assert "exchangeOnline.ewsAllowList  (Exchange Online PowerShell)" in named
    assert sum("ews-retirement" in line for line in every.splitlines()) == 1


def test_the_example_says_what_it_finds_first(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--project-dir", str(Path(__file__).parent.parent), "example"])
    lines = capsys.readouterr().out.splitlines()

    assert status == 1
    assert lines[1].startswith("1 stack checked: 1 with errors, 0 with warnings, 0 ok")
    (row,) = [line for line in lines if line.startswith("  errors    example  ")]
    assert re.search(r"  tenant-placeholder: .* \(also: certificate-expired\)$", row)
    assert any(line.startswith("== example: ERRORS (Pulumi.example.yaml") for line in lines)
