"""Text from input, made safe to print on a terminal or to render as Markdown.

Anything a report shows may come from a hostile file or a hostile tenant (a display name set
in the portal, an error message, a file name). On a terminal an escape sequence could rewrite
the screen and a newline could forge a report line; in a GitHub job summary a backtick could
close a code span and `<`, `[...]( )` or a bare URL could become live HTML or a link. Pure
functions on top of `association.text.visible`, the one way text is put on one line.
"""

from __future__ import annotations

import re
from typing import Final

from association.text import visible

__all__ = ["md_code", "md_fence", "md_text", "visible_lines"]

_MARKDOWN_ACTIVE: Final = re.compile(
    r"[\\`*_\[\]<>&|~@$]"  # emphasis, code, links, HTML and entities, tables, strike, math
    r"|(?<=[A-Za-z]):(?=//)"  # the colon of `scheme://`, which GitHub turns into a link
    r"|(?<=[wW]{3})\."  # the dot of `www.`, likewise
)


def visible_lines(text: str) -> str:
    """Like `visible`, keeping line breaks: for a block shown as several lines."""
    return "\n".join(visible(line) for line in text.splitlines())


def md_text(text: str) -> str:
    """Plain text inside Markdown (also a table cell): one line, nothing that formats, links
    or opens HTML."""
    return _MARKDOWN_ACTIVE.sub(lambda match: "\\" + match.group(), visible(text))


def md_code(text: str) -> str:
    """An inline code span (also in a table cell) that no backtick in `text` can close."""
    body = visible(text).replace("|", "\\|")
    fence = "`" * (_longest_backtick_run(body) + 1)
    if body.startswith(("`", " ")) or body.endswith(("`", " ")):
        body = f" {body} "
    return f"{fence}{body}{fence}"


def md_fence(text: str, info: str = "text") -> list[str]:
    """A fenced code block of `text` (lines kept, controls escaped) that no line can close."""
    body = visible_lines(text)
    fence = "`" * max(3, _longest_backtick_run(body) + 1)
    return [f"{fence}{info}", *body.splitlines(), fence]


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)
