"""The drift report: `python -m association drift PREVIEW.json ...`.

Fixtures under tests/fixtures/preview/ are laid out as `pulumi preview --json` prints them
(ShowPreviewDigest, pkg/backend/display/json.go): one per scenario, stack named after a sample
tenant. With `--refresh` every resource in the state first has a `refresh` step whose old and
new state are the state as stored; the program's steps follow, their old state the refreshed
one. Default providers' steps are internal, so no fixture shows them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from association.problems import Problem, refusal_text
from association.text import visible
from association_tools.cli import EXIT_CLEAN, EXIT_FAILED, EXIT_USAGE
from association_tools.cli import EXIT_FOUND as EXIT_DRIFT
from association_tools.drift import cli
from association_tools.drift.classify import NOT_REFRESHED, POLICY_HINT, StackDrift
from association_tools.drift.classify import classify as classify_preview
from association_tools.drift.errors import (
    CORRUPT_MESSAGE,
    diagnostic_error,
    error_kind,
    is_refusal,
    refusal_items,
)
from association_tools.drift.preview import (
    STEP_OPS,
    PreviewFormatError,
    PropertyChange,
    load_preview,
    urn_stack,
)
from association_tools.drift.render import describe, render_markdown, to_json
from association_tools.drift.resources import PROGRAM_OPERATIONS, RefreshFinding
from association_tools.escape import md_code, md_fence, md_text

REPO = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "preview"

ALL_OPS = (
    "same",
    "create",
    "update",
    "delete",
    "replace",
    "create-replacement",
    "delete-replaced",
    "read",
    "read-replacement",
    "refresh",
    "discard",
    "discard-replaced",
    "remove-pending-replace",
    "import",
    "import-replacement",
)
"""Pulumi's `display.StepOp` values that a preview can show."""

BASE = "urn:pulumi:contoso::mimecast-association::"
ROOT = BASE + "pulumi:pulumi:Stack::mimecast-association-contoso"
CHILD = BASE + "mimecast:index:Association$azuread:index/"
APP = CHILD + "application:Application::mimecast"
ARA = CHILD + "appRoleAssignment:AppRoleAssignment::mimecast-full-access-as-app"


def fixture(name: str) -> Path:
    return FIXTURES / name


def load(name: str) -> StackDrift:
    """Classify a fixture the way the command does."""
    path = fixture(name)
    preview = load_preview(path.read_bytes(), str(path))
    return classify_preview(preview, urn_stack(preview) or path.stem, source=str(path))


def step(op: str, urn: str = APP, /, **fields: Any) -> dict[str, Any]:
    return {"op": op, "urn": urn, **fields, "detailedDiff": fields.get("detailedDiff")}


def document(*steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A preview whose first step is the root stack's `same`, as Pulumi always prints it."""
    return {"config": {}, "steps": [step("same", ROOT), *steps], **fields}


def classify(doc: dict[str, Any]) -> StackDrift:
    return classify_preview(load_preview(json.dumps(doc).encode(), "test.json"), "contoso")


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = cli.main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


# --- step ops ------------------------------------------------------------------------------


def test_fixtures_and_the_module_cover_every_step_op() -> None:
    seen = {
        item["op"]
        for path in FIXTURES.glob("*.json")
        if path.name != "truncated.json"
        for item in json.loads(path.read_text(encoding="utf-8"))["steps"]
    }
    assert seen == set(ALL_OPS)
    assert set(PROGRAM_OPERATIONS) == STEP_OPS == set(ALL_OPS)


@pytest.mark.parametrize(
    ("op", "operation"),
    [
        ("same", None),
        ("read", None),
        ("read-replacement", None),
        ("discard", None),
        ("discard-replaced", None),
        ("refresh", None),
        ("create", "create"),
        ("import", "create"),
        ("update", "update"),
        ("delete", "delete"),
        ("remove-pending-replace", "delete"),
        ("replace", "replace"),
        ("create-replacement", "replace"),
        ("delete-replaced", "replace"),
        ("import-replacement", "replace"),
    ],
)
def test_each_step_op_is_drift_or_not(op: str, operation: str | None) -> None:
    result = classify(document(step(op)))

    if operation is None:
        assert (result.status, result.resources) == ("no-change", ())
    else:
        assert result.status == "drift"
        assert [(r.name, r.operation, r.steps, r.refresh) for r in result.resources] == [
            ("mimecast", operation, (op,), None)
        ]


def test_an_op_the_report_does_not_know_fails_the_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "contoso.json"
    path.write_text(json.dumps(document(step("diff"))), encoding="utf-8")

    code, out, _ = run(capsys, path)

    assert code == EXIT_FAILED
    assert out.splitlines()[0] == (
        f"contoso: error (other) - {path} is not a `pulumi preview --json` document: "
        "steps[1].op 'diff' is not a step op this report knows"
    )


def test_root_stack_steps_are_not_drift() -> None:
    outputs = {"detailedDiff": {"outputs.clientId": {"kind": "update", "inputDiff": False}}}
    result = classify({"steps": [step("update", ROOT, **outputs)]})

    assert (result.status, result.resources) == ("no-change", ())


# --- scenarios -----------------------------------------------------------------------------


def test_clean_stack_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, fixture("no-change-refresh.json"))

    assert code == EXIT_CLEAN
    assert out == "adatum: no-change - no changes\n1 stack: 1 no-change\n"
    assert err == ""


def test_refresh_steps_alone_are_no_change() -> None:
    result = load("no-change-refresh.json")

    assert (result.stack, result.status, result.resources) == ("adatum", "no-change", ())
    assert (result.refreshed, result.note) == (True, None)


def test_a_preview_without_refresh_says_it_cannot_see_outside_changes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, fixture("no-change.json"))

    assert code == EXIT_CLEAN
    assert out.splitlines()[:2] == [
        "contoso: no-change - no changes (not refreshed)",
        f"  {NOT_REFRESHED.message}",
    ]
    assert load("first-deploy.json").note is None  # a new stack has nothing to refresh


def test_refreshed_preview_tells_outside_changes_from_the_programs() -> None:
    result = load("drift-refresh.json")

    assert result.status == "drift"
    app, service_principal, consent = result.resources
    assert (app.name, app.type, app.steps, app.operation) == (
        "mimecast",
        "azuread:index/application:Application",
        ("refresh", "update"),
        "update",
    )
    # What the refresh read differs from the stored state: changed outside Pulumi.
    assert app.refresh == RefreshFinding(
        "update",
        (
            PropertyChange("owners", "update"),
            PropertyChange("requiredResourceAccesses", "update"),
        ),
    )
    assert app.properties == (
        PropertyChange("owners[1]", "delete"),
        PropertyChange("requiredResourceAccesses[1]", "delete"),
    )
    # The refresh read it as stored: the update is the program's (a change not yet deployed).
    assert (service_principal.type, service_principal.operation, service_principal.refresh) == (
        "azuread:index/servicePrincipal:ServicePrincipal",
        "update",
        None,
    )
    # In the state before the refresh, and `pulumi up` creates it: deleted outside Pulumi.
    assert (consent.name, consent.steps, consent.refresh, consent.operation) == (
        "mimecast-full-access-as-app",
        ("refresh", "create"),
        RefreshFinding("delete"),
        "create",
    )
    assert [resource.code for resource in result.resources] == [
        "changed-outside-pulumi",
        "program-change",
        "deleted-outside-pulumi",
    ]
    assert describe(result) == (
        "3 resources; outside Pulumi: 1 changed, 1 deleted; pulumi up: 2 update, 1 create"
    )


def test_a_refresh_step_alone_is_not_drift() -> None:
    """Its old and new state are the state as stored: it carries no finding of its own."""
    state = {"urn": APP, "outputs": {"owners": ["a"]}}
    result = classify(document(step("refresh", oldState=state, newState=state)))

    assert (result.status, result.resources, result.refreshed) == ("no-change", (), True)


def test_a_create_without_a_refresh_step_is_the_programs() -> None:
    (cert,) = classify(document(step("refresh"), step("create", ARA))).resources

    assert (cert.operation, cert.refresh) == ("create", None)


def test_program_changes_without_refresh(capsys: pytest.CaptureFixture[str]) -> None:
    result = load("drift-program.json")

    assert [(r.name, r.operation, r.properties) for r in result.resources] == [
        ("mimecast", "update", (PropertyChange("displayName", "update"),)),
        ("mimecast-cert-5f0c2a9e71b3d846", "create", ()),
        ("mimecast-cert-d4df4464b05ea92f", "delete", ()),
    ]
    code, out, _ = run(capsys, fixture("drift-program.json"))
    assert code == EXIT_DRIFT
    assert out.splitlines()[0] == (
        "northwind: drift - 3 resources; pulumi up: 1 update, 1 create, 1 delete"
    )


def test_replacement_steps_count_as_one_replace() -> None:
    result = load("replacement-steps.json")

    (cert,) = result.resources
    assert (cert.name, cert.operation, cert.steps, cert.properties) == (
        "mimecast-cert-d4df4464b05ea92f",
        "replace",
        ("delete-replaced", "replace", "create-replacement"),
        (PropertyChange("endDate", "update-replace"),),
    )
    assert result.change_summary == {"replace": 1, "same": 5}


def test_input_diffs_are_kept() -> None:
    notes = {"detailedDiff": {"notes": {"kind": "update", "inputDiff": True}}}
    result = classify(document(step("update", **notes)))

    assert result.resources[0].properties == (PropertyChange("notes", "update", True),)
    assert json.loads(to_json([result]))["stacks"][0]["resources"][0]["properties"] == [
        {"path": "notes", "kind": "update", "inputDiff": True}
    ]


def test_diff_reasons_stand_in_for_a_missing_detailed_diff() -> None:
    reasons = {"diffReasons": ["notes", "value"], "replaceReasons": ["value"]}
    (cert,) = classify(document(step("replace", **reasons))).resources

    assert cert.properties == (
        PropertyChange("notes", "update"),
        PropertyChange("value", "update-replace"),
    )


def test_reads_are_not_drift_but_imports_and_pending_replacements_are() -> None:
    result = load("rare-ops.json")

    assert [(r.type, r.operation, r.steps) for r in result.resources] == [
        ("azuread:index/application:Application", "create", ("import",)),
        (
            "azuread:index/servicePrincipal:ServicePrincipal",
            "replace",
            ("replace", "import-replacement", "delete-replaced"),
        ),
        (
            "azuread:index/applicationCertificate:ApplicationCertificate",
            "delete",
            ("remove-pending-replace",),
        ),
    ]
    markdown = render_markdown([result])
    assert "| create (import) |" in markdown
    assert "| delete (remove-pending-replace) |" in markdown
    assert "office-365-exchange-online" not in markdown


def test_first_deployment_lists_everything_but_the_root_stack() -> None:
    result = load("first-deploy.json")

    assert result.status == "drift"
    assert {r.operation for r in result.resources} == {"create"}
    assert [r.type for r in result.resources] == [
        "mimecast:index:Association",
        "azuread:index/application:Application",
        "azuread:index/applicationCertificate:ApplicationCertificate",
        "azuread:index/servicePrincipal:ServicePrincipal",
        "azuread:index/appRoleAssignment:AppRoleAssignment",
    ]


# --- errors --------------------------------------------------------------------------------


def test_authentication_failure(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, fixture("auth-error.json"))

    assert code == EXIT_FAILED
    invoke = "azuread:index/getClientConfig:getClientConfig"
    assert out.splitlines() == [
        f"woodgrove: error (authentication) - Exception: invoke of {invoke} failed: invocation of "
        f"{invoke} returned an error: building client: unable to obtain access token: running "
        "Azure CLI: exit status 1: ERROR: Please run 'az login' to setup account.",
        "1 stack: 1 error",
    ]
    table_row = render_markdown([load("auth-error.json")]).splitlines()[4]
    assert table_row == (
        "| `woodgrove` | ❌ error (authentication) | …returned an error: building client: unable "
        "to obtain access token: running Azure CLI: exit status 1: ERROR: Please run 'az login' "
        "to setup account. |"
    )


def test_policy_pack_failure_is_a_policy_violation() -> None:
    result = load("policy-pack-error.json")

    assert (result.status, result.error_kind) == ("error", "policy violation")
    assert describe(result) == (
        "failed to run policy: rpc error: code = Unavailable desc = error reading from server: EOF"
    )


def test_bare_preview_failure_points_at_policy_without_claiming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = load("policy-violation.json")

    assert (result.status, result.error_kind, result.note) == ("error", "other", POLICY_HINT)
    assert [error.code for error in result.errors] == ["preview-failed"]
    assert [r.operation for r in result.resources] == ["update"]
    _, out, _ = run(capsys, fixture("policy-violation.json"))
    assert out.splitlines()[:2] == [
        "fourthcoffee: error (other) - preview failed",
        f"  {POLICY_HINT.message}",
    ]


def test_program_refusal_is_other() -> None:
    result = load("program-refusal.json")

    assert (result.stack, result.error_kind) == ("proseware", "other")
    assert [error.code for error in result.errors] == ["program-refused"]
    assert describe(result).startswith("1. ")  # the problem, not the refusal's heading


@pytest.mark.parametrize(
    ("message", "kind", "code"),
    [
        (
            "error: AADSTS700213: No matching federated identity record found for presented "
            "assertion subject 'repo:contoso/infra:environment:fabrikam'.",
            "authentication",
            "authentication-failed",
        ),
        (
            "error: unexpected status 403 (403 Forbidden) with error: Authorization_RequestDenied:"
            " Insufficient privileges to complete the operation.",
            "authentication",
            "authentication-failed",
        ),
        (
            "error: unexpected status 401 (401 Unauthorized) with error: InvalidAuthenticationToken"
            ": Access token has expired or is not yet valid.",
            "authentication",
            "authentication-failed",
        ),
        (
            "error: ClientSecretCredential authentication failed",
            "authentication",
            "authentication-failed",
        ),
        ("error: failed to run policy: analyzer crashed", "policy violation", "policy-failed"),
        (
            "error: could not load policy pack mimecast-association-guardrails",
            "policy violation",
            "policy-failed",
        ),
        (
            "    [mandatory]  no-client-secrets  (Application: mimecast)",
            "policy violation",
            "policy-failed",
        ),
        (
            "error: azuread:index/applicationCertificate:ApplicationCertificate resource "
            "'mimecast-cert-4031a0d4f4464b05' has a problem: keyCredentials: certificate 401 "
            "days past notAfter",
            "other",
            "preview-error",
        ),
        ("error: preview failed", "other", "preview-failed"),
    ],
)
def test_error_kind_patterns(message: str, kind: str, code: str) -> None:
    assert error_kind(message) == kind
    assert diagnostic_error(message).code == code


def test_the_refusal_is_read_as_the_program_writes_it() -> None:
    """The reader lives with the drift report, the writer with the program: pinned here."""
    problems = [
        Problem("certificate-expired", "mimecast-association:certificates[0]", "cert expired"),
        Problem("no-exchange-online", None, "Tenant 7c1d0be2 has no Exchange Online"),
    ]
    text = refusal_text("contoso-org/fabrikam", problems)
    message = f"error: {text}\n"

    assert refusal_items(message) == [
        "1. cert expired",
        "2. Tenant 7c1d0be2 has no Exchange Online",
    ]
    assert is_refusal(message)
    assert diagnostic_error(message).code == "program-refused"
    assert not is_refusal("error: stack 'x' was not deployed")


def test_authentication_wins_over_policy_and_other() -> None:
    errors = [
        {"message": "error: preview failed\n", "severity": "error"},
        {"message": "error: failed to run policy: boom\n", "severity": "error"},
        {"message": "error: AADSTS7000222: The provided client secret keys are expired.\n"},
    ]
    errors[2]["severity"] = "error"
    result = classify(document(diagnostics=errors))

    assert [error.kind for error in result.errors] == [
        "other",
        "policy violation",
        "authentication",
    ]
    assert result.error_kind == "authentication"
    assert describe(result) == (
        "AADSTS7000222: The provided client secret keys are expired. (+1 more)"
    )


def test_warnings_and_info_do_not_fail_a_stack() -> None:
    notes = [
        {"message": "warning: certificate expires soon\n", "severity": "warning"},
        {"message": "error: logged to stderr\n", "severity": "info#err"},
    ]

    assert classify(document(diagnostics=notes)).status == "no-change"


def test_maybe_corrupt_fails_the_stack() -> None:
    result = classify(document(maybeCorrupt=True))

    assert (result.status, result.maybe_corrupt) == ("error", True)
    assert [(error.code, error.message) for error in result.errors] == [
        ("maybe-corrupt", CORRUPT_MESSAGE)
    ]
    assert json.loads(to_json([result]))["stacks"][0]["maybeCorrupt"] is True


def test_a_preview_without_steps_never_ran() -> None:
    result = classify({"config": {"azuread:tenantId": "7c1d01e2"}})

    assert result.status == "error"
    assert [error.code for error in result.errors] == ["preview-never-ran"]


def test_invalid_json_fails_that_stack_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, fixture("no-change.json"), fixture("truncated.json"))

    assert code == EXIT_FAILED
    lines = out.splitlines()
    # The failed stack first, then the clean one (and its note).
    assert lines[0].startswith(
        f"truncated: error (other) - {fixture('truncated.json')} is not valid JSON: Unterminated"
    )
    assert lines[1] == "contoso: no-change - no changes (not refreshed)"
    assert lines[3] == "2 stacks: 1 no-change, 1 error"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"[]", "not a `pulumi preview --json` document: expected a JSON object, found a list"),
        (b'{"stacks": []}', "it has none of the keys config, steps, diagnostics, changeSummary"),
        (b'{"steps": {}}', "steps is an object, not a list"),
        (b'{"steps": [{"op": "same"}]}', "steps[0].urn is null, not a string"),
        (b'{"steps": [{"op": "same", "urn": "contoso::app"}]}', "is not a Pulumi URN"),
        (json.dumps({"steps": [step("same", ROOT[4:])]}).encode(), "is not a Pulumi URN"),
        (
            json.dumps({"steps": [step("update", detailedDiff={"password": "add"})]}).encode(),
            "steps[0].detailedDiff['password'] has no kind",
        ),
        (b'{"diagnostics": [{"message": 1}]}', "diagnostics[0].message is a number"),
        (b'{"steps": [], "maybeCorrupt": "yes"}', "maybeCorrupt is not true or false"),
        (b'{"changeSummary": {"same": "5"}}', "changeSummary is not a map of counts"),
        (b"\x80not text", "is not valid JSON"),
        (b"\n", "is empty: Pulumi stopped before the preview ran (see its error output)"),
    ],
)
def test_documents_that_are_not_previews_are_refused_by_name(data: bytes, why: str) -> None:
    with pytest.raises(PreviewFormatError) as raised:
        load_preview(data, "previews/contoso.json")

    assert str(raised.value).startswith("previews/contoso.json ")
    assert why in str(raised.value)
    assert raised.value.code == ("preview-empty" if data == b"\n" else "preview-invalid")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_windows_encodings_are_read(encoding: str) -> None:
    text = fixture("no-change.json").read_text(encoding="utf-8")

    preview = load_preview(text.encode(encoding), "contoso.json")

    assert urn_stack(preview) == "contoso"


# --- stack names ---------------------------------------------------------------------------


def test_stack_name_comes_from_the_urns_not_the_file_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "preview.json"
    shutil.copy(fixture("drift-refresh.json"), path)

    _, out, _ = run(capsys, path)

    assert out.startswith("fabrikam: drift")


def test_stack_name_from_a_diagnostic_urn() -> None:
    only_diagnostics = {"diagnostics": [{"urn": ROOT, "message": "error: x", "severity": "error"}]}

    preview = load_preview(json.dumps(only_diagnostics).encode(), "x.json")

    assert urn_stack(preview) == "contoso"


def test_stack_flag_names_a_single_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, fixture("truncated.json"), "--stack", "contoso-org/fabrikam")

    assert code == EXIT_FAILED
    assert out.startswith("contoso-org/fabrikam: error (other)")


def test_file_stem_when_the_file_has_no_urns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "woodgrove.json"
    failed = {"diagnostics": [{"message": "error: AADSTS50076: MFA required", "severity": "error"}]}
    path.write_text(json.dumps(failed), encoding="utf-8")

    _, out, _ = run(capsys, path)

    assert out.startswith("woodgrove: error (authentication) - AADSTS50076: MFA required")


# --- usage and exit codes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "code"),
    [
        (["no-change.json", "no-change-refresh.json"], EXIT_CLEAN),
        (["no-change.json", "drift-refresh.json"], EXIT_DRIFT),
        (["drift-refresh.json", "auth-error.json"], EXIT_FAILED),
        (["no-change.json", "truncated.json"], EXIT_FAILED),
    ],
)
def test_exit_codes(names: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *(fixture(name) for name in names))[0] == code


def test_stack_flag_with_several_files_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, fixture("no-change.json"), fixture("auth-error.json"), "--stack", "contoso"
    )

    assert (code, out) == (EXIT_USAGE, "")
    assert "error: --stack names one stack: give it a single PREVIEW file" in err


def test_a_stack_given_twice_is_refused_before_any_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A glob that overlaps a name would count the stack twice in the tally and the exit."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(fixture("drift-refresh.json"), "fabrikam.json")
    shutil.copy(fixture("drift-refresh.json"), "fabrikam-again.json")
    markdown = tmp_path / "summary.md"
    cases = [
        (["fabrikam.json", "fabrikam.json"], "the PREVIEW file fabrikam.json is given twice"),
        (
            ["fabrikam.json", str(tmp_path / "fabrikam.json")],
            f"fabrikam.json and {tmp_path / 'fabrikam.json'} are the same PREVIEW file",
        ),
        (
            ["fabrikam.json", "fabrikam-again.json"],
            "fabrikam.json and fabrikam-again.json both hold stack 'fabrikam': give one",
        ),
    ]
    for previews, message in cases:
        code, out, err = run(capsys, *previews, "--markdown", markdown)

        assert (code, out) == (EXIT_USAGE, "")
        assert message in err
        assert not markdown.exists()


def test_json_on_stdout_replaces_the_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, fixture("no-change.json"), "--json", "-")

    assert code == EXIT_CLEAN
    stacks = json.loads(out)["stacks"]
    assert [(s["stack"], s["note"]["code"]) for s in stacks] == [("contoso", "not-refreshed")]


def test_a_missing_file_fails_its_stack_and_the_others_are_still_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "fabrikam.json"
    markdown = tmp_path / "summary.md"

    code, out, err = run(capsys, fixture("no-change-refresh.json"), missing, "--markdown", markdown)

    assert (code, err) == (EXIT_FAILED, "")
    assert out.splitlines() == [
        f"fabrikam: error (other) - {missing} does not exist",
        "adatum: no-change - no changes",
        "2 stacks: 1 no-change, 1 error",
    ]
    assert "| `fabrikam` | ❌ error (other) |" in markdown.read_text(encoding="utf-8")


def test_unwritable_report_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-dir" / "drift.json"

    code, _, err = run(capsys, fixture("no-change.json"), "--json", target)

    assert code == EXIT_USAGE
    assert f"cannot write {target}" in err


def test_arguments_are_required_and_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == EXIT_USAGE
    assert "the following arguments are required: PREVIEW.json" in err

    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert out.startswith("usage: python -m association drift [-h]")


# --- as a process ----------------------------------------------------------------------------


def python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the interpreter of these tests in the repository, as CI runs the command."""
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=30, check=False
    )


def test_help_exits_0_from_the_command_line() -> None:
    done = python("-m", "association", "drift", "--help")

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: python -m association drift [-h]")
    assert "example:\n  pulumi preview --refresh --json --stack contoso" in done.stdout


NO_PULUMI = """
import sys
import association.__main__
import association_tools.drift.cli

association.__main__.main(["drift", sys.argv[1]])
installed = {
    name.split(".")[0] for name in sys.modules if not name.startswith(("_", "association"))
} - set(sys.stdlib_module_names)
print(sorted(installed), file=sys.stderr)
"""


def test_the_report_never_loads_the_pulumi_sdk() -> None:
    """What the drift package's docstring says it needs: the standard library and
    `cryptography` (for `association.redaction`), never the Pulumi SDK or PyYAML."""
    done = python("-c", NO_PULUMI, str(fixture("drift-refresh.json")))

    assert (done.returncode, done.stderr) == (0, "['cryptography']\n")
    assert done.stdout.startswith("fabrikam: drift")


@pytest.mark.parametrize(
    ("copies", "read"),
    [
        (600, b"w"),  # `| head -c 1`: ~160 KB of text, more than a pipe holds, so printing fails
        (1, b""),  # `| true`: a short report fits the buffers, so only the flush can fail
    ],
)
def test_a_reader_that_goes_away_ends_the_report_quietly(
    copies: int, read: bytes, tmp_path: Path
) -> None:
    """Exit 141 as a shell reports it, and no traceback."""
    text = fixture("auth-error.json").read_text(encoding="utf-8")
    command = [sys.executable, "-m", "association", "drift"]
    for number in range(copies):  # one stack each: a stack given twice is refused
        path = tmp_path / f"woodgrove{number}.json"
        path.write_text(text.replace("woodgrove", f"woodgrove{number}"), encoding="utf-8")
        command.append(str(path))
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    with subprocess.Popen(
        command, cwd=REPO, env=buffered, bufsize=0, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        stdout, stderr = child.stdout, child.stderr
        assert stdout is not None
        assert stderr is not None
        assert stdout.read(len(read)) == read  # unbuffered: these bytes and no more
        stdout.close()
        err = stderr.read()
        code = child.wait(timeout=30)

    assert (code, err) == (141, b"")


# --- reports -------------------------------------------------------------------------------


def test_markdown_and_json_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    markdown, summary = tmp_path / "summary.md", tmp_path / "drift.json"
    names = ["no-change-refresh.json", "drift-refresh.json", "auth-error.json"]

    code, out, _ = run(
        capsys, *(fixture(name) for name in names), "--markdown", markdown, "--json", summary
    )

    assert code == EXIT_FAILED
    assert out.splitlines()[-1] == "3 stacks: 1 no-change, 1 drift, 1 error"
    lines = markdown.read_text(encoding="utf-8").splitlines()
    assert lines[:6] == [
        "## Mimecast association drift report",
        "",
        "| Stack | Status | Changes |",
        "| --- | --- | --- |",
        "| `adatum` | ✅ no-change | no changes |",
        "| `fabrikam` | ⚠️ drift | 3 resources; outside Pulumi: 1 changed, 1 deleted; "
        "pulumi up: 2 update, 1 create |",
    ]
    assert lines[6].startswith("| `woodgrove` | ❌ error (authentication) | …returned an error:")
    assert "### `fabrikam`: drift" in lines
    assert "### `adatum`: no-change" not in lines
    assert (
        f"| `mimecast`<br>`{APP.replace('contoso', 'fabrikam')}` "
        "| `azuread:index/application:Application` | changed | update "
        "| refresh: `owners` (update), `requiredResourceAccesses` (update)<br>"
        "up: `owners[1]` (delete), `requiredResourceAccesses[1]` (delete) |"
    ) in lines
    assert "### `woodgrove`: error (authentication)" in lines
    assert any(line.endswith("ERROR: Please run 'az login' to setup account.") for line in lines)

    report = json.loads(summary.read_text(encoding="utf-8"))
    assert (report["schemaVersion"], report["status"], report["exitCode"]) == (2, "error", 1)
    assert [(s["stack"], s["status"], s["errorKind"]) for s in report["stacks"]] == [
        ("adatum", "no-change", None),
        ("fabrikam", "drift", None),
        ("woodgrove", "error", "authentication"),
    ]
    fabrikam = report["stacks"][1]
    assert fabrikam["source"] == str(fixture("drift-refresh.json"))
    assert fabrikam["resources"][2] == {
        "urn": ARA.replace("contoso", "fabrikam"),
        "type": "azuread:index/appRoleAssignment:AppRoleAssignment",
        "name": "mimecast-full-access-as-app",
        "operation": "create",
        "steps": ["refresh", "create"],
        "properties": [],
        "refresh": {"operation": "delete", "properties": []},
        "code": "deleted-outside-pulumi",
    }
    assert fabrikam["resources"][0]["refresh"]["properties"][0] == {
        "path": "owners",
        "kind": "update",
        "inputDiff": False,
    }
    assert fabrikam["resources"][1]["refresh"] is None
    assert (fabrikam["refreshed"], report["stacks"][0]["note"]) == (True, None)
    assert [(e["code"], e["kind"]) for e in report["stacks"][2]["errors"]] == [
        ("authentication-failed", "authentication"),
        ("preview-failed", "other"),
    ]


def test_markdown_keeps_tables_and_fences_intact() -> None:
    message = "error: bad value `a|b`\n```\nnested fence\n```"
    result = classify(document(diagnostics=[{"message": message, "severity": "error"}]))

    lines = render_markdown([result]).splitlines()

    assert lines[4] == "| `contoso` | ❌ error (other) | bad value \\`a\\|b\\` |"
    assert lines[-6:] == ["````text", *message.splitlines(), "````"]


def test_steps_that_disagree_are_reported_by_the_weightiest_operation() -> None:
    (app,) = classify(document(step("update"), step("delete"))).resources

    assert (app.operation, app.steps) == ("delete", ("update", "delete"))


# --- hostile input ---------------------------------------------------------------------------


def test_values_from_the_file_cannot_forge_lines_escape_the_terminal_or_inject_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = "evil\x1b[2J\nfabrikam: no-change"
    message = (
        "error: see <img src=x onerror=alert(1)> [here](https://evil.example) `x` www.evil.example"
    )
    path = tmp_path / "evil.json"
    urn = f"urn:pulumi:{stack}::mimecast-association::pulumi:pulumi:Stack::x"
    path.write_text(
        json.dumps(document(diagnostics=[{"urn": urn, "message": message, "severity": "error"}])),
        encoding="utf-8",
    )
    markdown = tmp_path / "summary.md"

    _, out, _ = run(capsys, path, "--stack", stack, "--markdown", markdown)

    assert "\x1b" not in out
    assert out.splitlines()[0].startswith(
        "evil\\x1b[2J\\nfabrikam: no-change: error (other) - see <img"
    )
    summary = markdown.read_text(encoding="utf-8")
    row = summary.splitlines()[4]
    assert row.startswith("| `evil\\x1b[2J\\nfabrikam: no-change` | ❌ error (other) | see \\<img")
    assert "\\[here\\](https\\://evil.example) \\`x\\` www\\.evil.example |" in row
    assert "\x1b" not in summary


@pytest.mark.parametrize(
    ("make", "why", "error_code"),
    [
        (lambda path: path.mkdir(), "is a directory, not a regular file", "preview-unreadable"),
        (os.mkfifo, "is a device, FIFO or socket, not a regular file", "preview-unreadable"),
        (
            lambda path: path.symlink_to("/dev/null"),
            "(resolves to /dev/null) is a device",
            "preview-unreadable",
        ),
        (lambda path: path.symlink_to(path), "is a symlink loop", "preview-unreadable"),
        (
            lambda path: path.write_bytes(b"[" * 10_000 + b"]" * 10_000),
            "nests arrays or objects",
            "preview-invalid",
        ),
        (
            lambda path: path.write_bytes(b" " * 100_001),
            "is larger than 100000 bytes",
            "preview-unreadable",
        ),
    ],
)
def test_each_unusable_input_is_one_error_for_its_file_only(
    make: Any, why: str, error_code: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hostile.json"
    make(path)
    small = tmp_path / "contoso.json"
    small.write_text(json.dumps(document(step("refresh", ROOT))), encoding="utf-8")

    summary = tmp_path / "drift.json"

    code, out, err = run(capsys, small, path, "--max-input-bytes", "100000", "--json", summary)

    assert (code, err) == (EXIT_FAILED, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"hostile: error (other) - {path}")
    assert why in lines[0]
    assert lines[1] == "contoso: no-change - no changes"
    assert lines[2] == "2 stacks: 1 no-change, 1 error"
    hostile = json.loads(summary.read_text(encoding="utf-8"))["stacks"][1]
    assert [error["code"] for error in hostile["errors"]] == [error_code]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("plain", "`plain`"),
        ("a`b", "``a`b``"),
        ("`x`", "`` `x` ``"),
        ("a|b\nc\x1b", "`a\\|b\\nc\\x1b`"),
    ],
)
def test_code_spans_no_backtick_can_close(text: str, code: str) -> None:
    assert md_code(text) == code


def test_markdown_text_is_inert_and_terminal_text_is_one_line() -> None:
    assert md_text("**x** <b> [l](u) http://e.x www.e.x a@b $1") == (
        "\\*\\*x\\*\\* \\<b\\> \\[l\\](u) http\\://e.x www\\.e.x a\\@b \\$1"
    )
    assert visible("a\u202eb\u2028c\td") == "a\\u202eb\\u2028c\\td"
    assert md_fence("x\n```\ny") == ["````text", "x", "```", "y", "````"]


def test_stdout_is_worst_first_and_names_each_drifted_resource(
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = ["no-change-refresh.json", "drift-refresh.json", "auth-error.json"]
    code, out, _ = run(capsys, *(fixture(name) for name in names))

    lines = out.splitlines()
    assert code == EXIT_FAILED
    assert [line.split(":")[0] for line in lines if not line.startswith(" ")] == [
        "woodgrove",  # error
        "fabrikam",  # drift
        "adatum",  # no-change
        "3 stacks",
    ]
    assert lines[2:5] == [
        "  update mimecast (azuread:index/application:Application) - changed outside Pulumi: "
        "owners, requiredResourceAccesses; pulumi up changes: owners[1] (delete), "
        "requiredResourceAccesses[1] (delete)",
        "  update mimecast (azuread:index/servicePrincipal:ServicePrincipal); pulumi up changes: "
        "notes (update)",
        "  create mimecast-full-access-as-app (azuread:index/appRoleAssignment:AppRoleAssignment)"
        " - deleted outside Pulumi",
    ]
