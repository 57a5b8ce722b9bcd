"""The README's tables are the reference users read: every setting and output is in them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import docs_pages

from association.component_args import SETTINGS
from association.setting import Setting
from association_tools import settings_doc

ROOT = Path(__file__).resolve().parents[1]


def section(title: str) -> str:
    return docs_pages.section("README.md", title)


def first_cells(table: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE))


def test_every_setting_is_in_the_settings_table() -> None:
    names = {s.name for s in SETTINGS}
    assert first_cells(section("Stack settings")) == names


def test_pulumi_yaml_and_the_readme_table_are_as_the_declarations_write_them() -> None:
    assert settings_doc.main(["--check"]) == 0, (
        "run venv/bin/python -m association_tools.settings_doc"
    )


def test_a_new_declaration_reaches_both_files() -> None:
    made_up = Setting("retentionDays", "integer", "Days to keep | things.", "7", 7)
    block = settings_doc.config_block((*SETTINGS, made_up))
    assert "  retentionDays:\n    type: integer\n" in block
    assert block.endswith("    default: 7\n")
    table = settings_doc.settings_table((*SETTINGS, made_up))
    assert "| `retentionDays` | integer | `7` | Days to keep \\| things. | `7` |" in table
    # Another namespace's key is in the table but never typed in Pulumi.yaml (Pulumi refuses).
    assert "tenantId:" not in block.split("config:", 1)[1]


class Component:
    """A made-up component: the table reads each output where it is declared."""

    retention_days: int
    """Days a thing | is kept, in `<days>` [`retentionDays`]."""
    helper: str
    """Not an output: no [`name`] at its end, so not in the table; nor is what follows."""
    internal = 1


def test_a_new_output_reaches_the_outputs_table() -> None:
    table = settings_doc.outputs_table(Component)
    assert table.splitlines()[1:-1] == [
        "| output | meaning |",
        "|---|---|",
        "| `retentionDays` | Days a thing \\| is kept, in `<days>` |",
    ]


def test_every_export_is_in_the_outputs_table() -> None:
    program = ast.parse((ROOT / "__main__.py").read_text(encoding="utf-8"))
    exports = {
        node.args[0].value
        for node in ast.walk(program)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "export"
        and isinstance(node.args[0], ast.Constant)
    }
    assert exports
    assert first_cells(section("Stack outputs")) == exports
