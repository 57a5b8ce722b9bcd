"""The README and docs/ as a newcomer meets them: every link resolves, and every command
either runs from a fresh clone or says what it needs.

The marking convention: a shell comment `# needs: Pulumi CLI` or `# needs: Azure` (or both,
`# needs: Pulumi CLI, Azure`, with any words after) at the end of a command, or as the first
line of a fenced block for all of it. Every unmarked `venv/bin/python ...` and `scripts/...`
command in a `bash`, `sh` or `shell` block is run here in a clean copy of the project (its
tracked files, a current test certificate in `certs/mimecast-2026.pem` and the README's own
`Pulumi.contoso.yaml`), offline: it must end with status 0-3 and no traceback. Any other
unmarked program (`pulumi`, `az`, PowerShell) is an error: it cannot run here.

A `python` block that names the project's code (imports `association` or `association_tools`,
or runs `-m association`) is run the same way, as a Pulumi program under the SDK's mock engine
(`association_tools.offline`, the tenant of tests/tenant.py), unless its first line is a
`# needs:` mark; either way every name it imports from the project must exist. Every fenced
block is of a language this test knows, so no other kind of block can run project code unseen.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import json_shape
import pytest
from certfactory import make_certificate, pem
from docs_pages import PAGES, ROOT, Block, anchors, blocks, links, section, tables, text
from tenant import TENANT_DIRECTORY

from association.component_args import AssociationArgs
from association_tools.preflight.cli import main as preflight_main

SHELLS = frozenset({"bash", "sh", "shell"})
PYTHON = frozenset({"python", "py", "python3"})
INERT = frozenset({"powershell", "yaml", "json", "text"})
"""Shown, never run here: PowerShell is marked like a shell; the rest are files and output."""
PROJECT_CODE = re.compile(
    r"^\s*(?:from|import)\s+association(?:_tools)?\b|-m\s+association\b", re.M
)
MARKER = re.compile(r"#\s*needs:\s*(?P<what>.*)$")
RUNNABLE = re.compile(r"^(venv/bin/python\b|scripts/)")
# Plain tools a reader has, which need neither Pulumi nor Azure and change nothing here.
PLAIN = frozenset({"cp", "git", "jq", "mkdir", "cd"})
FRESH_MACHINE = "python3 -m venv venv && venv/bin/pip install -q -r "

# The network guard of conftest.py, for the commands' own processes.
GUARD = """
import socket

def _loopback_only(real, position):
    def guarded(*args, **kwargs):
        target = args[position] if len(args) > position else None
        host = target[0] if isinstance(target, tuple) and target else target
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"a documented command opened a network connection: {args!r}")
        return real(*args, **kwargs)
    return guarded

socket.socket.connect = _loopback_only(socket.socket.connect, 1)
socket.socket.connect_ex = _loopback_only(socket.socket.connect_ex, 1)
socket.create_connection = _loopback_only(socket.create_connection, 0)
socket.getaddrinfo = _loopback_only(socket.getaddrinfo, 0)
"""


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    command: str
    needs: str | None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def commands(block: Block) -> list[Command]:
    """The commands of a shell block, continuation lines joined, each with its marker."""
    page = str(block.page.relative_to(ROOT))
    first = next((line for line in block.lines if line.strip()), "")
    whole = MARKER.match(first.strip())
    found, pending, start = [], "", 0
    for offset, line in enumerate(block.lines):
        if not pending:
            start = block.line + offset
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined, pending = (pending + line).strip(), ""
        if not joined or joined.startswith("#"):
            continue
        marker = MARKER.search(joined)
        needs = (marker.group("what") if marker else None) or (
            whole.group("what") if whole else None
        )
        found.append(Command(page, start, joined, needs))
    return found


def documented() -> list[Command]:
    return [
        command
        for page in PAGES
        for block in blocks(page)
        if block.language in SHELLS or block.language == "powershell"
        for command in commands(block)
    ]


def to_run() -> list[Command]:
    return [c for c in documented() if c.needs is None and RUNNABLE.match(c.command)]


def argv(command: str) -> list[str]:
    """The first simple command of a line (up to a pipe, redirect or `&&`), as the shell
    would split it; `<placeholders>` stay literal words, `$VARS` unexpanded."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words: list[str] = []
    for word in lexer:
        if set(word) <= set("|&;>") or word == "<":
            break
        words.append(word)
    return words


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The project as a fresh clone has it, with a current certificate and the README's
    new-app stack file, and a sitecustomize that keeps every process off the network."""
    template = tmp_path_factory.mktemp("clone") / "project"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (template / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, template / name)
    current = make_certificate(not_after=datetime.now(UTC) + timedelta(days=400))
    (template / "certs" / "mimecast-2026.pem").write_bytes(pem(current))
    (template / "Pulumi.contoso.yaml").write_text(new_app_stack_file(), encoding="utf-8")
    guard = tmp_path_factory.mktemp("guard")
    (guard / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    return template, guard


@dataclass(frozen=True)
class Ran:
    status: int
    output: str


def run(command: Command, template: Path, guard: Path, scratch: Path) -> Ran:
    where = scratch / command.id.replace("/", "_").replace(":", "_")
    shutil.copytree(template, where, symlinks=True)
    words = argv(command.command)
    if words[0] == "venv/bin/python":
        words[0] = sys.executable
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(where),
        "PYTHONPATH": str(guard),
        "LANG": "C.UTF-8",
    }
    try:
        done = subprocess.run(
            words, cwd=where, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    except subprocess.TimeoutExpired:
        return Ran(-1, "timed out after 300 s")
    return Ran(done.returncode, done.stdout + done.stderr)


@pytest.fixture(scope="module")
def results(
    clean_copy: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Ran]:
    """Every runnable command, run at once (each in its own copy)."""
    template, guard = clean_copy
    scratch = tmp_path_factory.mktemp("runs")
    todo = to_run()
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        done = pool.map(lambda c: run(c, template, guard, scratch), todo)
        return {c.id: ran for c, ran in zip(todo, done, strict=True)}


@cache
def new_app_stack_file() -> str:
    """The README's stack file for a new app: the first ```yaml block of its step 2."""
    step = section("README.md", "2. Write the stack file")
    (first, *_) = [
        b for b in blocks("README.md") if b.language == "yaml" and "\n".join(b.lines) in step
    ]
    return "\n".join(first.lines) + "\n"


@pytest.mark.parametrize("command", to_run(), ids=lambda c: c.id)
def test_every_unmarked_command_runs_from_a_fresh_clone(
    command: Command, results: dict[str, Ran]
) -> None:
    ran = results[command.id]
    assert 0 <= ran.status <= 3, f"{command.command}\nexit {ran.status}\n{ran.output}"
    assert "Traceback" not in ran.output, f"{command.command}\n{ran.output}"


def test_every_other_command_is_marked_with_what_it_needs() -> None:
    unmarked = [
        f"{c.id}: {c.command}"
        for c in documented()
        if c.needs is None
        and not RUNNABLE.match(c.command)
        and not c.command.startswith(FRESH_MACHINE)
        and argv(c.command)[0] not in PLAIN
    ]
    assert unmarked == []
    vague = [
        f"{c.id}: {c.needs}"
        for c in documented()
        if c.needs is not None and not re.match(r"(Pulumi CLI|Azure)\b", c.needs)
    ]
    assert vague == []


def test_the_commands_run_here_are_the_ones_a_newcomer_meets() -> None:
    """The check is not vacuous: preflight, the drift report and onboarding are among them."""
    run_here = {" ".join(argv(c.command)[:4]) for c in to_run()}
    assert "venv/bin/python -m association preflight" in run_here
    assert "venv/bin/python -m association drift" in run_here
    assert any(c.command.startswith("scripts/tenant.py onboard") for c in to_run())


def test_the_readmes_preflight_passes_on_its_own_stack_file(results: dict[str, Ran]) -> None:
    (preflight,) = [
        c
        for c in to_run()
        if c.page == "README.md" and c.command == "venv/bin/python -m association preflight contoso"
    ]
    ran = results[preflight.id]
    assert ran.status == 0, ran.output
    sample = section("README.md", "3. Check it offline")
    (shown,) = [
        b for b in blocks("README.md") if b.language == "text" and "\n".join(b.lines) in sample
    ]
    # Each line as printed (whatever the day), up to where the README cuts it short with "...".
    printed = "\n".join(normalised(ran.output))
    for line in shown.lines:
        (cut,) = normalised(line.split("...")[0].rstrip()) or [""]
        assert cut in printed, line


def test_no_command_is_written_for_the_system_python() -> None:
    """`python -m association` outside the venv fails with a traceback (no pulumi there)."""
    bare = re.compile(r"(?<![\w/])python3? +(-m +association|benchmarks/|scripts/)")
    found = [
        f"{page.relative_to(ROOT)}:{number}: {line.strip()}"
        for page in PAGES
        if page.name != "CHANGELOG.md"  # it quotes what the commands printed then
        for number, line in enumerate(text(page).splitlines(), 1)
        if bare.search(line) and not line.startswith("<!--")
    ]
    assert found == []


def test_the_fresh_machine_commands_are_what_ci_runs() -> None:
    fresh = section("README.md", "Two commands for a fresh machine")
    lines = [line for line in fresh.splitlines() if line.startswith(FRESH_MACHINE)]
    assert lines == [
        FRESH_MACHINE + "requirements.txt && venv/bin/python -m association preflight example",
        FRESH_MACHINE + "requirements-dev.txt && venv/bin/python -m pytest",
    ]
    ci = text(".ci/run").splitlines()
    for step in (
        "python3 -m venv venv",
        "venv/bin/pip install -q -r requirements-dev.txt",
        "venv/bin/python -m pytest",
    ):
        assert step in ci, step


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in PAGES:
        for number, target in links(page):
            if re.match(r"^[a-z]+:", target):
                continue  # https:, mailto:
            path, _, fragment = target.partition("#")
            goal = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}:{number}: {target}"
            if not goal.exists() or not goal.is_relative_to(ROOT):
                broken.append(f"{where} (no such file)")
            elif fragment and (goal.suffix != ".md" or fragment not in anchors(goal)):
                broken.append(f"{where} (no such heading)")
    assert broken == []


SEPARATOR_ROW = re.compile(r"^\|(?: *:?-{3,}:? *\|)+$")
CELL_BORDER = re.compile(r"(?<!\\)\|")


def test_every_table_has_one_separator_row_right_after_its_header() -> None:
    """A second separator row renders as a row of dashes; a missing one, as no table."""
    wrong = []
    for page in PAGES:
        for number, rows in tables(page):
            where = f"{page.relative_to(ROOT)}:{number}"
            separators = [i for i, row in enumerate(rows) if SEPARATOR_ROW.match(row)]
            if separators != [1]:
                wrong.append(f"{where}: separator rows at {separators}, want [1]")
            elif len(CELL_BORDER.findall(rows[0])) != len(CELL_BORDER.findall(rows[1])):
                wrong.append(f"{where}: the separator row has not the header's columns")
    assert wrong == []


def test_the_table_check_sees_a_doubled_separator(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# t\n\n| a | b |\n|---|---|\n|---|---|\n| `x \\| y` | z |\n\n| c |\n")
    assert tables(page) == [
        (3, ["| a | b |", "|---|---|", "|---|---|", "| `x \\| y` | z |"]),
        (8, ["| c |"]),
    ]


def test_every_docs_page_is_linked_from_the_readme_and_starts_with_its_title() -> None:
    readme = {target.partition("#")[0] for _, target in links(ROOT / "README.md")}
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme, page.name
        assert text(page).startswith("# "), page.name


def test_the_readme_is_a_front_door() -> None:
    assert len(text("README.md").splitlines()) <= 250


def test_pointers_in_messages_name_pages_that_exist() -> None:
    """A refusal that says where to read on must not send anyone to a section that moved."""
    sources = [
        p
        for folder in ("association", "association_tools", "scripts", ".github", "pipelines")
        for p in sorted((ROOT / folder).rglob("*"))
        if p.suffix in {".py", ".sh", ".yml"}
    ]
    stale, missing = [], []
    for source in sources:
        body = source.read_text(encoding="utf-8")
        stale += [
            f"{source.relative_to(ROOT)}: {m}"
            for m in re.findall(r"README(?:\.md)?[:,] \"?[A-Z][^).]*", body)
        ]
        for page, fragment in re.findall(r"docs/([\w-]+\.md)(?:#([\w-]+))?", body):
            if not (ROOT / "docs" / page).exists() or (
                fragment and fragment not in anchors(ROOT / "docs" / page)
            ):
                missing.append(f"{source.relative_to(ROOT)}: docs/{page}#{fragment}")
    assert stale == []
    assert missing == []


def test_the_readmes_onboard_command_writes_the_readmes_stack_file(
    clean_copy: tuple[Path, Path], tmp_path: Path
) -> None:
    """Both ways of step 2 give the file the README shows."""
    template, _ = clean_copy
    project = tmp_path / "project"
    shutil.copytree(template, project, symlinks=True)
    (project / "Pulumi.contoso.yaml").unlink()
    (onboard,) = [
        c for c in to_run() if c.page == "README.md" and c.command.startswith("scripts/tenant.py")
    ]
    done = subprocess.run(
        argv(onboard.command), cwd=project, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (project / "Pulumi.contoso.yaml").read_text("utf-8") == new_app_stack_file()


def normalised(report: str) -> list[str]:
    """A preflight report with what depends on the certificate or the day (thumbprint, keyId,
    dates, days left) replaced, so a sample made with one test certificate on one day compares
    with another."""
    rules = [
        (r"\b[0-9A-Fa-f]{40}\b", "<thumbprint>"),
        (r"mimecast-cert-[0-9a-f]{16}", "mimecast-cert-<id>"),
        (r"(keyId:? +)[0-9a-f-]{36}", r"\1<keyId>"),
        (r"(customKeyIdentifier: )[A-Za-z0-9+/=]+", r"\1<id>"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<instant>"),
        (r"\b\d{4}-\d\d-\d\d\b", "<day>"),
        (r"\d+ days (left|ago)", r"<n> days \1"),
    ]
    for pattern, replacement in rules:
        report = re.sub(pattern, replacement, report)
    return report.splitlines()


def test_the_sample_report_is_what_preflight_prints(results: dict[str, Ran]) -> None:
    """docs/preflight.md shows a whole report: it must be today's, line for line."""
    (command,) = [
        c for c in to_run() if c.page == "docs/preflight.md" and "--now 2026-12-01" in c.command
    ]
    ran = results[command.id]
    assert ran.status == 0, ran.output
    (sample,) = [
        b for b in blocks("docs/preflight.md") if b.language == "text" and b.line > command.line
    ][:1]
    assert normalised("\n".join(sample.lines)) == normalised(ran.output.rstrip("\n"))


def python_blocks() -> list[Block]:
    """The README's and docs/'s Python blocks that name the project's code."""
    return [
        block
        for page in PAGES
        if page.name != "CHANGELOG.md"  # it quotes what was, not what runs
        for block in blocks(page)
        if block.language in PYTHON and PROJECT_CODE.search("\n".join(block.lines))
    ]


def block_id(block: Block) -> str:
    return f"{block.page.relative_to(ROOT)}:{block.line}"


def block_needs(block: Block) -> str | None:
    first = next((line for line in block.lines if line.strip()), "")
    marker = MARKER.match(first.strip())
    return marker.group("what") if marker else None


_TENANT = (
    TENANT_DIRECTORY.tenant_id,
    TENANT_DIRECTORY.deployer_object_id,
    TENANT_DIRECTORY.exchange_service_principal_id,
    TENANT_DIRECTORY.initial_domain,
)
RUN_AS_A_PROGRAM = f"""
import sys
from datetime import UTC, datetime
from pathlib import Path

from association_tools.offline import Directory, run_program

tenant = Directory(*{_TENANT!r})
run = run_program(Path(sys.argv[1]), "docs", {{}}, tenant, preview=False, now=datetime.now(UTC))
sys.exit(run.error)
"""
"""A block as `pulumi up` would run it, offline: any exception is a traceback, a refusal
(`pulumi.RunError`) its message and exit 1."""


@pytest.mark.parametrize(
    "block", [b for b in python_blocks() if block_needs(b) is None], ids=block_id
)
def test_every_unmarked_python_block_runs_from_a_fresh_clone(
    block: Block, clean_copy: tuple[Path, Path], tmp_path: Path
) -> None:
    template, guard = clean_copy
    where = tmp_path / "project"
    shutil.copytree(template, where, symlinks=True)
    (where / "docs_block.py").write_text("\n".join(block.lines) + "\n", encoding="utf-8")
    env = {"PATH": os.environ["PATH"], "HOME": str(where), "PYTHONPATH": str(guard)}
    done = subprocess.run(
        [sys.executable, "-c", RUN_AS_A_PROGRAM, "docs_block.py"],
        cwd=where,
        env={**env, "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("block", python_blocks(), ids=block_id)
def test_every_name_a_python_block_imports_from_the_project_exists(block: Block) -> None:
    """Marked blocks too: a renamed function fails here, not in a reader's hands."""
    missing = []
    for node in ast.walk(ast.parse("\n".join(block.lines))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [(node.module, [alias.name for alias in node.names])]
        elif isinstance(node, ast.Import):
            modules = [(alias.name, []) for alias in node.names]
        else:
            continue
        for module, names in modules:
            if module.split(".")[0] not in ("association", "association_tools"):
                continue
            try:
                loaded = importlib.import_module(module)
            except ImportError:
                missing.append(module)
                continue
            missing += [f"{module}.{name}" for name in names if not hasattr(loaded, name)]
    assert missing == []


def test_python_blocks_are_run_and_checked() -> None:
    """Not vacuous: the component example of docs/how-it-works.md is among those run."""
    run = [block_id(b) for b in python_blocks() if block_needs(b) is None]
    assert any(name.startswith("docs/how-it-works.md:") for name in run)
    marked = [f"{block_id(b)}: {block_needs(b)}" for b in python_blocks() if block_needs(b)]
    assert [m for m in marked if not re.match(r"[^:]+: (Pulumi CLI|Azure)\b", m)] == []


def test_every_fenced_block_is_of_a_language_this_test_knows() -> None:
    """A block of another language (`console`, `pycon`, none) would hold commands unseen."""
    unknown = [
        f"{block_id(block)}: {block.language or '(none)'}"
        for page in PAGES
        for block in blocks(page)
        if block.language not in SHELLS | PYTHON | INERT
    ]
    assert unknown == []


DOTTED = re.compile(r"`(association(?:_tools)?(?:\.\w+)+)`")


def resolves(dotted: str) -> bool:
    """A module, or a name in one, that exists."""
    module, _, name = dotted.rpartition(".")
    try:
        importlib.import_module(dotted)
    except ImportError:
        try:
            return hasattr(importlib.import_module(module), name)
        except ImportError:
            return False
    return True


def test_every_dotted_name_of_the_project_in_the_docs_exists() -> None:
    """`association.exchange.MailboxScope` in a table is as wrong as in an import."""
    missing = [
        f"{page.relative_to(ROOT)}:{number}: {dotted}"
        for page in PAGES
        if page.name != "CHANGELOG.md"
        for number, line in enumerate(text(page).splitlines(), 1)
        for dotted in DOTTED.findall(line)
        if not resolves(dotted)
    ]
    assert missing == []
    assert not resolves("association.exchange.MailboxScope")


def test_how_it_works_lists_every_argument_of_the_component() -> None:
    using = section("docs/how-it-works.md", "Using the component from another program")
    listed = re.findall(r"^\| `(\w+)` \|", using, re.M)
    assert listed == [field.name for field in dataclasses.fields(AssociationArgs)]


def documented_json_shape() -> json_shape.Shape:
    """docs/preflight.md's sketch of the JSON: the first text block after "JSON shape"."""
    where = (
        text("docs/preflight.md")
        .splitlines()
        .index(
            next(
                line
                for line in text("docs/preflight.md").splitlines()
                if line.startswith("JSON shape")
            )
        )
    )
    (sketch, *_) = [
        b for b in blocks("docs/preflight.md") if b.language == "text" and b.line > where
    ]
    return json_shape.parse("\n".join(sketch.lines))


def test_preflights_json_is_as_the_docs_sketch_it(
    results: dict[str, Ran], clean_copy: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Both a stack with errors (the shipped example, as the page runs it) and one that passes,
    with its plan and PowerShell, the README's contoso."""
    (example,) = [c for c in to_run() if c.command.endswith("preflight --json - example")]
    template, _ = clean_copy
    assert preflight_main(["--project-dir", str(template), "--json", "-", "contoso"]) == 0
    contoso = capsys.readouterr().out
    shape = documented_json_shape()
    for output in (results[example.id].output, contoso):
        assert json_shape.mismatches(json.loads(output), shape) == []


def test_the_json_sketch_tells_a_string_from_an_object() -> None:
    """What was wrong with the page: errors sketched as strings, objects in the output."""
    errors = json_shape.parse('{"errors": [str], "ok": bool, "n"?}')
    assert json_shape.mismatches({"errors": ["x"], "ok": True}, errors) == []
    assert json_shape.mismatches({"errors": [{"code": "c"}], "ok": 1, "extra": 0}, errors) == [
        "$: 'extra' is not in the docs",
        "$.errors[0]: {'code': 'c'} is not str",
        "$.ok: 1 is not bool",
    ]
