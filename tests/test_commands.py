"""The commands' shell: `python -m association COMMAND`, and flags that mean one thing in each.

Each command's own behaviour is tested beside it (test_preflight, test_drift, test_audit);
here: the dispatcher, help on every option with an example, the shared flags declared once,
and the pipelines' command lines accepted by the real parsers.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from association_tools import commands, options
from association_tools.audit import cli as audit_cli
from association_tools.bootstrap import cli as bootstrap_cli
from association_tools.drift import cli as drift_cli
from association_tools.preflight import cli as preflight_cli

REPO = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "preview"

PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "preflight": preflight_cli.parser,
    "drift": drift_cli.parser,
    "audit": audit_cli._parser,  # the audit's package is another change's; its name stays
    "bootstrap": bootstrap_cli.parser,
}
SHARED = ("--json", "--markdown", "--project-dir", "--max-input-bytes")


def option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in parser._actions if flag in a.option_strings), None)


def test_every_command_is_dispatched_and_has_its_parser() -> None:
    assert set(commands.COMMANDS) == set(PARSERS)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_option_has_help_and_the_help_an_example(name: str) -> None:
    parser = PARSERS[name]()

    undocumented = [a.dest for a in parser._actions if not a.help]
    assert not undocumented
    assert parser.epilog is not None
    assert parser.epilog.startswith("example")
    assert f"python -m association {name} " in parser.epilog


@pytest.mark.parametrize("flag", SHARED)
def test_a_shared_flag_is_declared_once(flag: str) -> None:
    """Same parse, default and metavar wherever it is taken; preflight, drift and audit each
    take at least two of them."""
    declared = [action for make in PARSERS.values() if (action := option(make(), flag))]

    assert len(declared) >= 2
    assert len({(a.type, a.default, a.metavar, a.nargs) for a in declared}) == 1


@pytest.mark.parametrize(
    ("text", "path"), [("-", None), ("drift.json", Path("drift.json")), ("A.JSON", Path("A.JSON"))]
)
def test_json_targets(text: str, path: Path | None) -> None:
    assert options.json_target(text).path == path


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (options.json_target, "contoso", "'contoso' does not end in .json: --json takes"),
        (options.json_target, "", "'' does not end in .json"),
        (options.markdown_target, "", "the file name is empty"),
        (options.at_least_one, "0", "must be 1 or more, not 0"),
        (options.at_least_one, "-3", "must be 1 or more, not -3"),
        (options.at_least_one, "two", "'two' is not a whole number"),
        (options.at_least_one, "1" * 5000, "is not a whole number"),
    ],
)
def test_bad_flag_values(parse: Callable[[str], object], text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)


@pytest.mark.parametrize(
    "argv",
    [
        ["--max-input-bytes", "0"],
        ["--json", "drift"],
        ["--json", "-", "--markdown", "-"],
    ],
)
def test_bad_flags_stop_before_any_file_is_read(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert drift_cli.main([*argv, str(FIXTURES / "no-change.json")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: python -m association drift")


def test_two_documents_cannot_share_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    drift_cli.main(["--json", "-", "--markdown", "-", str(FIXTURES / "no-change.json")])

    assert "--markdown and --json would both write to stdout: give one a FILE" in (
        capsys.readouterr().err
    )


def test_the_pipelines_preflight_command_line_is_one_preflight_accepts() -> None:
    """scripts/fleet.sh saves preflight's stdout as the gate's JSON: it must ask for JSON there."""
    script = (REPO / "scripts" / "fleet.sh").read_text(encoding="utf-8")
    (line,) = [line for line in script.splitlines() if "-m association preflight" in line]
    words = shlex.split(line.replace('"${stacks[@]}"', "contoso").rstrip("\\"))

    args = preflight_cli.parser().parse_args(words[words.index("preflight") + 1 :])

    assert args.json == options.ReportTarget(None)
    assert args.stacks == ["contoso"]


@pytest.mark.parametrize(
    ("argv", "status", "stream"),
    [([], 2, "stderr"), (["nosuch"], 2, "stderr"), (["--help"], 0, "stdout")],
)
def test_python_m_association_lists_the_commands(argv: list[str], status: int, stream: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "association", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == status
    said = getattr(done, stream)
    if argv == ["nosuch"]:
        first, said = said.split("\n", 1)
        assert first == "unknown command 'nosuch'"
    assert said.startswith("usage: python -m association COMMAND")
    assert "  audit       compare each stack's live app" in getattr(done, stream)
