"""The project's Markdown as the tests read it: pages, sections by heading, fenced blocks,
tables, links and GitHub's heading anchors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = (ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md")))
"""Every page a reader is sent to: the README, the changelog and docs/."""

FENCE = re.compile(r"^( *)```(\S*)[^\n]*$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$")


@dataclass(frozen=True)
class Block:
    """A fenced block: its page, the line its first content line is on, language, lines."""

    page: Path
    line: int
    language: str
    lines: tuple[str, ...]


def text(page: Path | str) -> str:
    path = ROOT / page if isinstance(page, str) else page
    return path.read_text(encoding="utf-8")


def blocks(page: Path | str) -> list[Block]:
    """Every fenced block of a page, indented ones (in list items) dedented."""
    path = ROOT / page if isinstance(page, str) else page
    found: list[Block] = []
    current: tuple[int, str, int, list[str]] | None = None
    for number, line in enumerate(text(path).splitlines(), 1):
        fence = FENCE.match(line)
        if current is None:
            if fence:
                current = (number + 1, fence.group(2), len(fence.group(1)), [])
            continue
        start, language, indent, lines = current
        if fence and not fence.group(2) and len(fence.group(1)) == indent:
            found.append(Block(path, start, language, tuple(lines)))
            current = None
        else:
            lines.append(line[indent:] if line[:indent].strip() == "" else line)
    assert current is None, f"{path.name}: a fence opened on line {current[0] - 1} never closes"
    return found


def section(page: Path | str, heading: str) -> str:
    """The text under `heading` (any level) up to the next heading of the same or a higher level."""
    lines = text(page).splitlines()
    outside = _outside_fences(lines)
    for index, line in enumerate(lines):
        if outside[index] and (m := re.match(r"^(#{1,6}) +(.+)$", line)) and m.group(2) == heading:
            level = len(m.group(1))
            end = next(
                (
                    later
                    for later in range(index + 1, len(lines))
                    if outside[later]
                    and (n := re.match(r"^(#{1,6}) ", lines[later]))
                    and len(n.group(1)) <= level
                ),
                len(lines),
            )
            return "\n".join(lines[index:end])
    raise AssertionError(f"{page}: no heading {heading!r}")


def _outside_fences(lines: list[str]) -> list[bool]:
    outside, inside, indent = [], False, 0
    for line in lines:
        fence = FENCE.match(line)
        if not inside and fence:
            inside, indent = True, len(fence.group(1))
            outside.append(False)
        elif inside:
            if fence and not fence.group(2) and len(fence.group(1)) == indent:
                inside = False
            outside.append(False)
        else:
            outside.append(True)
    return outside


def anchors(page: Path) -> set[str]:
    """The `#fragment` of each heading as GitHub makes it (lower case, punctuation dropped,
    spaces to hyphens, a repeated one numbered)."""
    lines = text(page).splitlines()
    seen: dict[str, int] = {}
    made = set()
    for line, outside in zip(lines, _outside_fences(lines), strict=True):
        if outside and (m := HEADING.match(line)):
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            made.add(slug if count == 0 else f"{slug}-{count}")
    return made


def links(page: Path) -> list[tuple[int, str]]:
    """Every Markdown link target outside code blocks, with its line."""
    lines = text(page).splitlines()
    found = []
    for number, (line, outside) in enumerate(zip(lines, _outside_fences(lines), strict=True), 1):
        if outside:
            # Code spans hold no links: drop them first.
            found += [(number, target) for target in LINK.findall(re.sub(r"`[^`]*`", "", line))]
    return found


def tables(page: Path) -> list[tuple[int, list[str]]]:
    """Every table outside code blocks (lines that start with `|`, one after another): the
    line its first row is on, and its rows."""
    lines = text(page).splitlines()
    found: list[tuple[int, list[str]]] = []
    previous = False
    for number, (line, outside) in enumerate(zip(lines, _outside_fences(lines), strict=True), 1):
        row = outside and line.startswith("|")
        if row and previous:
            found[-1][1].append(line)
        elif row:
            found.append((number, [line]))
        previous = row
    return found
