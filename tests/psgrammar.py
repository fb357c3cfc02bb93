"""PowerShell syntax checking for the tests, with a real grammar: tree-sitter-powershell.

``syntax_problems(text)`` lists every ERROR and MISSING node of the parse tree (line:column and the text
there), so a test can assert that a script the project emits or sends parses. A fixtures module: test
modules import it, it imports no test module.

One rule is checked on top of the grammar, because the grammar does not know it: PowerShell's tokenizer
takes the typographic single quotes U+2018, U+2019, U+201A and U+201B for ``'``, so inside a verbatim
('...') string each run of single-quote characters must have an even length (each doubled quote stands for
one); the grammar treats the typographic ones as plain letters and would let an undoubled one through.

Allowances for grammar limitations: none are needed. Every script in assets/ps and every export parses
without an ERROR or MISSING node; should a construct PowerShell accepts ever be refused by the grammar, add
it here as a named, minimal allowance (the construct and why), never as a skip of a whole script.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import tree_sitter
import tree_sitter_powershell

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))

#: Characters PowerShell's tokenizer reads as a single quote.
SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_QUOTE_RUN = re.compile(f"[{SINGLE_QUOTES}]+")


def _nodes(root: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def _where(source: bytes, node: tree_sitter.Node) -> str:
    row, col = node.start_point
    line = source.splitlines()[row] if row < len(source.splitlines()) else b""
    return f"line {row + 1}, column {col + 1}: {line.decode('utf-8', 'replace').strip()[:160]!r}"


def syntax_problems(text: str) -> list[str]:
    """Every place where ``text`` is not valid PowerShell; empty when it parses."""
    source = text.encode("utf-8")
    tree = PARSER.parse(source)
    problems: list[str] = []
    for node in _nodes(tree.root_node):
        if node.type == "ERROR":
            problems.append(f"syntax error at {_where(source, node)}")
        elif node.is_missing:
            problems.append(f"missing {node.type!r} at {_where(source, node)}")
        elif node.type == "verbatim_string_characters":
            inner = source[node.start_byte:node.end_byte].decode("utf-8")[1:-1]
            if any(len(run) % 2 for run in _QUOTE_RUN.findall(inner)):
                problems.append(f"an undoubled single quote ends this string early at {_where(source, node)}")
    if tree.root_node.has_error and not problems:
        problems.append("the parser reports an error it did not place")
    return problems
