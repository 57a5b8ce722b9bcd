"""The README's tables are the reference users read: every setting and output is in them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from association.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def first_cells(table: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE))


def test_every_setting_is_in_the_settings_table() -> None:
    names = {s.name for s in SETTINGS}
    assert first_cells(section("Stack settings")) == names


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
