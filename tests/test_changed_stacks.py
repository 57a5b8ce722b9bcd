"""scripts/changed-stacks.py: which stacks (tenants) a git change touches.

The pipelines preview and deploy exactly these stacks, so a path classified wrongly
either leaves a tenant behind or deploys one for nothing. git runs only on a throwaway
local repository.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from association_tools.project import STACK_NAME
from tests.fake_pulumi import git, load_script

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "changed-stacks.py"


changed_stacks = load_script("changed_stacks", SCRIPT)
ALL = changed_stacks.ALL
CANARY = changed_stacks.CANARY
STACKS = ["contoso", "fabrikam", "northwind"]


# --- one path ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # A stack file touches its own stack.
        ("Pulumi.contoso.yaml", "contoso"),
        ("Pulumi.acme.prod.yaml", "acme.prod"),
        # What `pulumi up` loads touches every stack.
        ("Pulumi.yaml", ALL),
        ("__main__.py", ALL),
        ("requirements.txt", ALL),
        ("association/component.py", ALL),
        ("certs/mimecast.cer", ALL),
        ("policy/__main__.py", ALL),
        ("policy/requirements.txt", ALL),
        # What `pulumi up` never loads touches none.
        ("association_tools/cli.py", None),
        ("association_tools/drift/report.py", None),
        # What runs Pulumi in CI touches the canary stacks.
        ("scripts/changed-stacks.py", CANARY),
        ("scripts/pulumi-stack-env.sh", CANARY),
        ("pipelines/deploy.yml", CANARY),
        (".github/workflows/deploy.yml", CANARY),
        (".github/CODEOWNERS", CANARY),
        ("scripts/README.md", None),
        ("benchmarks/bench_preflight.py", None),
        ("tests/test_component.py", None),
        ("tests/Pulumi.fake.yaml", None),
        ("docs/setup.txt", None),
        (".ci/run", None),
        ("README.md", None),
        ("association/NOTES.md", None),
        ("pyproject.toml", None),
        ("requirements-dev.txt", None),
        ("LICENSE", None),
        # Anything unknown touches every stack, even when its name looks like a known one.
        ("Makefile", ALL),
        ("setup.cfg", ALL),
        ("association_tools.py", ALL),
        ("scripts", ALL),
    ],
)
def test_classify(path: str, expected: str | None) -> None:
    assert changed_stacks.classify(path) == expected


# --- a set of paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ([], []),
        (["README.md", "tests/test_x.py"], []),
        (["association_tools/cli.py", "tests/x.py", ".ci/run"], []),
        (["pipelines/deploy.yml", "scripts/x.py"], ["contoso"]),  # the canary only
        (["Pulumi.fabrikam.yaml"], ["fabrikam"]),
        (["Pulumi.northwind.yaml", "Pulumi.contoso.yaml", "README.md"], ["contoso", "northwind"]),
        (["association/component.py"], STACKS),
        (["Pulumi.contoso.yaml", "certs/mimecast.cer"], STACKS),
        (["Pulumi.gone.yaml"], []),
        (["something-new.cfg"], STACKS),
    ],
)
def test_touched_stacks(changed: list[str], expected: list[str]) -> None:
    stacks, reasons = changed_stacks.touched_stacks(changed, STACKS, ["contoso", "gone"])
    assert stacks == expected
    assert len(reasons) == sum(changed_stacks.classify(p) is not None for p in changed)


def test_a_stack_file_that_is_gone_is_never_deployed() -> None:
    # main() refuses an unexplained deletion first (see below); a retired one ends here.
    stacks, reasons = changed_stacks.touched_stacks(["Pulumi.gone.yaml"], STACKS)
    assert stacks == []
    assert reasons == ["no stack: Pulumi.gone.yaml is gone (retired or renamed), nothing to deploy"]


@pytest.mark.parametrize(
    "name",
    [
        "Pulumi.a b.yaml",
        "Pulumi.$(id).yaml",
        "Pulumi.a;b.yaml",
        # A newline in the name: `^...$` with match() would let the first one through, and
        # `.` without DOTALL would skip the second silently instead of refusing it.
        "Pulumi.ok\n.yaml",
        "Pulumi.a\nb.yaml",
    ],
)
def test_discover_stacks_refuses_names_pulumi_would_refuse(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("x\n", encoding="utf-8")
    with pytest.raises(changed_stacks.StackFileError, match="letters, digits"):
        changed_stacks.discover_stacks(tmp_path)


def test_a_path_with_a_trailing_newline_is_not_that_stacks_file() -> None:
    assert changed_stacks.classify("Pulumi.ok.yaml\n") == ALL  # not stack "ok": unknown
    assert changed_stacks.classify("Pulumi.ok\n.yaml") == "ok\n"  # no such stack
    assert changed_stacks.touched_stacks(["Pulumi.contoso\n.yaml"], STACKS)[0] == []


def test_discover_stacks_reads_only_root_stack_files(tmp_path: Path) -> None:
    names = ("Pulumi.yaml", "Pulumi.b.yaml", "Pulumi.a.yaml", "Pulumi.c.yml", "README.md")
    for name in (*names, "Pulumi.example.yaml"):
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    (tmp_path / "Pulumi.dir.yaml").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Pulumi.nested.yaml").write_text("x\n", encoding="utf-8")
    assert changed_stacks.discover_stacks(tmp_path) == ["a", "b"]  # never the example stack


# --- output --------------------------------------------------------------------------


def test_render_is_one_line_json() -> None:
    assert changed_stacks.render(["a", "b"]) == '["a","b"]'
    assert changed_stacks.render([]) == "[]"


# --- main() against a real git history ---------------------------------------------------


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, content in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    commit(
        tmp_path,
        {
            "Pulumi.yaml": "name: mimecast-association\n",
            "Pulumi.contoso.yaml": "config: {}\n",
            "Pulumi.fabrikam.yaml": "config: {}\n",
            "README.md": "# readme\n",
        },
        "initial",
    )
    return tmp_path


def run_main(repo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert changed_stacks.main([*args, "--root", str(repo)]) == 0
    return json.loads(capsys.readouterr().out)


def test_main_diffs_the_branch_against_its_merge_base(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    head = commit(repo, {"Pulumi.contoso.yaml": "config: {a: 1}\n", "README.md": "x\n"}, "pr")
    git(repo, "checkout", "-q", "main")
    # main moves on after the branch point: its changes are not the pull request's.
    main_tip = commit(repo, {"association/x.py": "x = 1\n"}, "on main")
    git(repo, "checkout", "-q", "feature")
    assert run_main(repo, capsys, "--base", main_tip, "--head", head) == ["contoso"]
    assert run_main(repo, capsys, "--base", base, "--head", head) == ["contoso"]


def test_main_touches_no_stack_for_tools_ci_and_docs(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = git(repo, "rev-parse", "HEAD")
    head = commit(
        repo,
        {
            "README.md": "more\n",
            "tests/test_a.py": "x = 1\n",
            "association_tools/cli.py": "x = 1\n",
        },
        "no product change",
    )
    assert run_main(repo, capsys, "--base", base, "--head", head) == []


def test_a_change_to_the_ci_scripts_previews_the_canary_stacks(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {"Pulumi.northwind.yaml": "config: {}\n"}, "a third stack")
    head = commit(repo, {"scripts/fleet.sh": "x\n", "pipelines/deploy.yml": "y\n"}, "ci")
    # Default: the first two stacks, sorted (a fixed set, whatever the change).
    assert run_main(repo, capsys, "--base", f"{head}~1", "--head", head) == ["contoso", "fabrikam"]
    chosen = run_main(repo, capsys, "--base", f"{head}~1", "--head", head, "--canary", "northwind")
    assert chosen == ["northwind"]
    # With the stack file's own change, the canary adds to it.
    both = run_main(repo, capsys, "--base", base, "--head", head, "--canary", "fabrikam")
    assert both == ["fabrikam", "northwind"]


def test_stack_name_copy_matches_the_product() -> None:
    assert changed_stacks.STACK_NAME.pattern == STACK_NAME.pattern


@pytest.mark.parametrize("base", ["", "0" * 40, "1234567890abcdef1234567890abcdef12345678"])
def test_main_falls_back_to_every_stack_when_base_is_unusable(
    repo: Path, capsys: pytest.CaptureFixture[str], base: str
) -> None:
    assert run_main(repo, capsys, "--base", base) == ["contoso", "fabrikam"]


def test_main_all(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(repo, capsys, "--all") == ["contoso", "fabrikam"]


def run_main_fails(repo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run main() expecting exit 1 with nothing on stdout; return stderr."""
    assert changed_stacks.main([*args, "--root", str(repo)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


TENANT = "11111111-2222-3333-4444-555555555555"


def test_two_dot_selects_what_a_force_pushed_rollback_rolls_back(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = git(repo, "rev-parse", "HEAD")
    deployed = commit(repo, {"Pulumi.contoso.yaml": "config: {a: 2}\n"}, "change contoso")
    # main is force-pushed back to `old`; the last deploy was `deployed`.
    assert run_main(repo, capsys, "--base", deployed, "--head", old, "--two-dot") == ["contoso"]
    # From the merge base (what a pull request compares) the rollback changes nothing.
    assert run_main(repo, capsys, "--base", deployed, "--head", old) == []


def test_deploy_base_retries_what_failed_since_the_last_successful_deploy(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    last_success = git(repo, "rev-parse", "HEAD")
    commit(repo, {"Pulumi.contoso.yaml": "config: {a: 2}\n"}, "push 1: its deploy failed")
    head = commit(repo, {"Pulumi.fabrikam.yaml": "config: {b: 2}\n"}, "push 2")
    chosen = run_main(repo, capsys, "--base", last_success, "--head", head, "--two-dot")
    assert chosen == ["contoso", "fabrikam"]


def test_a_deleted_stack_file_is_an_error_naming_the_app_and_the_runbook(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = commit(repo, {"Pulumi.contoso.yaml": f"config:\n  azuread:tenantId: {TENANT}\n"}, "t")
    git(repo, "rm", "-q", "Pulumi.contoso.yaml")
    git(repo, "commit", "-q", "-m", "drop contoso")
    for extra in ((), ("--two-dot",)):
        err = run_main_fails(repo, capsys, "--base", base, "--head", "HEAD", *extra)
        assert "Pulumi.contoso.yaml was deleted" in err
        assert f"tenant {TENANT}" in err
        assert "full_access_as_app" in err
        assert "scripts/tenant.py retire contoso" in err
        assert "Retired-Stack: contoso" in err
        assert f"git checkout {base} -- Pulumi.contoso.yaml" in err


def test_a_retired_stack_is_acknowledged_by_its_commit_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "rm", "-q", "Pulumi.contoso.yaml")
    git(repo, "commit", "-q", "-m", "Retire contoso\n\nRetired-Stack: contoso")
    head = commit(repo, {"Pulumi.fabrikam.yaml": "config: {b: 2}\n"}, "and something else")
    assert run_main(repo, capsys, "--base", base, "--head", head, "--two-dot") == ["fabrikam"]
    # The line names one stack: another deletion in the same range is still an error.
    git(repo, "rm", "-q", "Pulumi.fabrikam.yaml")
    git(repo, "commit", "-q", "-m", "oops")
    assert "Pulumi.fabrikam.yaml was deleted" in run_main_fails(
        repo, capsys, "--base", base, "--head", "HEAD", "--two-dot"
    )


def test_a_renamed_stack_file_is_an_error_with_the_fix(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "mv", "Pulumi.contoso.yaml", "Pulumi.contoso-eu.yaml")
    git(repo, "commit", "-q", "-m", "rename")
    err = run_main_fails(repo, capsys, "--base", base, "--head", "HEAD", "--two-dot")
    assert "Pulumi.contoso.yaml was renamed to Pulumi.contoso-eu.yaml" in err
    assert "git mv Pulumi.contoso-eu.yaml Pulumi.contoso.yaml" in err
    assert "pulumi stack rename contoso-eu --stack contoso" in err
    assert "Renamed-Stack: contoso -> contoso-eu" in err


def test_a_stack_renamed_with_pulumi_is_deployed_under_its_new_name(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "mv", "Pulumi.contoso.yaml", "Pulumi.contoso-eu.yaml")
    git(repo, "commit", "-q", "-m", "Rename contoso\n\nRenamed-Stack: contoso -> contoso-eu")
    assert run_main(repo, capsys, "--base", base, "--head", "HEAD", "--two-dot") == ["contoso-eu"]


def test_each_stack_is_compared_from_its_own_deployed_commit(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    first = git(repo, "rev-parse", "HEAD")
    second = commit(repo, {"Pulumi.contoso.yaml": "config: {a: 2}\n"}, "contoso")
    head = commit(repo, {"README.md": "docs\n"}, "docs")
    record = tmp_path_factory.mktemp("record") / "bases.json"
    # fabrikam was last deployed at `first`, contoso at `second`: nothing since for either.
    bases = {"schemaVersion": 1, "commits": {first: ["fabrikam"], second: ["contoso"]}}
    record.write_text(json.dumps(bases), "utf-8")
    args = ("--head", head, "--two-dot", "--bases", str(record))
    assert run_main(repo, capsys, *args) == []
    # contoso's deploy failed (the record keeps it at `first`): it alone is selected.
    bases["commits"] = {first: ["contoso", "fabrikam"]}
    record.write_text(json.dumps(bases), "utf-8")
    assert run_main(repo, capsys, *args) == ["contoso"]
    # A stack the record does not name starts from --base (none: every such stack).
    bases["commits"] = {head: ["contoso"]}
    record.write_text(json.dumps(bases), "utf-8")
    assert run_main(repo, capsys, *args) == ["fabrikam"]
    assert run_main(repo, capsys, *args, "--base", first) == []
    record.write_text("{}", "utf-8")
    assert "is no deploy record" in run_main_fails(repo, capsys, *args)
