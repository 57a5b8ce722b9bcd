"""`Pulumi.yaml`, read as the Pulumi CLI reads it, without the CLI: declared keys and stacks.

What `pulumi up` knows before it reads a stack file: the project's config declarations
(types, defaults) and where the `Pulumi.<stack>.yaml` files are. `stack_files` reads those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from association.files import FileRefused, inside_project, read_bounded
from association.identifiers import NAMESPACE
from association.text import visible
from association_tools.cli import UsageError

STACK_FILE: Final = re.compile(r"^Pulumi\.(?P<stack>.+)\.ya?ml$")
STACK_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,100}")
"""What Pulumi accepts as a stack name: letters, digits, `-`, `_`, `.` (at most 100)."""

MAX_YAML_BYTES = 1024 * 1024
"""Pulumi.yaml and a stack file hold a few settings; a larger file is not one of ours."""
MAX_YAML_DEPTH = 32
"""Nesting levels of a YAML document; the deepest value this project reads is 3 levels down."""


class GoYaml(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """YAML's 1.2 core schema, as Pulumi's Go YAML library reads it: `yes`, `on`, dates are text.

    libyaml's parser (in PyYAML's wheels) when present: hundreds of stack files add up.
    """


GoYaml.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
        r"|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
):
    GoYaml.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), _first)


@dataclass(frozen=True)
class ConfigValue:
    """One config value as the CLI hands it to the program."""

    text: str
    """Scalars as written (`true`, `30`); lists and maps as JSON."""
    structured: bool = False
    secure: bool = False


def config_value(value: object) -> ConfigValue:
    """A `Pulumi.yaml` default as the CLI passes it on (Go's `createConfigValue`)."""
    if isinstance(value, bool):
        return ConfigValue("true" if value else "false")
    if isinstance(value, str | int):
        return ConfigValue(str(value))
    return ConfigValue(json.dumps(value, sort_keys=True, separators=(",", ":")), structured=True)


@dataclass(frozen=True)
class ProjectKey:
    """One entry of `Pulumi.yaml`'s `config:` block."""

    key: str
    """Full key, `namespace:name`."""
    name: str
    """As written in `Pulumi.yaml`: short for the project's own keys."""
    type: str | None = None
    items: Any = None
    default: ConfigValue | None = None
    """The `default` (or `value`) the CLI applies when a stack leaves the key unset."""


@dataclass(frozen=True)
class Project:
    """The project directory, its config declarations and its stack files."""

    directory: Path
    keys: tuple[ProjectKey, ...]
    stacks: Mapping[str, Path]

    @property
    def program(self) -> Path:
        return self.directory / "__main__.py"


def load_project(directory: Path) -> Project:
    """Read `Pulumi.yaml` and find the stack files; `UsageError` when this is not our project."""
    try:
        directory = directory.resolve()  # stack files are found by their real path, inside it
    except RuntimeError:  # a symlink loop, on Python 3.11 and 3.12
        raise UsageError(f"{visible(str(directory))} is a symlink loop, not a directory") from None
    path = next(
        (file for file in (directory / "Pulumi.yaml", directory / "Pulumi.yml") if file.is_file()),
        None,
    )
    if path is None:
        raise UsageError(
            f"no Pulumi.yaml in {directory.resolve()}: run in the project directory or pass "
            "--project-dir DIR"
        )
    try:
        text = read_yaml(path)
        check_plain_yaml(text)
        document = yaml.load(text, Loader=GoYaml)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as error:
        raise UsageError(f"{path} cannot be read: {one_line(error)}") from None
    if not isinstance(document, dict) or document.get("name") != NAMESPACE:
        raise UsageError(f"{path} is not the {NAMESPACE} project (its `name` must be {NAMESPACE})")
    declared = document.get("config") or {}
    if not isinstance(declared, dict):
        raise UsageError(f"{path}: `config` must be a map of keys to declarations")
    keys = tuple(_project_key(str(name), entry, path) for name, entry in declared.items())
    main = document.get("main")
    if main not in (None, ".", "./", "__main__.py"):
        raise UsageError(
            f"{path}: `main: {visible(str(main))}` moves the program; preflight checks the "
            "program in __main__.py at the project root. Remove `main` from Pulumi.yaml."
        )
    try:
        stack_dir = inside_project(str(document.get("stackConfigDir") or "."), directory)
    except FileRefused as refused:
        raise UsageError(
            f"{path}: stackConfigDir {visible(str(document['stackConfigDir']))} {refused}; "
            "give a folder inside the project"
        ) from None
    stacks: dict[str, Path] = {}
    for file in sorted(stack_dir.glob("Pulumi.*.y*ml"), key=lambda f: f.suffix != ".yaml"):
        match = STACK_FILE.match(file.name)
        if match and not file.is_dir():  # a FIFO or device is named, then refused
            stacks.setdefault(match["stack"], file)
    return Project(directory, keys, dict(sorted(stacks.items())))


def _project_key(name: str, entry: object, path: Path) -> ProjectKey:
    """One declaration, with the check the CLI makes of a typed default before anything runs."""
    key = name if ":" in name else f"{NAMESPACE}:{name}"
    if not isinstance(entry, dict):  # shorthand: `name: value`
        return ProjectKey(key, name, default=config_value(entry))
    type_name, items = entry.get("type"), entry.get("items")
    default = entry.get("default", entry.get("value"))
    if (
        type_name is not None
        and default is not None
        and not matches_type(type_name, items, default)
    ):
        raise UsageError(
            f"{path}: The default value specified for configuration key '{name}' is not of the "
            f"expected type '{full_type_name(type_name, items)}'"
        )
    return ProjectKey(
        key, name, type_name, items, None if default is None else config_value(default)
    )


def matches_type(type_name: str, items: Any, value: object) -> bool:
    """Pulumi's `ValidateConfigValue`: what a typed project key accepts from a stack."""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, float):
            return value.is_integer()
        if isinstance(value, str):
            return re.fullmatch(r"[-+]?[0-9]+", value) is not None
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_name == "object":
        return isinstance(value, dict)
    return (
        isinstance(value, list)
        and isinstance(items, dict)
        and all(matches_type(str(items.get("type")), items.get("items"), item) for item in value)
    )


def full_type_name(type_name: str, items: Any) -> str:
    """`array<string>` and the like, as Pulumi names a type in its messages."""
    if isinstance(items, dict):
        return f"array<{full_type_name(str(items.get('type')), items.get('items'))}>"
    return type_name


def one_line(error: BaseException) -> str:
    """An error message on one line, for a report."""
    return visible(" ".join(str(error).split()))


def read_yaml(path: Path) -> str:
    """A project or stack file's text: a regular file, bounded, UTF-8."""
    try:
        return read_bounded(path, MAX_YAML_BYTES).decode("utf-8")
    except FileRefused as refused:
        raise ValueError(f"{path.name} {refused}") from None


def check_plain_yaml(text: str) -> None:
    """Refuse what no Pulumi config file needs, before anything is built from the document:
    aliases (an alias bomb grows without bound) and deep nesting (recursion)."""
    depth = 0
    for event in yaml.parse(text, Loader=GoYaml):
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.AliasEvent):
            raise ValueError(
                f"line {line}: a YAML alias (*{visible(str(event.anchor))}); Pulumi config "
                "holds plain values, so write the value out"
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise ValueError(f"line {line}: nested more than {MAX_YAML_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
