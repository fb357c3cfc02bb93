"""The wizard's draft: its answers and where it was, saved as they change, so a lost session reopens there.

Kept under ``OCTOTUI_HOME/wizard/`` (private): ``draft.toml`` is an answers file like any other (never a
secret: ``octotui.spec.writer`` writes it), ``draft.json`` says which screen was open and which answers
file the draft belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octotui.home import octotui_home, write_private_text

DRAFT_TOML = "draft.toml"
DRAFT_JSON = "draft.json"


def draft_dir(home: Path | None = None) -> Path:
    return (home or octotui_home()) / "wizard"


@dataclass
class Draft:
    data: dict[str, Any]
    screen: str
    answers_file: str | None


def save_draft(data: Mapping[str, Any], screen: str, answers_file: str | None = None,
               home: Path | None = None) -> None:
    from octotui.spec.writer import dumps_answers

    folder = draft_dir(home)
    write_private_text(folder / DRAFT_TOML, dumps_answers(data))
    write_private_text(folder / DRAFT_JSON, json.dumps({"screen": screen, "answers_file": answers_file}) + "\n")


def load_draft(home: Path | None = None) -> Draft | None:
    """The saved draft, or None when there is none (or it cannot be read)."""
    from octotui.spec.answers import AnswersError
    from octotui.spec.writer import read_answers_data

    folder = draft_dir(home)
    try:
        meta = json.loads((folder / DRAFT_JSON).read_text(encoding="utf-8"))
        data = read_answers_data(folder / DRAFT_TOML)
    except (OSError, ValueError, AnswersError):
        return None
    if not isinstance(meta, dict):
        return None
    return Draft(data=data, screen=str(meta.get("screen") or "welcome"), answers_file=meta.get("answers_file"))


def clear_draft(home: Path | None = None) -> None:
    folder = draft_dir(home)
    for name in (DRAFT_TOML, DRAFT_JSON):
        (folder / name).unlink(missing_ok=True)
