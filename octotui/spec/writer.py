"""Answers as data: TOML out (never a secret), TOML in as the raw table, and problems per field.

The wizard edits the answers as the same nested dict a TOML file parses to (``parse_answers`` validates
exactly that dict), so what it saves is what ``octotui apply`` reads, and a half-filled draft is still a
value it can save and reopen. Only keys of ``octotui.spec.answers.SCHEMA`` are written: a key that is not part
of the format (and so possibly a secret someone typed into the wrong place) never reaches the file.

``field_problems`` answers "what is wrong with this field right now" with the same rules as a whole file
(``parse_answers``), so a field is judged as it will be when the run starts: one set of rules, two faces.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from octotui.home import write_private_text
from octotui.spec.answers import SCHEMA, AnswersError, Problem, parse_answers

HEADER = ("# Answers for `octotui apply` (written by the octotui wizard).\n"
          "# No secrets here: passwords come from OCTOTUI_WINRM_PASSWORD and OCTOTUI_SERVICE_PASSWORD,\n"
          "# the master key from OCTOTUI_MASTER_KEY, or from the keyring.\n")

#: Order of the tables in a written file (the order the wizard asks for them).
ORDER = ("mode", "octopus_version", "instance", "winrm", "nodes", "service_account", "sql", "storage", "web",
         "install", "admin", "license", "ad")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or \
        (isinstance(value, list | dict) and not value)


def clean_answers(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with unknown keys, empty values and empty tables removed, tables in file order."""
    out: dict[str, Any] = {}
    for name in ORDER:
        if name not in data:
            continue
        allowed = SCHEMA[name]
        value = data[name]
        if allowed is None:
            if not _blank(value) and not isinstance(value, dict | list):
                out[name] = value.strip() if isinstance(value, str) else value
            continue
        if name == "nodes":
            rows = [{k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()
                     if k in allowed and not _blank(v)}
                    for row in (value if isinstance(value, list) else []) if isinstance(row, Mapping)]
            rows = [r for r in rows if r]
            if rows:
                out[name] = rows
            continue
        if not isinstance(value, Mapping):
            continue
        table = {}
        for k, v in value.items():
            if k not in allowed or _blank(v):
                continue
            if isinstance(v, list):
                v = [x.strip() if isinstance(x, str) else x for x in v if not _blank(x)]
                if not v:
                    continue
            table[k] = v.strip() if isinstance(v, str) else v
        if table:
            out[name] = table
    return out


def dumps_answers(data: Mapping[str, Any]) -> str:
    """The answers as TOML text, with a header saying where secrets come from."""
    import tomli_w

    return HEADER + "\n" + tomli_w.dumps(clean_answers(data))


def write_answers_file(path: Path, data: Mapping[str, Any]) -> Path:
    """Write the answers atomically, readable by the owner only (they name hosts and accounts); the folder
    they are saved into is the user's, and keeps its permissions."""
    return write_private_text(Path(path), dumps_answers(data), own_folder=False)


def read_answers_data(path: Path) -> dict[str, Any]:
    """The raw table of an answers file (not validated: the wizard shows its problems per field);
    raises ``AnswersError`` when it cannot be read or is not TOML."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnswersError([Problem("(file)", f"cannot be read: {exc}", "check the path and permissions")],
                           str(file)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AnswersError([Problem("(file)", f"is not valid TOML: {exc}", "fix the syntax there")],
                           str(file)) from None


def all_problems(data: Mapping[str, Any], *, base_dir: Path | None = None) -> list[Problem]:
    """Every problem ``octotui apply`` would report for these answers (empty: they are valid)."""
    try:
        parse_answers(clean_answers(data), base_dir=base_dir)
    except AnswersError as exc:
        return exc.problems
    return []


def key_belongs(problem_key: str, field: str) -> bool:
    """Whether a problem's key (``nodes[2].home``, ``web.listen_prefixes[1]``) concerns ``field``."""
    if problem_key == field:
        return True
    return problem_key.startswith((field + ".", field + "["))


def field_problems(data: Mapping[str, Any], fields: Iterable[str], *,
                   base_dir: Path | None = None) -> dict[str, list[Problem]]:
    """For each field key, the problems the whole-file rules find for it (an empty list: it is fine)."""
    problems = all_problems(data, base_dir=base_dir)
    return {f: [p for p in problems if key_belongs(p.key, f)] for f in fields}


def with_value(data: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with one value set by a dotted path (``winrm.username``, ``nodes[2].home``)."""
    out = copy.deepcopy(dict(data))
    set_value(out, path, value)
    return out


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        if "[" in part and part.endswith("]"):
            name, _, index = part[:-1].partition("[")
            steps += [name, int(index) - 1]
        else:
            steps.append(part)
    return steps


def get_value(data: Mapping[str, Any], path: str, default: Any = None) -> Any:
    cur: Any = data
    for step in _steps(path):
        if isinstance(step, int):
            if not isinstance(cur, list) or step >= len(cur):
                return default
            cur = cur[step]
        else:
            if not isinstance(cur, Mapping) or step not in cur:
                return default
            cur = cur[step]
    return cur


def set_value(data: dict[str, Any], path: str, value: Any) -> None:
    """Set one value in place, creating tables and list rows on the way."""
    steps = _steps(path)
    cur: Any = data
    for i, step in enumerate(steps[:-1]):
        nxt = steps[i + 1]
        if isinstance(step, int):
            while len(cur) <= step:
                cur.append({})
            cur = cur[step]
        else:
            if step not in cur or not isinstance(cur[step], dict | list):
                cur[step] = [] if isinstance(nxt, int) else {}
            cur = cur[step]
    last = steps[-1]
    if isinstance(last, int):
        while len(cur) <= last:
            cur.append({})
        cur[last] = value
    else:
        cur[last] = value
