"""Pulumi.yaml and `Pulumi.<stack>.yaml`, read as the Pulumi CLI reads them, without the CLI.

What `pulumi up` does with config before the program runs: project defaults, namespaces,
declared types, YAML 1.2 scalars, `secure:` values, and the CLI's refusals. The program then
gets every value as a string (structured values as JSON), and so does the offline preflight.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from association.certificates import quoted
from association.settings import NAMESPACE, SETTINGS

PROGRAM_KEYS: Final = frozenset(setting.key for setting in SETTINGS)
STACK_FILE: Final = re.compile(r"^Pulumi\.(?P<stack>.+)\.ya?ml$")


class UsageError(Exception):
    """The project cannot be read as asked (preflight exits 2); the message says why."""


class _GoYaml(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """YAML's 1.2 core schema, as Pulumi's Go YAML library reads it: `yes`, `on`, dates are text.

    libyaml's parser (in PyYAML's wheels) when present: hundreds of stack files add up.
    """


_GoYaml.yaml_implicit_resolvers = {}
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
    _GoYaml.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), _first)


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
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_GoYaml)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise UsageError(f"{path} cannot be read: {one_line(error)}") from None
    if not isinstance(document, dict) or document.get("name") != NAMESPACE:
        raise UsageError(f"{path} is not the {NAMESPACE} project (its `name` must be {NAMESPACE})")
    declared = document.get("config") or {}
    if not isinstance(declared, dict):
        raise UsageError(f"{path}: `config` must be a map of keys to declarations")
    keys = tuple(_project_key(str(name), entry, path) for name, entry in declared.items())
    stack_dir = directory / str(document.get("stackConfigDir") or ".")
    stacks: dict[str, Path] = {}
    for file in sorted(stack_dir.glob("Pulumi.*.y*ml"), key=lambda f: f.suffix != ".yaml"):
        match = STACK_FILE.match(file.name)
        if match and file.is_file():
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


class StackFileError(ValueError):
    """A stack file the CLI cannot load at all: nothing in it can be checked."""


@dataclass(frozen=True)
class StackFile:
    """The `config:` of one stack file, and what is wrong with its keys."""

    config: Mapping[str, ConfigValue]
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def parse_stack_file(text: str, file: str) -> StackFile:
    """Read a stack file's config the way the CLI does.

    Scalars stay as written (`true` is "true", `30` is "30"), lists and maps become JSON,
    `{secure: ...}` marks an encrypted value. Keys need a namespace (`ns:key`). Raises
    `StackFileError` when the file is not YAML or not shaped like a stack file.
    """
    loader = _GoYaml(text)
    try:
        root = loader.get_single_node()
        document = _mapping(root, "the file") if root is not None else {}
        entries = _mapping(document["config"], "`config`") if "config" in document else {}
        config = {}
        problems = []
        for name, node in entries.items():
            key = _config_key(name)
            if key is None:
                problems.append(
                    f"{file}: could not parse {name} as a configuration key (configuration keys "
                    f"should be of the form `<namespace>:<name>`). Write it as {NAMESPACE}:{name}."
                )
            else:
                config[key] = _config_value(loader, node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise StackFileError(
            f"{file} is not valid YAML: {error.problem or error.context}{where}. Fix the file."
        ) from None
    except (yaml.YAMLError, ValueError) as error:
        raise StackFileError(f"{file} cannot be loaded: {one_line(error)}. Fix the file.") from None
    finally:
        loader.dispose()
    environments = (
        f"{file} imports Pulumi ESC environments, which preflight cannot read offline: config "
        "they set is not checked here.",
    )
    return StackFile(config, tuple(problems), environments if "environment" in document else ())


def _mapping(node: yaml.Node, what: str) -> dict[str, yaml.Node]:
    """A YAML mapping's entries by key; like Go's YAML library, a repeated key is an error."""
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise ValueError(f"{what} must be a map (line {node.start_mark.line + 1})")
    entries: dict[str, yaml.Node] = {}
    for key, value in node.value:
        if str(key.value) in entries:
            raise ValueError(
                f'line {key.start_mark.line + 1}: mapping key "{key.value}" already defined'
            )
        entries[str(key.value)] = value
    return entries


def _config_key(name: str) -> str | None:
    """`ns:name`, or the legacy `ns:config:name`; None for anything else (Pulumi's `ParseKey`)."""
    parts = name.split(":")
    if len(parts) == 2:
        return name
    if len(parts) == 3 and parts[1] == "config":
        return f"{parts[0]}:{parts[2]}"
    return None


def _config_value(loader: _GoYaml, node: yaml.Node) -> ConfigValue:
    if isinstance(node, yaml.ScalarNode):
        return ConfigValue("" if node.tag.endswith(":null") else str(node.value))
    value = loader.construct_document(node)
    if isinstance(value, dict) and set(value) == {"secure"}:
        return ConfigValue(str(value["secure"]), secure=True)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return ConfigValue(text, structured=True, secure='{"secure":' in text)


def one_line(error: BaseException) -> str:
    """An error message on one line, for a report."""
    return " ".join(str(error).split())


@dataclass(frozen=True)
class StackConfig:
    """The config the program would receive, and the CLI's objections to it."""

    values: Mapping[str, str]
    problems: tuple[str, ...]
    faithful: bool
    """False when the program would not get what the stack file says (encrypted or mistyped),
    so running its checks on `values` would report the wrong things."""


def stack_config(
    project: Project, stack: str, file: str, values: Mapping[str, ConfigValue]
) -> StackConfig:
    """Apply `Pulumi.yaml` to a stack's config and check it, as `pulumi up` does first."""
    problems = []
    distorted = False
    declared = {key.key: key for key in project.keys}
    own = f"{NAMESPACE}:"
    known_names = {key.name for key in project.keys} | {s.name for s in SETTINGS}
    for key, value in values.items():
        if value.secure and (key in PROGRAM_KEYS or key.startswith(own)):
            distorted = True
            problems.append(
                f"{file} stores {key} encrypted (secure:), which preflight cannot read offline; "
                "none of this project's settings is secret. Store it in plain text: "
                f"`pulumi config set {key} VALUE --stack {stack}` (without --secret)."
            )
        elif key.startswith(own) and key not in declared and key not in PROGRAM_KEYS:
            name = key.removeprefix(own)
            close = difflib.get_close_matches(name, sorted(known_names), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            problems.append(
                f"Stack '{stack}' uses configuration value '{name}' which is not defined by the "
                f"project configuration, so nothing reads it.{hint} Fix the name or remove it "
                f"from {file}."
            )
    config = {key: value.text for key, value in values.items() if not value.secure}
    missing: list[str] = []
    for declaration in project.keys:
        setting = values.get(declaration.key)
        if setting is None:
            if declaration.default is not None:
                config[declaration.key] = declaration.default.text
            elif declaration.key.startswith(own):
                missing.append(declaration.name)
        elif (
            declaration.type is not None
            and not setting.secure
            and declaration.key not in PROGRAM_KEYS
        ):
            # The program's own check reports its keys' types, with the command that fixes them.
            content = json.loads(setting.text) if setting.structured else setting.text
            if not matches_type(declaration.type, declaration.items, content):
                distorted = True
                problems.append(
                    f"Stack '{stack}' with configuration key '{declaration.name}' must be of type "
                    f"'{full_type_name(declaration.type, declaration.items)}'; {file} has "
                    f"{quoted(setting.text)}."
                )
    if missing:
        names = " and ".join(f"'{name}'" for name in missing)
        values_word, pronoun = ("values", "them") if len(missing) > 1 else ("value", "it")
        problems.append(
            f"Stack '{stack}' is missing configuration {values_word} {names}: Pulumi.yaml declares "
            f"{pronoun} without a default, so `pulumi up` stops until {file} sets {pronoun} or "
            "Pulumi.yaml gives a default."
        )
    return StackConfig(config, tuple(problems), faithful=not distorted)
