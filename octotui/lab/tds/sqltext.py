"""A very small T-SQL reader: enough grammar for the statements a preflight sends, and no more.

It understands ``SELECT`` lists of literals, parameters, ``@@`` variables, function calls and ``CAST``,
with an optional ``FROM`` one table ``WHERE col = value [AND ...]`` ``ORDER BY col``; ``SET`` options;
``USE``; ``CREATE DATABASE name [COLLATE c]``; ``EXEC`` of a procedure (positional or ``@name = value``
arguments); ``BEGIN TRAN``, ``COMMIT``, ``ROLLBACK`` and ``SAVE TRAN``; ``PRINT``; and ``IF a <op> b
statement [ELSE statement]``, which is how clients guard ``COMMIT``/``ROLLBACK`` with ``@@TRANCOUNT``.
Anything else is a ``SqlSyntaxError``: the lab answers it with a clear error instead of pretending to
have run it. Every statement keeps its source text, so that error can quote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class SqlSyntaxError(ValueError):
    """The text is outside the subset the lab's SQL Server understands."""


@dataclass(frozen=True)
class Token:
    kind: str  # "str" | "num" | "name" | "qname" (bracketed or quoted) | "var" | "param" | "op"
    text: str
    start: int = 0  # where the token is in the batch text, for quoting a statement
    end: int = 0


_TOKEN = re.compile(r"""
    (?P<ws>\s+|--[^\n]*|/\*.*?\*/)
  | (?P<str>N?'(?:[^']|'')*')
  | (?P<qname>\[(?:[^\]]|\]\])*\]|"(?:[^"]|"")*")
  | (?P<var>@@\w+)
  | (?P<param>@\w+|\?)
  | (?P<num>\d+)
  | (?P<name>[A-Za-z_#][\w$#]*)
  | (?P<op><>|!=|<=|>=|[(),*=;.<>+-])
""", re.VERBOSE | re.DOTALL | re.IGNORECASE)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise SqlSyntaxError(f"Incorrect syntax near '{text[pos:pos + 10]}'.")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "ws":
            continue
        if kind == "str":
            body = value[2:-1] if value[0] in "Nn" else value[1:-1]
            tokens.append(Token("str", body.replace("''", "'"), m.start(), m.end()))
        elif kind == "qname":
            close = "]" if value[0] == "[" else '"'
            tokens.append(Token("qname", value[1:-1].replace(close * 2, close), m.start(), m.end()))
        else:
            tokens.append(Token(kind, value, m.start(), m.end()))
    return tokens


# --- the syntax tree ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    value: str | int | None


@dataclass(frozen=True)
class Parameter:
    name: str  # "@p1" (lower case), or "?" followed by its position: "?1"


@dataclass(frozen=True)
class Variable:
    name: str  # "@@version", lower case


@dataclass(frozen=True)
class Call:
    name: str  # upper case
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Star:
    pass


@dataclass(frozen=True)
class ColumnRef:
    name: str  # lower case, for lookups
    written: str  # as the statement spelt it, for the result column's name


@dataclass(frozen=True)
class Cast:
    expr: Expr
    type: str  # lower case: int, bigint, bit, smallint, tinyint, nvarchar, varchar, sysname, ...
    length: int | None


Expr = Literal | Parameter | Variable | Call | Star | ColumnRef | Cast


@dataclass
class Select:
    items: list[tuple[Expr, str]]
    table: str | None = None  # "sys.tables", "dbo.octopusservernode": lower case, schema included
    where: list[tuple[str, Expr]] = field(default_factory=list)
    order_by: str | None = None
    source: str = ""  # the statement as written, for messages


@dataclass
class SetOption:
    text: str
    source: str = ""


@dataclass
class Use:
    database: str
    source: str = ""


@dataclass
class CreateDatabase:
    name: str
    collation: str | None = None
    source: str = ""


@dataclass
class Exec:
    procedure: str  # lower case, without schema
    args: list[Expr]
    names: list[str] = field(default_factory=list)  # "@dbname" (lower case) per argument, "" if positional
    source: str = ""


@dataclass
class Transaction:
    action: str  # "begin" | "commit" | "rollback" | "save"
    name: str | None = None  # the transaction or savepoint name, if one was given
    source: str = ""


@dataclass
class Print:
    expr: Expr
    source: str = ""


@dataclass
class If:
    left: Expr
    op: str  # "=", "<>", "<", ">", "<=", ">="
    right: Expr
    then: Statement
    otherwise: Statement | None = None
    source: str = ""


Statement = Select | SetOption | Use | Exec | CreateDatabase | Transaction | Print | If

_STATEMENT_START = {"SELECT", "SET", "USE", "EXEC", "EXECUTE", "CREATE", "BEGIN", "COMMIT", "ROLLBACK", "SAVE",
                    "PRINT", "IF", "ELSE"}
_TRAN_WORDS = {"TRAN", "TRANSACTION", "WORK"}
_COMPARISONS = {"=", "<>", "!=", "<", ">", "<=", ">="}
_NILADIC = {"SYSTEM_USER", "CURRENT_USER", "SESSION_USER", "USER"}
_CLAUSE_WORDS = {"FROM", "WHERE", "ORDER", "GROUP", "UNION", "AS", "AND", "OR", "BY", "HAVING", "INTO"}


class _Parser:
    def __init__(self, tokens: list[Token], text: str = "") -> None:
        self.text = text
        self.tokens = tokens
        self.pos = 0
        self.questions = 0

    # --- token helpers ---------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token | None:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise SqlSyntaxError("Incorrect syntax near the end of the statement.")
        self.pos += 1
        return tok

    def at_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "name" and tok.text.upper() in words

    def at_op(self, op: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "op" and tok.text == op

    def expect_op(self, op: str) -> None:
        tok = self.next()
        if tok.kind != "op" or tok.text != op:
            raise SqlSyntaxError(f"Incorrect syntax near '{tok.text}'.")

    def expect_word(self, word: str) -> None:
        tok = self.next()
        if tok.kind != "name" or tok.text.upper() != word:
            raise SqlSyntaxError(f"Incorrect syntax near '{tok.text}'.")

    def dotted_name(self) -> str:
        parts = [self._name_part()]
        while self.at_op("."):
            self.pos += 1
            parts.append(self._name_part())
        return ".".join(parts)

    def _name_part(self) -> str:
        tok = self.next()
        if tok.kind not in ("name", "qname"):
            raise SqlSyntaxError(f"Incorrect syntax near '{tok.text}'.")
        return tok.text

    # --- statements ------------------------------------------------------------------------------
    def statements(self) -> list[Statement]:
        out: list[Statement] = []
        while self.peek() is not None:
            if self.at_op(";"):
                self.pos += 1
                continue
            out.append(self.statement())
        return out

    def statement(self) -> Statement:
        first = self.pos
        stmt = self._statement()
        last = self.tokens[self.pos - 1] if self.pos > first else self.tokens[first]
        stmt.source = self.text[self.tokens[first].start:last.end]
        return stmt

    def _statement(self) -> Statement:
        tok = self.peek()
        assert tok is not None
        word = tok.text.upper() if tok.kind == "name" else ""
        if word in ("BEGIN", "COMMIT", "ROLLBACK", "SAVE"):
            return self.transaction(word)
        if word == "PRINT":
            self.pos += 1
            return Print(self.expr())
        if word == "IF":
            return self.if_statement()
        if word == "SELECT":
            return self.select()
        if word == "SET":
            return self.set_option()
        if word == "USE":
            self.pos += 1
            return Use(self._name_part())
        if word in ("EXEC", "EXECUTE"):
            self.pos += 1
            return self.exec_call()
        if word == "CREATE":
            self.pos += 1
            self.expect_word("DATABASE")
            create = CreateDatabase(self._name_part())
            if self.at_word("COLLATE"):
                self.pos += 1
                create.collation = self._name_part()
            return create
        if tok.kind in ("name", "qname") and self.pos == 0:
            return self.exec_call()  # a batch may start with a bare procedure name
        raise SqlSyntaxError(f"Incorrect syntax near '{tok.text}'.")

    def transaction(self, word: str) -> Transaction:
        self.pos += 1
        if word in ("BEGIN", "SAVE"):
            tok = self.next()  # BEGIN alone opens a BEGIN ... END block, which the lab does not read
            if tok.kind != "name" or tok.text.upper() not in ("TRAN", "TRANSACTION"):
                raise SqlSyntaxError(f"Incorrect syntax near '{tok.text}'.")
        elif self.at_word(*_TRAN_WORDS):
            self.pos += 1
        stmt = Transaction(word.lower())
        name = self.peek()
        if name is not None and (name.kind in ("qname", "param") or (
                name.kind == "name" and name.text.upper() not in _STATEMENT_START)):
            self.pos += 1
            stmt.name = name.text
        if word == "SAVE" and stmt.name is None:
            raise SqlSyntaxError("Incorrect syntax near 'TRANSACTION'.")
        return stmt

    def if_statement(self) -> If:
        self.pos += 1
        left = self.expr()
        tok = self.next()
        op = tok.text
        if tok.kind == "op" and op in ("<", ">", "!") and self.at_op("="):
            self.pos += 1
            op += "="
        elif tok.kind == "op" and op == "<" and self.at_op(">"):
            self.pos += 1
            op = "<>"
        if tok.kind != "op" or op not in _COMPARISONS:
            raise SqlSyntaxError(f"Incorrect syntax near '{tok.text}'.")
        right = self.expr()
        if self.peek() is None:
            raise SqlSyntaxError("Incorrect syntax near the end of the statement.")
        stmt = If(left, "<>" if op == "!=" else op, right, self.statement())
        if self.at_op(";"):
            self.pos += 1
        if self.at_word("ELSE"):
            self.pos += 1
            stmt.otherwise = self.statement()
        return stmt

    def set_option(self) -> SetOption:
        self.pos += 1
        words: list[str] = []
        while self.peek() is not None and not self.at_op(";") and not self.at_word(*_STATEMENT_START):
            words.append(self.next().text)
        if not words:
            raise SqlSyntaxError("Incorrect syntax near 'SET'.")
        return SetOption(" ".join(words))

    def exec_call(self) -> Exec:
        call = Exec(self.dotted_name().split(".")[-1].lower(), [])
        if self.peek() is not None and not self.at_op(";") and not self.at_word(*_STATEMENT_START):
            self._exec_arg(call)
            while self.at_op(","):
                self.pos += 1
                self._exec_arg(call)
        return call

    def _exec_arg(self, call: Exec) -> None:
        tok, after = self.peek(), self.peek(1)
        name = ""
        if tok is not None and tok.kind == "param" and after is not None and after.kind == "op" and after.text == "=":
            name = tok.text.lower()
            self.pos += 2
        call.args.append(self.expr())
        call.names.append(name)

    def select(self) -> Select:
        self.expect_word("SELECT")
        stmt = Select(items=[self.select_item()])
        while self.at_op(","):
            self.pos += 1
            stmt.items.append(self.select_item())
        if self.at_word("FROM"):
            self.pos += 1
            stmt.table = self.dotted_name().lower()
            if self.at_word("WHERE"):
                self.pos += 1
                stmt.where.append(self.condition())
                while self.at_word("AND"):
                    self.pos += 1
                    stmt.where.append(self.condition())
            if self.at_word("ORDER"):
                self.pos += 1
                self.expect_word("BY")
                stmt.order_by = self.dotted_name().split(".")[-1].lower()
                if self.at_word("ASC"):
                    self.pos += 1
        tok = self.peek()
        if tok is not None and not self.at_op(";") and not self.at_word(*_STATEMENT_START):
            raise SqlSyntaxError(f"Incorrect syntax near '{tok.text}'.")
        return stmt

    def condition(self) -> tuple[str, Expr]:
        column = self.dotted_name().split(".")[-1].lower()
        self.expect_op("=")
        return column, self.expr()

    def select_item(self) -> tuple[Expr, str]:
        expr = self.expr()
        alias = ""
        if self.at_word("AS"):
            self.pos += 1
            alias = self._alias()
        else:
            tok = self.peek()
            if tok is not None and (tok.kind == "qname" or (tok.kind == "name" and tok.text.upper() not in
                                                             _CLAUSE_WORDS | _STATEMENT_START)):
                alias = self._alias()
        if alias == "" and isinstance(expr, ColumnRef):
            alias = expr.written
        return expr, alias

    def _alias(self) -> str:
        tok = self.next()
        if tok.kind in ("name", "qname", "str"):
            return tok.text
        raise SqlSyntaxError(f"Incorrect syntax near '{tok.text}'.")

    # --- expressions -----------------------------------------------------------------------------
    def expr(self) -> Expr:
        tok = self.next()
        if tok.kind == "str":
            return Literal(tok.text)
        if tok.kind == "num":
            return Literal(int(tok.text))
        if tok.kind == "op" and tok.text == "-":
            number = self.next()
            if number.kind != "num":
                raise SqlSyntaxError(f"Incorrect syntax near '{number.text}'.")
            return Literal(-int(number.text))
        if tok.kind == "op" and tok.text == "(":
            inner = self.expr()
            self.expect_op(")")
            return inner
        if tok.kind == "op" and tok.text == "*":
            return Star()
        if tok.kind == "var":
            return Variable(tok.text.lower())
        if tok.kind == "param":
            if tok.text == "?":
                self.questions += 1
                return Parameter(f"?{self.questions}")
            return Parameter(tok.text.lower())
        if tok.kind in ("name", "qname"):
            word = tok.text.upper()
            if tok.kind == "name" and word == "NULL":
                return Literal(None)
            if tok.kind == "name" and word == "CAST" and self.at_op("("):
                return self.cast()
            if self.at_op("("):
                return self.call(word)
            if tok.kind == "name" and word in _NILADIC:
                return Call(word, ())
            name = tok.text
            while self.at_op("."):
                self.pos += 1
                name = self._name_part()
            return ColumnRef(name.lower(), name)
        raise SqlSyntaxError(f"Incorrect syntax near '{tok.text}'.")

    def call(self, name: str) -> Call:
        self.expect_op("(")
        args: list[Expr] = []
        if not self.at_op(")"):
            args.append(self.expr())
            while self.at_op(","):
                self.pos += 1
                args.append(self.expr())
        self.expect_op(")")
        return Call(name, tuple(args))

    def cast(self) -> Cast:
        self.expect_op("(")
        inner = self.expr()
        self.expect_word("AS")
        type_name = self._name_part().lower()
        length: int | None = None
        if self.at_op("("):
            self.pos += 1
            tok = self.next()
            if tok.kind == "num":
                length = int(tok.text)
            elif tok.kind == "name" and tok.text.upper() == "MAX":
                length = 4000
            else:
                raise SqlSyntaxError(f"Incorrect syntax near '{tok.text}'.")
            self.expect_op(")")
        self.expect_op(")")
        return Cast(inner, type_name, length)


def parse(text: str) -> list[Statement]:
    """The statements of a batch, in order; SqlSyntaxError for anything outside the subset."""
    return _Parser(tokenize(text), text).statements()


def declared_names(declaration: str) -> list[str]:
    """``@P1 nvarchar(4000),@P2 int`` -> ``["@p1", "@p2"]`` (lower case), for positional parameter values."""
    return [m.lower() for m in re.findall(r"@\w+", declaration or "")]
