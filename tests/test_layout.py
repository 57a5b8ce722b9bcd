"""The layout is a promise: the product never depends on the operations tools.

`scripts/changed-stacks.py` deploys every tenant when `association/` changes and none when
`association_tools/` does; that is only safe while nothing `pulumi up` loads imports the tools.
The one exception is `association/__main__.py`, which `pulumi up` never runs: it keeps
`python -m association COMMAND` working by forwarding to `association_tools.commands`.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORWARDER = ROOT / "association" / "__main__.py"
PRODUCT = sorted(
    path
    for path in [ROOT / "__main__.py", *(ROOT / "association").rglob("*.py")]
    if path != FORWARDER
)
TOOLS_MODULE = re.compile(r"association_tools(?:\.\w*)*")
"""A module path of the tools, or the start of one that code completes (an f-string)."""


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def named_modules(path: Path) -> set[str]:
    """Strings that are a module path of the tools, as `importlib.import_module` takes them,
    or its start (an f-string's or a concatenation's constant part)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and TOOLS_MODULE.fullmatch(node.value)
    }


def tools_imported(path: Path) -> set[str]:
    return {name for name in imported_modules(path) if name.split(".")[0] == "association_tools"}


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_product_never_imports_the_tools(path: Path) -> None:
    loaded = tools_imported(path) | named_modules(path)
    assert not loaded, f"{path.relative_to(ROOT)} imports {sorted(loaded)}"


def test_the_forwarder_only_forwards_and_nothing_in_the_product_loads_it() -> None:
    tree = ast.parse(FORWARDER.read_text(encoding="utf-8"))

    assert tools_imported(FORWARDER) | named_modules(FORWARDER) == {"association_tools.commands"}
    assert not [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)]
    for path in PRODUCT:
        assert "association.__main__" not in imported_modules(path), path


def test_the_product_includes_its_subpackages() -> None:
    """`pulumi up` loads `association/exchange_online/` too (the dynamic providers)."""
    assert ROOT / "association" / "exchange_online" / "ews_access.py" in PRODUCT


def test_the_check_sees_an_import_of_the_tools(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from association_tools.offline import run_program\n")
    assert "association_tools.offline" in imported_modules(module)
    module.write_text('"""Not `association_tools`."""\nNAME = "association_tools.drift.cli"\n')
    assert named_modules(module) == {"association_tools.drift.cli"}
    module.write_text('def load(name):\n    return __import__(f"association_tools.{name}")\n')
    assert named_modules(module) == {"association_tools."}


def test_loading_every_product_module_loads_none_of_the_tools() -> None:
    """What the checks above read, seen at run time: any import, however it is spelt."""
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in PRODUCT
        if path.parent != ROOT
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'association_tools'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "association.component" in modules
    assert done.stdout.strip() == "[]", done.stdout
