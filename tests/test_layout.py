"""The layout is a promise: the product never depends on the operations tools.

`scripts/changed-stacks.py` deploys every tenant when `association/` changes and none when
`association_tools/` does; that is only safe while nothing `pulumi up` loads imports the tools.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = sorted([ROOT / "__main__.py", *(ROOT / "association").glob("*.py")])


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_product_never_imports_the_tools(path: Path) -> None:
    tools = {name for name in imported_modules(path) if name.split(".")[0] == "association_tools"}
    assert not tools, f"{path.relative_to(ROOT)} imports {sorted(tools)}"


def test_the_check_sees_an_import_of_the_tools(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from association_tools.offline import run_program\n")
    assert "association_tools.offline" in imported_modules(module)
