"""`Pulumi.<stack>.yaml`, read and checked as the Pulumi CLI does before the program runs.

Project defaults, namespaces, declared types, YAML 1.2 scalars, `secure:` values, and the
CLI's refusals. The program then gets every value as a string (structured values as JSON),
and so does the offline preflight.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import yaml

from association.component_args import SETTINGS
from association.identifiers import NAMESPACE
from association.problems import Notice, Problem
from association.text import quoted, visible
from association_tools.project import (
    ConfigValue,
    GoYaml,
    Project,
    check_plain_yaml,
    full_type_name,
    matches_type,
    one_line,
)
from association_tools.stack_keys import (
    PROGRAM_KEYS,
    TOP_LEVEL_KEYS,
    misplaced_problem,
    top_level_problem,
)


class StackFileError(ValueError):
    """A stack file the CLI cannot load at all: nothing in it can be checked."""


@dataclass(frozen=True)
class StackFile:
    """The `config:` of one stack file, and what is wrong with its keys."""

    config: Mapping[str, ConfigValue]
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Notice, ...] = ()


def parse_stack_file(text: str, file: str) -> StackFile:
    """Read a stack file's config the way the CLI does.

    Scalars stay as written (`true` is "true", `30` is "30"), lists and maps become JSON,
    `{secure: ...}` marks an encrypted value. Keys need a namespace (`ns:key`). Raises
    `StackFileError` when the file is not YAML or not shaped like a stack file.
    """
    try:
        check_plain_yaml(text)
    except yaml.YAMLError:
        pass  # the loader below reports a syntax error with its line and column
    except ValueError as error:
        raise StackFileError(f"{file} cannot be loaded: {one_line(error)}. Fix the file.") from None
    loader = GoYaml(text)
    try:
        root = loader.get_single_node()
        document = _mapping(root, "the file") if root is not None else {}
        entries = _mapping(document["config"], "`config`") if "config" in document else {}
        config = {}
        problems = [
            top_level_problem(name, file) for name in document if name not in TOP_LEVEL_KEYS
        ]
        for name, node in entries.items():
            key = _config_key(name)
            if key is None:
                shown = visible(name)
                problems.append(
                    Problem(
                        "config-key-unparsable",
                        shown,
                        f"{file}: could not parse {shown} as a configuration key (configuration "
                        "keys should be of the form `<namespace>:<name>`). Write it as "
                        f"{NAMESPACE}:{shown}.",
                    )
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
        Notice(
            "esc-environment",
            None,
            f"{file} imports Pulumi ESC environments, which preflight cannot read offline: "
            "config they set is not checked here.",
        ),
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
            shown = visible(str(key.value))
            raise ValueError(
                f'line {key.start_mark.line + 1}: mapping key "{shown}" already defined'
            )
        entries[str(key.value)] = value
    return entries


def _unique_keys(node: yaml.Node) -> None:
    """Like Go's YAML library, refuse a key repeated in any mapping, however deep."""
    if isinstance(node, yaml.MappingNode):
        _mapping(node, "a map")
        for _, value in node.value:
            _unique_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _unique_keys(item)


def _config_key(name: str) -> str | None:
    """`ns:name`, or the legacy `ns:config:name`; None for anything else (Pulumi's `ParseKey`)."""
    parts = name.split(":")
    if len(parts) == 2:
        return name
    if len(parts) == 3 and parts[1] == "config":
        return f"{parts[0]}:{parts[2]}"
    return None


def _config_value(loader: GoYaml, node: yaml.Node) -> ConfigValue:
    if isinstance(node, yaml.ScalarNode):
        return ConfigValue("" if node.tag.endswith(":null") else str(node.value))
    _unique_keys(node)
    value = loader.construct_document(node)
    if isinstance(value, dict) and set(value) == {"secure"}:
        return ConfigValue(str(value["secure"]), secure=True)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return ConfigValue(text, structured=True, secure='{"secure":' in text)


@dataclass(frozen=True)
class StackConfig:
    """The config the program would receive, and the CLI's objections to it."""

    values: Mapping[str, str]
    problems: tuple[Problem, ...]
    faithful: bool
    """False when the program would not get what the stack file says (encrypted or mistyped),
    so running its checks on `values` would report the wrong things."""


def stack_config(
    project: Project, stack: str, file: str, values: Mapping[str, ConfigValue]
) -> StackConfig:
    """Apply `Pulumi.yaml` to a stack's config and check it, as `pulumi up` does first."""
    problems: list[Problem] = []
    distorted = False
    declared = {key.key: key for key in project.keys}
    own = f"{NAMESPACE}:"
    known_names = {key.name for key in project.keys} | {s.name for s in SETTINGS}
    for key, value in values.items():
        shown = visible(key)  # a key is the user's text too
        if value.secure and (key in PROGRAM_KEYS or key.startswith(own)):
            distorted = True
            problems.append(
                Problem(
                    "setting-encrypted",
                    shown,
                    f"{file} stores {shown} encrypted (secure:), which preflight cannot read "
                    "offline; none of this project's settings is secret. Store it in plain text: "
                    f"`pulumi config set {shown} VALUE --stack {stack}` (without --secret).",
                )
            )
        elif key.startswith(own) and key not in declared and key not in PROGRAM_KEYS:
            name = shown.removeprefix(own)
            close = difflib.get_close_matches(name, sorted(known_names), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            problems.append(
                Problem(
                    "setting-unknown",
                    shown,
                    f"Stack '{stack}' uses configuration value '{name}' which is not defined by "
                    f"the project configuration, so nothing reads it.{hint} Fix the name or "
                    f"remove it from {file}.",
                )
            )
        elif not key.startswith(own) and (misplaced := misplaced_problem(key, stack, file)):
            problems.append(misplaced)
    config = {key: value.text for key, value in values.items() if not value.secure}
    missing: list[str] = []
    for declaration in project.keys:
        setting = values.get(declaration.key)
        if setting is None:
            if declaration.default is not None:
                config[declaration.key] = declaration.default.text
            elif declaration.key.startswith(own):
                missing.append(declaration.name)
        elif declaration.type is None or setting.secure:
            continue
        elif declaration.key in PROGRAM_KEYS:
            # The program reports its keys' types with the fix, except a shape it cannot see:
            # the CLI hands it a YAML list and a string holding JSON as the same text.
            if (declaration.type in STRUCTURED) != setting.structured:
                problems.append(_wrong_shape(declaration.name, declaration.type, stack, file))
        else:
            content = json.loads(setting.text) if setting.structured else setting.text
            if not matches_type(declaration.type, declaration.items, content):
                distorted = True
                problems.append(
                    Problem(
                        "setting-type",
                        declaration.key,
                        f"Stack '{stack}' with configuration key '{declaration.name}' must be of "
                        f"type '{full_type_name(declaration.type, declaration.items)}'; {file} "
                        f"has {quoted(setting.text)}.",
                    )
                )
    if missing:
        names = " and ".join(f"'{name}'" for name in missing)
        values_word, pronoun = ("values", "them") if len(missing) > 1 else ("value", "it")
        problems.append(
            Problem(
                "setting-missing",
                None,
                f"Stack '{stack}' is missing configuration {values_word} {names}: Pulumi.yaml "
                f"declares {pronoun} without a default, so `pulumi up` stops until {file} sets "
                f"{pronoun} or Pulumi.yaml gives a default.",
            )
        )
    return StackConfig(config, tuple(problems), faithful=not distorted)


STRUCTURED: Final = {"array": "a YAML list of strings", "object": "a YAML map"}
"""Declared types whose values the CLI passes to the program as JSON."""


def _wrong_shape(name: str, type_name: str, stack: str, file: str) -> Problem:
    shape = STRUCTURED.get(type_name, "plain text, not a list or map")
    return Problem(
        "setting-shape",
        f"{NAMESPACE}:{name}",
        f"Stack '{stack}' with configuration key '{name}' must be of type "
        f"'{'array<string>' if type_name == 'array' else type_name}', which the Pulumi CLI "
        f"checks before the program runs; in {file} write it as {shape}.",
    )
