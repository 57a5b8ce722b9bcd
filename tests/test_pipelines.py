"""The CI pipelines keep the promises a schema cannot check.

check-jsonschema says the GitHub Actions and Azure DevOps YAML is well formed; these
tests say it does the right thing: the triggers, one deployment at a time per stack,
the exact Pulumi commands, OIDC-only authentication, and the changed-stacks logic that
feeds the matrices. Everything runs offline: git only on a throwaway local repository,
and Pulumi replaced by a fake executable.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GITHUB_DIR = ROOT / ".github" / "workflows"
ADO_DIR = ROOT / "pipelines"
SCRIPTS_DIR = ROOT / "scripts"
PIPELINES = ("pull-request", "deploy", "drift")
PLATFORMS = ("github", "ado")


def _load_script(name: str, path: Path) -> ModuleType:
    """Import a script whose file name is not a valid module name."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


changed_stacks = _load_script("changed_stacks", SCRIPTS_DIR / "changed-stacks.py")


# --- reading the pipelines -------------------------------------------------------


def load(platform: str, name: str) -> dict[Any, Any]:
    """Parse one pipeline file; its top level must be a mapping."""
    folder = GITHUB_DIR if platform == "github" else ADO_DIR
    document = yaml.safe_load((folder / f"{name}.yml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def gh_on(workflow: dict[Any, Any]) -> dict[str, Any]:
    """Return the triggers; YAML 1.1 (PyYAML) reads the bare key `on` as True."""
    triggers = workflow["on"] if "on" in workflow else workflow[True]
    assert isinstance(triggers, dict)
    return triggers


def gh_jobs(workflow: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    jobs = workflow["jobs"]
    assert isinstance(jobs, dict)
    return jobs


def gh_scripts(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job.get("steps", []) if "run" in step]


def ado_jobs(pipeline: dict[Any, Any]) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any]]]:
    """Yield (stage or None, job) for a pipeline with or without stages."""
    for stage in pipeline.get("stages", []):
        for job in stage.get("jobs", []):
            yield stage, job
    for job in pipeline.get("jobs", []):
        yield None, job


def ado_script(step: dict[str, Any]) -> str | None:
    """The shell a step runs: a bash/script step, or an AzureCLI@2 inline script."""
    if "bash" in step:
        return str(step["bash"])
    if "script" in step:
        return str(step["script"])
    inline = step.get("inputs", {}).get("inlineScript")
    return None if inline is None else str(inline)


def scripts(platform: str, name: str) -> list[str]:
    document = load(platform, name)
    if platform == "github":
        return [run for job in gh_jobs(document).values() for run in gh_scripts(job)]
    found = []
    for _, job in ado_jobs(document):
        for step in job.get("steps", []):
            script = ado_script(step)
            if script is not None:
                found.append(script)
    return found


SEPARATOR = re.compile(r"\s*(?:\|\||&&|\||;)\s*")


def pulumi_calls(script: str) -> list[list[str]]:
    """Every `pulumi ...` command line in a shell script, split into words.

    Backslash continuations are joined; only segments that start with `pulumi` count,
    so an `echo "pulumi up"` heading is not mistaken for a command.
    """
    calls = []
    for line in script.replace("\\\n", " ").splitlines():
        for segment in SEPARATOR.split(line.strip()):
            if segment.startswith("pulumi "):
                calls.append(shlex.split(segment))
    return calls


def calls_of(platform: str, name: str, subcommand: str) -> list[list[str]]:
    return [
        call
        for script in scripts(platform, name)
        for call in pulumi_calls(script)
        if call[1] == subcommand
    ]


def has_option(call: list[str], option: str, value: str | None = None) -> bool:
    if value is None:
        return option in call
    return any(a == option and b == value for a, b in itertools.pairwise(call))


def test_pulumi_calls_parser_sees_through_continuations_and_pipes() -> None:
    script = 'echo "pulumi up"\npulumi up --yes \\\n  --policy-pack policy 2>&1 | tee up.txt\n'
    assert pulumi_calls(script) == [
        ["pulumi", "up", "--yes", "--policy-pack", "policy", "2>&1"],
    ]


# --- triggers ---------------------------------------------------------------------


def test_github_pull_request_workflow_runs_on_pull_requests_to_main() -> None:
    triggers = gh_on(load("github", "pull-request"))
    assert triggers["pull_request"]["branches"] == ["main"]
    assert set(triggers) == {"pull_request"}


def test_github_deploy_workflow_runs_on_pushes_to_main() -> None:
    triggers = gh_on(load("github", "deploy"))
    assert triggers["push"]["branches"] == ["main"]
    assert "pull_request" not in triggers
    assert "pull_request_target" not in triggers


def test_github_drift_workflow_is_scheduled_and_manual() -> None:
    triggers = gh_on(load("github", "drift"))
    assert "workflow_dispatch" in triggers
    crons = [entry["cron"] for entry in triggers["schedule"]]
    assert crons
    assert all(len(cron.split()) == 5 for cron in crons)


def test_ado_triggers() -> None:
    pull_request = load("ado", "pull-request")
    assert pull_request["trigger"] == "none"
    assert pull_request["pr"]["branches"]["include"] == ["main"]

    deploy = load("ado", "deploy")
    assert deploy["trigger"]["branches"]["include"] == ["main"]
    assert deploy["pr"] == "none"

    drift = load("ado", "drift")
    assert drift["trigger"] == "none"
    assert drift["pr"] == "none"
    (schedule,) = drift["schedules"]
    assert len(schedule["cron"].split()) == 5
    assert schedule["branches"]["include"] == ["main"]
    # Drift happens in the tenants: the schedule must fire without new commits.
    assert str(schedule["always"]).lower() == "true"


# --- one deployment at a time per stack --------------------------------------------


def test_github_deploy_is_serialised_per_stack() -> None:
    workflow = load("github", "deploy")
    up_jobs = [
        job
        for job in gh_jobs(workflow).values()
        if any(call[1] == "up" for run in gh_scripts(job) for call in pulumi_calls(run))
    ]
    assert len(up_jobs) == 1
    (job,) = up_jobs
    assert "${{ matrix.stack }}" in job["concurrency"]["group"]
    assert job["concurrency"]["cancel-in-progress"] is False
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.plan.outputs.stacks) }}"
    assert job["strategy"]["fail-fast"] is False
    # A workflow-wide group would serialise (or cancel) across stacks.
    assert "concurrency" not in workflow


def test_ado_deploy_is_serialised_by_a_sequential_stage_lock() -> None:
    pipeline = load("ado", "deploy")
    assert pipeline.get("lockBehavior") != "runLatest"
    stages_with_up = {
        stage["stage"]
        for stage, job in ado_jobs(pipeline)
        if stage is not None
        for step in job.get("steps", [])
        if any(call[1] == "up" for call in pulumi_calls(ado_script(step) or ""))
    }
    assert stages_with_up == {"Deploy"}
    (deploy_stage,) = (s for s in pipeline["stages"] if s["stage"] == "Deploy")
    assert deploy_stage["lockBehavior"] == "sequential"


# --- the Pulumi commands -----------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_deploy_runs_pulumi_up_yes_with_the_policy_pack(platform: str) -> None:
    ups = calls_of(platform, "deploy", "up")
    assert ups
    for call in ups:
        assert has_option(call, "--yes")
        assert has_option(call, "--policy-pack", "policy")
        assert has_option(call, "--stack", "$STACK_REF")
    assert not calls_of(platform, "deploy", "destroy")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pull_request_previews_with_diff_and_the_policy_pack(platform: str) -> None:
    previews = calls_of(platform, "pull-request", "preview")
    assert previews
    for call in previews:
        assert has_option(call, "--diff")
        assert has_option(call, "--policy-pack", "policy")
    assert not calls_of(platform, "pull-request", "up")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_drift_previews_with_refresh_into_json_and_keeps_it_on_failure(platform: str) -> None:
    (drift_script,) = [s for s in scripts(platform, "drift") if "pulumi preview" in s]
    (call,) = pulumi_calls(drift_script)
    assert has_option(call, "--refresh")
    assert has_option(call, "--json")
    redirect = call.index(">")
    assert call[redirect + 1].endswith("preview.json")
    # `set +e` first, so a failing preview neither stops the script nor loses the file.
    assert drift_script.index("set +e") < drift_script.index("pulumi preview")
    report = re.search(r"-m association drift (\S+)", drift_script)
    assert report is not None
    assert report.group(1).strip("\"'").endswith("preview.json")
    # Exit 3 (drift) and exit 1 (failure) end up with different labels and exit codes.
    assert re.search(r"0:3\)\s*outcome=drift", drift_script)
    assert "outcome=error" in drift_script
    assert "exit 3" in drift_script
    assert "exit 1" in drift_script
    for name in PIPELINES:
        assert not calls_of(platform, name, "destroy")
    assert not calls_of(platform, "drift", "up")


def test_results_are_written_to_the_run_summary() -> None:
    for name in PIPELINES:
        gh = [s for s in scripts("github", name) if "pulumi " in s and "source " in s]
        assert gh
        assert all('"$GITHUB_STEP_SUMMARY"' in s for s in gh), name
        ado = [s for s in scripts("ado", name) if "source scripts/pulumi-stack-env.sh" in s]
        assert ado
        assert all("##vso[task.uploadsummary]" in s for s in ado), name


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name", ["pull-request", "deploy"])
def test_policy_pack_gets_its_own_virtualenv_before_it_is_used(platform: str, name: str) -> None:
    text = "\n".join(scripts(platform, name))
    assert "python -m venv policy/venv" in text
    assert "policy/venv/bin/pip install -r policy/requirements.txt" in text


# --- authentication: OIDC only --------------------------------------------------------

FORBIDDEN = ("client-secret", "arm_client_secret", "azure_client_secret", "serviceprincipalkey")


def pipeline_files() -> list[Path]:
    candidates = [*GITHUB_DIR.glob("*.yml"), *ADO_DIR.glob("*.yml"), *SCRIPTS_DIR.iterdir()]
    return sorted(path for path in candidates if path.is_file())


def secret_words(text: str) -> list[str]:
    """The client-secret spellings found in a text, case-insensitively."""
    lowered = text.lower()
    return [word for word in FORBIDDEN if word in lowered]


def test_there_are_six_pipeline_files() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in pipeline_files()}
    for name in PIPELINES:
        assert f".github/workflows/{name}.yml" in names
        assert f"pipelines/{name}.yml" in names


@pytest.mark.parametrize("path", pipeline_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_client_secret_anywhere(path: Path) -> None:
    assert secret_words(path.read_text(encoding="utf-8")) == []


def test_secret_scan_can_fail() -> None:
    step = "with:\n  client-secret: x\nenv:\n  ARM_CLIENT_SECRET: y\n  servicePrincipalKey: z\n"
    assert secret_words(step) == ["client-secret", "arm_client_secret", "serviceprincipalkey"]


@pytest.mark.parametrize("name", PIPELINES)
def test_github_jobs_that_authenticate_get_an_oidc_token(name: str) -> None:
    workflow = load("github", name)
    assert workflow["permissions"] == {"contents": "read"}
    authenticating = 0
    for job_name, job in gh_jobs(workflow).items():
        uses = [step.get("uses", "") for step in job.get("steps", [])]
        runs_pulumi = any(pulumi_calls(run) for run in gh_scripts(job))
        logs_in = any(u.startswith("azure/login@") for u in uses)
        if not (runs_pulumi or logs_in):
            assert "id-token" not in job.get("permissions", {}), job_name
            continue
        authenticating += 1
        assert job["permissions"]["id-token"] == "write", job_name
        assert job["env"]["ARM_USE_OIDC"] == "true", job_name
        # Unreviewed pull-request code never runs as the deploy identity.
        expected = (
            "vars.AZURE_PREVIEW_CLIENT_ID" if name == "pull-request" else "vars.AZURE_CLIENT_ID"
        )
        assert expected in job["env"]["ARM_CLIENT_ID"], job_name
        if name == "pull-request":
            assert "vars.AZURE_CLIENT_ID" not in str(job), job_name
        for step in job["steps"]:
            if step.get("uses", "").startswith("azure/login@"):
                assert step["uses"] == "azure/login@v2"
                assert set(step["with"]) == {"client-id", "tenant-id", "allow-no-subscriptions"}
                assert step["with"]["allow-no-subscriptions"] is True
    assert authenticating == 1


@pytest.mark.parametrize("name", PIPELINES)
def test_ado_pulumi_runs_inside_azure_cli_with_workload_identity(name: str) -> None:
    pipeline = load("ado", name)
    tasks = 0
    for _, job in ado_jobs(pipeline):
        for step in job.get("steps", []):
            script = ado_script(step) or ""
            if not any(call[1] in {"preview", "up"} for call in pulumi_calls(script)):
                continue
            tasks += 1
            assert step["task"] == "AzureCLI@2"
            assert step["inputs"]["azureSubscription"].startswith("${{ parameters.")
            assert step["inputs"]["addSpnToEnvironment"] is True
            env = step["env"]
            assert env["ARM_USE_OIDC"] == "true"
            assert env["SYSTEM_ACCESSTOKEN"] == "$(System.AccessToken)"
            assert env["SYSTEM_OIDCREQUESTURI"] == "$(System.OidcRequestUri)"
            assert "ARM_OIDC_TOKEN" not in env
            assert 'ARM_CLIENT_ID="$servicePrincipalId"' in script
            assert (
                'ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID="$AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"'
                in script
            )
            assert "source scripts/pulumi-stack-env.sh" in script
    assert tasks == 1


# --- matrices ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", PIPELINES)
def test_github_matrix_comes_from_the_changed_stacks_script(name: str) -> None:
    jobs = gh_jobs(load("github", name))
    plan_runs = "\n".join(gh_scripts(jobs["plan"]))
    assert "scripts/changed-stacks.py" in plan_runs
    expected_flag = "--all" if name == "drift" else "--base"
    assert expected_flag in plan_runs
    matrix_jobs = [job for job in jobs.values() if "strategy" in job]
    assert len(matrix_jobs) == 1
    assert matrix_jobs[0]["if"] == "needs.plan.outputs.stacks != '[]'"


@pytest.mark.parametrize("name", PIPELINES)
def test_ado_matrix_comes_from_the_changed_stacks_script(name: str) -> None:
    pipeline = load("ado", name)
    jobs = {job["job"]: job for _, job in ado_jobs(pipeline)}
    plan_steps = [s for s in jobs["Plan"]["steps"] if s.get("name") == "changed"]
    assert len(plan_steps) == 1
    assert "--format ado" in plan_steps[0]["bash"]
    matrix_jobs = [job for job in jobs.values() if "strategy" in job]
    assert len(matrix_jobs) == 1
    assert (
        matrix_jobs[0]["strategy"]["matrix"] == "$[ dependencies.Plan.outputs['changed.matrix'] ]"
    )
    assert "dependencies.Plan.outputs['changed.count']" in matrix_jobs[0]["condition"]


# --- scripts/changed-stacks.py --------------------------------------------------------

STACKS = ["contoso", "fabrikam", "northwind"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("Pulumi.contoso.yaml", "contoso"),
        ("Pulumi.acme.prod.yaml", "acme.prod"),
        ("Pulumi.yaml", changed_stacks.ALL),
        ("__main__.py", changed_stacks.ALL),
        ("requirements.txt", changed_stacks.ALL),
        ("association/component.py", changed_stacks.ALL),
        ("certs/mimecast.cer", changed_stacks.ALL),
        ("policy/__main__.py", changed_stacks.ALL),
        (".github/workflows/deploy.yml", changed_stacks.ALL),
        ("pipelines/deploy.yml", changed_stacks.ALL),
        ("scripts/changed-stacks.py", changed_stacks.ALL),
        ("README.md", None),
        ("docs/setup.md", None),
        ("association/NOTES.md", None),
        ("tests/test_component.py", None),
        ("tests/Pulumi.fake.yaml", None),
        (".ci/run", None),
        ("pyproject.toml", None),
        ("requirements-dev.txt", None),
        (".github/CODEOWNERS", None),
        ("LICENSE", None),
        ("Makefile", changed_stacks.ALL),
        ("setup.cfg", changed_stacks.ALL),
    ],
)
def test_classify(path: str, expected: str | None) -> None:
    assert changed_stacks.classify(path) == expected


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ([], []),
        (["README.md", "tests/test_x.py"], []),
        (["Pulumi.fabrikam.yaml"], ["fabrikam"]),
        (["Pulumi.northwind.yaml", "Pulumi.contoso.yaml", "README.md"], ["contoso", "northwind"]),
        (["association/component.py"], STACKS),
        (["Pulumi.contoso.yaml", "certs/mimecast.cer"], STACKS),
        (["Pulumi.gone.yaml"], []),
        (["something-new.cfg"], STACKS),
    ],
)
def test_touched_stacks(changed: list[str], expected: list[str]) -> None:
    stacks, reasons = changed_stacks.touched_stacks(changed, STACKS)
    assert stacks == expected
    assert len(reasons) == sum(changed_stacks.classify(p) is not None for p in changed)


def test_deleted_stack_file_is_reported_not_deployed() -> None:
    stacks, reasons = changed_stacks.touched_stacks(["Pulumi.gone.yaml"], STACKS)
    assert stacks == []
    assert reasons == ["no stack: Pulumi.gone.yaml was deleted, its stack is not deployed"]


def test_discover_stacks_reads_only_root_stack_files(tmp_path: Path) -> None:
    names = ("Pulumi.yaml", "Pulumi.b.yaml", "Pulumi.a.yaml", "Pulumi.c.yml", "README.md")
    for name in (*names, "Pulumi.example.yaml"):
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    (tmp_path / "Pulumi.dir.yaml").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Pulumi.nested.yaml").write_text("x\n", encoding="utf-8")
    assert changed_stacks.discover_stacks(tmp_path) == ["a", "b"]  # never the example stack


def test_pipelines_preflight_every_stack_but_the_example() -> None:
    files = [*(ROOT / ".github/workflows").glob("*.yml"), *(ROOT / "pipelines").glob("*.yml")]
    commands = [
        line.strip()
        for file in files
        for line in file.read_text().splitlines()
        if "-m association preflight" in line
    ]
    assert len(commands) == 4
    assert all("--exclude example" in command for command in commands)


def test_ado_matrix_leg_names_are_valid_and_unique() -> None:
    matrix = changed_stacks.ado_matrix(["acme-prod", "acme.prod", "9lives", "plain"])
    assert matrix == {
        "acme_prod": {"stack": "acme-prod"},
        "acme_prod_2": {"stack": "acme.prod"},
        "stack_9lives": {"stack": "9lives"},
        "plain": {"stack": "plain"},
    }
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", leg) for leg in matrix)


def test_render_is_one_line_json() -> None:
    assert changed_stacks.render(["a", "b"], "json") == '["a","b"]'
    assert changed_stacks.render([], "json") == "[]"
    assert changed_stacks.render(["a-b"], "ado") == '{"a_b":{"stack":"a-b"}}'
    assert changed_stacks.render([], "ado") == "{}"


def git(repo: Path, *args: str) -> str:
    """Run git in a throwaway repository, isolated from the user's configuration."""
    result = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
         "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=repo, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1"},
    )  # fmt: skip
    return result.stdout.strip()


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
    assert run_main(repo, capsys, "--base", base, "--head", head, "--format", "ado") == {
        "contoso": {"stack": "contoso"}
    }


def test_main_touches_no_stack_for_docs_only(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = git(repo, "rev-parse", "HEAD")
    head = commit(repo, {"README.md": "more\n", "tests/test_a.py": "x = 1\n"}, "docs")
    assert run_main(repo, capsys, "--base", base, "--head", head) == []


@pytest.mark.parametrize("base", ["", "0" * 40, "1234567890abcdef1234567890abcdef12345678"])
def test_main_falls_back_to_every_stack_when_base_is_unusable(
    repo: Path, capsys: pytest.CaptureFixture[str], base: str
) -> None:
    assert run_main(repo, capsys, "--base", base) == ["contoso", "fabrikam"]


def test_main_all(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(repo, capsys, "--all") == ["contoso", "fabrikam"]
    assert run_main(repo, capsys, "--all", "--format", "ado") == {
        "contoso": {"stack": "contoso"},
        "fabrikam": {"stack": "fabrikam"},
    }


# --- scripts/pulumi-stack-env.sh ------------------------------------------------------

FAKE_PULUMI = """#!/bin/bash
echo "$*" >> "$FAKE_LOG"
case "$1 $2" in
  "config get") [ -n "${FAKE_TENANT:-}" ] && echo "$FAKE_TENANT" || exit 1 ;;
  "stack select") exit "${FAKE_SELECT_RC:-0}" ;;
esac
exit 0
"""

TENANT = "11111111-2222-3333-4444-555555555555"


def source_helper(
    tmp_path: Path, *, guarded: bool = False, **env: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Source the helper for stack "contoso" against a fake pulumi; return result and log.

    guarded sources it as `if ! source ...`, as the drift jobs do: bash then ignores
    `set -e` inside the helper, so every failure must return explicitly.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "pulumi"
    fake.write_text(FAKE_PULUMI, encoding="utf-8")
    fake.chmod(0o755)
    (tmp_path / "Pulumi.contoso.yaml").write_text("config: {}\n", encoding="utf-8")
    log = tmp_path / "pulumi.log"
    base_env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_LOG": str(log),
        "ARM_USE_OIDC": "true",
        "ARM_CLIENT_ID": "client",
    }
    helper = shlex.quote(str(SCRIPTS_DIR / "pulumi-stack-env.sh"))
    source = (
        f"if ! source {helper} contoso; then exit 7; fi" if guarded else f"source {helper} contoso"
    )
    command = (
        f"set -euo pipefail; {source};"
        ' printf "%s|%s|%s\\n" "$STACK_REF" "$ARM_TENANT_ID" "${PULUMI_ACCESS_TOKEN-unset}"'
    )
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,
        env={**base_env, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    return result, log.read_text(encoding="utf-8") if log.exists() else ""


def test_helper_logs_in_to_azure_blob_and_drops_ado_placeholders(tmp_path: Path) -> None:
    result, log = source_helper(
        tmp_path,
        PULUMI_BACKEND_URL="azblob://state",
        AZURE_STORAGE_ACCOUNT="acct",
        PULUMI_ACCESS_TOKEN="$(PULUMI_ACCESS_TOKEN)",
        PULUMI_CONFIG_PASSPHRASE="$(PULUMI_CONFIG_PASSPHRASE)",
        FAKE_TENANT=TENANT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"contoso|{TENANT}|unset"
    assert log.splitlines() == [
        "login --non-interactive azblob://state",
        "stack select --non-interactive contoso",
        "config get --stack contoso azuread:tenantId",
    ]


def test_helper_uses_pulumi_cloud_and_the_org(tmp_path: Path) -> None:
    result, log = source_helper(
        tmp_path, PULUMI_ACCESS_TOKEN="pul-token", PULUMI_ORG="acme", FAKE_TENANT=TENANT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"acme/contoso|{TENANT}|pul-token"
    assert log.splitlines()[0] == "login --non-interactive https://api.pulumi.com"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAKE_TENANT": ""}, "has no azuread:tenantId"),
        ({"FAKE_SELECT_RC": "1"}, "pulumi stack init"),
        ({"PULUMI_BACKEND_URL": "azblob://state"}, "storage_account"),
        ({"PULUMI_BACKEND_URL": "s3://bucket"}, "unsupported"),
        ({"PULUMI_ACCESS_TOKEN": ""}, "PULUMI_ACCESS_TOKEN is empty"),
        ({"ARM_USE_OIDC": "false"}, "OIDC"),
        ({"ARM_CLIENT_ID": ""}, "client ID"),
        ({"ARM_CLIENT_ID": "$(ARM_CLIENT_ID)"}, "client ID"),
    ],
)
@pytest.mark.parametrize("guarded", [False, True], ids=["errexit", "if-not-source"])
def test_helper_refuses_to_continue(
    tmp_path: Path, env: dict[str, str], message: str, guarded: bool
) -> None:
    result, _ = source_helper(
        tmp_path, guarded=guarded, **{"PULUMI_ACCESS_TOKEN": "t", "FAKE_TENANT": TENANT, **env}
    )
    assert result.returncode == (7 if guarded else 1)
    assert message in result.stderr
    assert result.stdout == ""
