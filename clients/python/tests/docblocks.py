"""Fenced code blocks of a Markdown document, for tests that run a document's examples."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import List

_FENCE = re.compile(r"^( *)```([^\n`]*)\n(.*?)^\1```[ \t]*$", re.M | re.S)


@dataclass
class Block:
    info: str   # the fence's info string: "python", "python rq", "sh long-running", …
    text: str
    line: int   # where the block starts in the document (1-based)

    @property
    def lang(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    @property
    def tags(self) -> List[str]:
        return self.info.split()[1:]

    def describe(self) -> str:
        first = self.text.strip().splitlines()[0] if self.text.strip() else ""
        return f"block at line {self.line} ({self.info}): {first}"


def blocks(markdown: str) -> List[Block]:
    """Every fenced block at the top level of the document, in order."""
    return [Block(m.group(2).strip(), textwrap.dedent(m.group(3)), markdown.count("\n", 0, m.start()) + 1)
            for m in _FENCE.finditer(markdown)]
