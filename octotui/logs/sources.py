"""What there is to review: a run's journal, its steps' output, its runner log, the node logs fetched for it,
any file; and, for a failed step, the line its log failed at.

Everything a run writes is under ``OCTOTUI_HOME/runs/<id>/``: ``journal.jsonl``, ``runner.log`` and
``<node>/<step>.log``. Node logs fetched over WinRM are kept beside them, under ``node-logs/<node>/``, so a
run's folder holds what was seen when it was reviewed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octotui.logs.document import LogDocument
from octotui.logs.formats import Level

NODE_LOGS = "node-logs"
#: The suffix of the file that describes a fetched node log (where it came from, which part we have).
META_SUFFIX = ".meta.json"


@dataclass(frozen=True)
class Source:
    """One log a viewer can open."""

    kind: str  # journal | runner | step | node | file
    label: str
    path: Path
    run: str | None = None
    node: str | None = None
    step: str | None = None
    #: For a node log: the file's path on the node (None until it was listed), and its clock's UTC offset.
    remote_path: str | None = None
    utc_offset: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def fetched(self) -> bool:
        return self.kind != "node" or self.path.exists()


def path_component(name: str) -> str:
    """A node's name as one harmless folder name under ``node-logs/`` (no separators, no ``..``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._") or "_"
    return cleaned[:100]


def step_log_path(run_dir: Path, node: str, step: str) -> Path | None:
    """The step's output log, if the run wrote one. The runner names it after the node and the step
    (made safe as path components); node names and step ids are plain words, so the names match."""
    path = Path(run_dir) / node / f"{step}.log"
    if path.exists():
        return path
    folder = Path(run_dir) / path_component(node)
    found = folder / f"{path_component(step)}.log"
    return found if found.exists() else None


def node_log_dir(run_dir: Path | None, node: str, home: Path | None = None) -> Path:
    """Where a node's fetched logs are kept: under the run when there is one, else under OCTOTUI_HOME."""
    if run_dir is not None:
        return Path(run_dir) / NODE_LOGS / path_component(node)
    if home is None:
        from octotui.home import octotui_home

        home = octotui_home()
    return Path(home) / NODE_LOGS / path_component(node)


def journal_events(run_dir: Path) -> list[dict[str, Any]]:
    """The run's journal events (one JSON object a line; a torn or unreadable line is skipped, as the run's
    own readers do)."""
    events: list[dict[str, Any]] = []
    try:
        data = (Path(run_dir) / "journal.jsonl").read_bytes()
    except OSError:
        return events
    for raw in data.split(b"\n"):
        try:
            event = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(event, dict) and isinstance(event.get("type"), str):
            events.append(event)
    return events


def _plan(run_dir: Path) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The run's nodes and its steps ``(node, step, title)`` in plan order, from the journal."""
    nodes: list[str] = []
    steps: list[tuple[str, str, str]] = []
    for event in journal_events(run_dir):
        if event.get("type") == "run_started":
            nodes = [str(n) for n in event.get("nodes") or []]
            plan = event.get("plan") or {}
            steps = []
            for node, items in (plan.items() if isinstance(plan, dict) else []):
                for item in items if isinstance(items, list) else []:
                    if isinstance(item, dict):
                        steps.append((str(node), str(item.get("step", "")), str(item.get("title", ""))))
    return nodes, steps


def run_sources(run_dir: Path) -> list[Source]:
    """Every log of a run: the journal, the runner log, each step's output (in plan order, those that
    ran), and for each node its fetched logs (or a node entry to fetch them)."""
    run_dir = Path(run_dir)
    run = run_dir.name
    out = [Source("journal", f"run {run}: journal", run_dir / "journal.jsonl", run=run)]
    if (run_dir / "runner.log").exists():
        out.append(Source("runner", f"run {run}: runner.log", run_dir / "runner.log", run=run))
    nodes, steps = _plan(run_dir)
    seen: set[Path] = set()
    for node, step, title in steps:
        path = step_log_path(run_dir, node, step)
        if path is not None:
            seen.add(path)
            out.append(Source("step", f"{node} {step}: {title}" if title else f"{node} {step}", path,
                              run=run, node=node, step=step))
    for path in sorted(run_dir.glob("*/*.log")):
        if path not in seen and path.parent.name != NODE_LOGS:
            out.append(Source("step", f"{path.parent.name} {path.stem}", path, run=run, node=path.parent.name,
                              step=path.stem))
    for node in nodes or sorted({s[0] for s in steps}):
        cached = cached_node_logs(run_dir, node)
        out.extend(cached)
        if not any(s.path.name.lower() == "octopusserver.txt" for s in cached):
            out.append(Source("node", f"{node}: OctopusServer.txt (fetch over WinRM)",
                              node_log_dir(run_dir, node) / "OctopusServer.txt", run=run, node=node))
    return out


def read_meta(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(str(path) + META_SUFFIX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cached_node_logs(run_dir: Path | None, node: str, home: Path | None = None) -> list[Source]:
    """The logs of ``node`` fetched before (under the run, or OCTOTUI_HOME without one)."""
    folder = node_log_dir(run_dir, node, home)
    out: list[Source] = []
    if not folder.is_dir():
        return out
    for path in sorted(folder.iterdir()):
        if path.name.endswith(META_SUFFIX) or path.name.startswith(".") or not path.is_file():
            continue
        meta = read_meta(path)
        offset = meta.get("utc_offset_s")
        remote = meta.get("remote_path")
        what = f"{path.name} ({_fetched_words(meta)})" if meta else path.name
        out.append(Source("node", f"{node}: {what}", path, run=Path(run_dir).name if run_dir else None, node=node,
                          remote_path=str(remote) if remote else None,
                          utc_offset=float(offset) if isinstance(offset, int | float) else None, extra=meta))
    return out


def _fetched_words(meta: dict[str, Any]) -> str:
    size = meta.get("remote_size")
    start = meta.get("start")
    if isinstance(size, int) and isinstance(start, int) and start > 0:
        return f"last {_mb(size - start)} of {_mb(size)}"
    return f"{_mb(size)}" if isinstance(size, int) else "fetched"


def _mb(n: int) -> str:
    if n < 1 << 20:
        return f"{max(1, n // 1024) if n else 0} KB"
    return f"{n / (1 << 20):.1f} MB"


def file_source(path: Path) -> Source:
    return Source("file", str(path), Path(path))


# --- a failed step's log at its failing line ----------------------------------------------------------------

def failing_line(doc: LogDocument, error: str = "") -> int:
    """The line of a failed step's log that shows the failure: the last one that holds the error's words
    (its first line, or its longest distinctive part), else the last ERROR-looking entry, else the last
    line."""
    from octotui.logs.levelfilter import find_level
    from octotui.logs.search import Query, find

    total = doc.line_count
    if total == 0:
        return 0
    for needle in _needles(error):
        found = find(doc, Query(needle, case=True), total, backward=True)
        if found is not None:
            return doc.entry_start(found)
    found = find_level(doc, Level.ERROR, total, backward=True)
    if found is not None:
        return found
    return total - 1


def _needles(error: str) -> list[str]:
    """Parts of an error message worth looking for in the log it came from, most specific first."""
    out: list[str] = []
    for line in error.splitlines():
        line = line.strip()
        if len(line) >= 8:
            out.append(line[:120])
        # "OCTO1: Octopus.Server.exe database failed (exit 1): <what it printed>" -> the printed part
        for sep in (": ", " - "):
            if sep in line:
                tail = line.rsplit(sep, 1)[1].strip()
                if len(tail) >= 8 and tail not in out:
                    out.append(tail[:120])
    return out
