"""`python -m association_tools.settings_doc`: write `Pulumi.yaml`'s config block and the
README's settings table from the settings' declarations (`association.component_args`), the
README's outputs table from the component's outputs, documented where they are declared
(the attribute docstrings of `association.component.MimecastAssociation`), and
docs/bootstrap.md's table of calls from their declarations (`association_tools.bootstrap.needs`).

Run it after changing a setting or an output; `--check` (and a test) fails when either file
differs from what it would write, so neither can drift from the declarations.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import json
import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from association.component import MimecastAssociation
from association.component_args import SETTINGS
from association.identifiers import TENANT_KEY
from association.setting import Setting
from association_tools.bootstrap.needs import table as calls_table

ROOT: Final = Path(__file__).resolve().parents[1]
BEGIN: Final = "<!-- settings table: written by python -m association_tools.settings_doc -->"
END: Final = "<!-- end of settings table -->"
OUTPUTS_BEGIN: Final = "<!-- outputs table: written by python -m association_tools.settings_doc -->"
OUTPUTS_END: Final = "<!-- end of outputs table -->"
CALLS_BEGIN: Final = "<!-- bootstrap-calls:start -->"
CALLS_END: Final = "<!-- bootstrap-calls:end -->"
_EXPORTED_AS: Final = re.compile(r"\s*\[`(?P<name>\w+)`\]\.?\s*$")
"""How an output's docstring ends: the stack output it is exported as, e.g. [`clientId`]."""

_CONFIG_COMMENT: Final = f"""\
# Stack settings, written from their declarations in association/component_args.py by
# `venv/bin/python -m association_tools.settings_doc` (a test keeps the two equal).
# Also required in every stack: `{TENANT_KEY}` (the tenant's ID, a GUID; one stack per
# tenant). Pulumi forbids a type or default for a key of another namespace here, so it is
# set per stack: `pulumi config set {TENANT_KEY} <GUID>`.
"""


def config_block(settings: Sequence[Setting] = SETTINGS) -> str:
    """`Pulumi.yaml`'s `config:` block: the project's own settings, typed, with defaults."""
    lines = [_CONFIG_COMMENT.rstrip("\n"), "config:"]
    for setting in settings:
        if not setting.in_project:
            continue
        lines += [f"  {setting.name}:", f"    type: {setting.type}"]
        if setting.type == "array":
            lines += ["    items:", "      type: string"]
        lines += ["    description: >-"]
        lines += textwrap.wrap(
            setting.description,
            92,
            initial_indent=" " * 6,
            subsequent_indent=" " * 6,
            break_on_hyphens=False,
        )
        if setting.default is not None:
            # JSON is YAML: a value written so that no YAML rule can read it otherwise.
            lines.append(f"    default: {json.dumps(setting.default)}")
    return "\n".join(lines) + "\n"


def pulumi_yaml(current: str) -> str:
    """`current` with everything from the settings comment on replaced by the config block."""
    head = current.split(_CONFIG_COMMENT.splitlines()[0], 1)[0].split("\nconfig:", 1)[0]
    return head.rstrip("\n") + "\n" + config_block()


def settings_table(settings: Sequence[Setting] = SETTINGS) -> str:
    """The README's table: one row per setting, the key namespace-less for our own."""
    rows = [
        "| key | type | default | meaning | example |",
        "|---|---|---|---|---|",
    ]
    for setting in settings:
        default = setting.shown_default or (
            "**required**" if setting.default is None else f"`{json.dumps(setting.default)}`"
        )
        cells = [
            f"`{setting.name}`",
            setting.shown_type or setting.type,
            default,
            # Outside a code span `<id>` would be taken for an HTML tag and vanish.
            setting.description.replace("<", "&lt;").replace(">", "&gt;"),
            f"`{setting.example}`",
        ]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join([BEGIN, *rows, END])


def outputs(component: type = MimecastAssociation) -> list[tuple[str, str]]:
    """Each stack output and its docstring, in the order the component declares them: every
    annotated attribute whose docstring names the output it is exported as."""
    (body,) = ast.parse(inspect.getsource(component)).body
    assert isinstance(body, ast.ClassDef)
    found = []
    for declared, documented in zip(body.body, body.body[1:], strict=False):
        if (
            isinstance(declared, ast.AnnAssign)
            and isinstance(documented, ast.Expr)
            and isinstance(documented.value, ast.Constant)
            and isinstance(documented.value.value, str)
            and (tag := _EXPORTED_AS.search(documented.value.value))
        ):
            text = documented.value.value[: tag.start()]
            found.append((tag["name"], " ".join(text.split())))
    return found


def outputs_table(component: type = MimecastAssociation) -> str:
    """The README's outputs table: one row per output, its meaning as its docstring says."""
    rows = ["| output | meaning |", "|---|---|"]
    for name, meaning in outputs(component):
        # Outside code spans, `*` would start emphasis and `<id>` would vanish as a tag.
        parts = meaning.replace("|", "\\|").split("`")
        cell = "`".join(
            part if inside else part.replace("*", "\\*").replace("<", "&lt;").replace(">", "&gt;")
            for part, inside in zip(parts, itertools.cycle((False, True)), strict=False)
        )
        rows.append(f"| `{name}` | {cell} |")
    return "\n".join([OUTPUTS_BEGIN, *rows, OUTPUTS_END])


def readme(current: str) -> str:
    """`current` with the text between each table's markers replaced."""
    return _tables(
        current,
        "README.md",
        ((BEGIN, END, settings_table()), (OUTPUTS_BEGIN, OUTPUTS_END, outputs_table())),
    )


def bootstrap_page(current: str) -> str:
    """docs/bootstrap.md with its table of calls (markers kept, the table between them)."""
    table = f"{CALLS_BEGIN}\n{calls_table()}\n{CALLS_END}"
    return _tables(current, "docs/bootstrap.md", ((CALLS_BEGIN, CALLS_END, table),))


def _tables(current: str, page: str, tables: Sequence[tuple[str, str, str]]) -> str:
    for begin, end, table in tables:
        before, found, rest = current.partition(begin)
        if not found or end not in rest:
            raise ValueError(f"{page} has no table markers ({begin} ... {end})")
        current = before + table + rest.split(end, 1)[1]
    return current


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m association_tools.settings_doc",
        description="Write Pulumi.yaml's config block, README.md's settings and outputs "
        "tables and docs/bootstrap.md's table of calls from the declarations. Exit status: 0 "
        "written or up to date, 1 --check found a difference.",
        epilog="example:\n  venv/bin/python -m association_tools.settings_doc --check",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a file is out of date"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, render in (
        ("Pulumi.yaml", pulumi_yaml),
        ("README.md", readme),
        ("docs/bootstrap.md", bootstrap_page),
    ):
        path = ROOT / name
        current = path.read_text(encoding="utf-8")
        wanted = render(current)
        if wanted != current:
            stale.append(name)
            if not args.check:
                path.write_text(wanted, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run python -m association_tools.settings_doc")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
