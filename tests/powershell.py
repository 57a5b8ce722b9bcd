"""A small reader of the PowerShell the stack exports, for tests: which cmdlets, which values.

The commands are never run here (no PowerShell on these machines), so tests check their
structure instead of their wording: each statement's cmdlet and parameters, with single-quoted
literals decoded as PowerShell decodes them (`''` is one quote; nothing inside is expanded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""'(?:[^']|'')*'      # a single-quoted literal
      | "(?:[^"`]|`.)*"      # a double-quoted (expandable) string
      | \((?:[^()]|\([^()]*\))*\)  # a parenthesised expression, one level of nesting
      | [^\s|;{}()]+         # a bare word, a -Parameter, a $variable
      | [|;{}]               # pipes, statement ends, blocks""",
    re.VERBOSE,
)
_CMDLET = re.compile(r"[A-Z][a-z]+-[A-Za-z]+")


@dataclass(frozen=True)
class Cmdlet:
    name: str
    parameters: dict[str, str] = field(default_factory=dict)
    """-Name -> its value as written, single-quoted literals decoded; a switch maps to ''."""


def literal(token: str) -> str:
    """A single-quoted literal's value; anything else as written."""
    if len(token) >= 2 and token[0] == token[-1] == "'":
        return token[1:-1].replace("''", "'")
    return token


def cmdlets(script: str) -> list[Cmdlet]:
    """Every cmdlet invocation in `script`, in order, wherever it stands (a pipeline, a block)."""
    found: list[Cmdlet] = []
    for line in script.splitlines():
        tokens = _TOKEN.findall(line)
        index = 0
        while index < len(tokens):
            if tokens[index].startswith("("):  # a subexpression: its cmdlets run first
                found.extend(cmdlets(tokens[index][1:-1]))
            if not _CMDLET.fullmatch(tokens[index]):
                index += 1
                continue
            command = Cmdlet(tokens[index])
            index += 1
            while index < len(tokens) and tokens[index] not in "|;{}":
                token = tokens[index]
                if token.startswith("-") and token[1:2].isalpha():
                    value = ""
                    following = tokens[index + 1] if index + 1 < len(tokens) else "-"
                    if not following.startswith("-") and following not in "|;{}":
                        index += 1
                        value = literal(following)
                    command.parameters[token[1:]] = value
                index += 1
            found.append(command)
    return found


def named(script: str, name: str) -> list[Cmdlet]:
    return [command for command in cmdlets(script) if command.name == name]


def assignments(script: str) -> dict[str, str]:
    """`$name = '<literal>'` lines: the values a script starts from, decoded."""
    return {
        match["name"]: literal(match["value"])
        for match in re.finditer(r"^\$(?P<name>\w+) = (?P<value>'(?:[^']|'')*')$", script, re.M)
    }
