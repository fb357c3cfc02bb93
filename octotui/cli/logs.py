"""``octotui logs [PATH... | RUN | --node NODE]``: the log viewer on its own.

What to open is decided here, before the screen starts, so that a missing answers file or password is said
on the terminal (and the password can be prompted for) rather than inside the viewer:

- ``PATH``: a local file (several files can be merged in the viewer with m);
- ``RUN``: a run id or a unique prefix: its journal, then its steps' output and its nodes' logs;
- nothing: the latest run;
- ``--node NODE``: that node's ``OctopusServer.txt`` over WinRM, through the answers file of the run (or
  ``--answers``), cached under the run.

The screens load only here, by name, so that ``octotui --help`` never imports Textual.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from octotui.errors import BadInput, ExitCode
from octotui.logs.sources import Source, file_source, node_log_dir, run_sources


def _run_dir(home: Path, ref: str | None) -> Path | None:
    from octotui.run import store

    try:
        return store.resolve_run(home, ref)
    except store.RunNotFound as exc:
        if ref is None:
            return None
        raise BadInput(f"{ref!r} is neither a file nor a run: {exc}", "give a log file's path, or a run id "
                       "as `octotui runs` lists them") from exc


def _answers_for(run_dir: Path | None, answers: str | None) -> Path:
    if answers:
        return Path(answers).expanduser()
    if run_dir is not None:
        from octotui.run.start import run_answers

        found = run_answers(run_dir)
        if found is not None:
            return found
    where = f"run {run_dir.name} does not record its answers file" if run_dir else "there is no run to take it from"
    raise BadInput(f"octotui logs --node needs the answers file that names the nodes ({where})",
                   "give it with --answers ANSWERS.toml")


def plan_sources(targets: list[str], *, node: str | None = None, answers: str | None = None,
                 home: Path | None = None) -> tuple[list[Source], int, object | None]:
    """The logs to offer, which to open first, and how to reach the nodes (or None)."""
    from octotui.home import octotui_home

    home = home or octotui_home()
    files = [t for t in targets if Path(t).expanduser().exists()]
    runs = [t for t in targets if t not in files]
    if len(runs) > 1 or (runs and files):
        raise BadInput(f"{runs[0]!r} is neither a file nor a run", "give files, or one run id (see `octotui runs`)")
    if files and not node:
        return [file_source(Path(f).expanduser()) for f in files], 0, None
    run_dir = _run_dir(home, runs[0] if runs else None)
    sources = run_sources(run_dir) if run_dir is not None else []
    if node is None:
        if not sources:
            raise BadInput(f"No runs under {home / 'runs'} yet", "give the path of a log file, or start a run")
        return sources, 0, None
    from octotui.logs.access import access_from_file

    access = access_from_file(_answers_for(run_dir, answers))
    spec = access.node(node)
    path = node_log_dir(run_dir, spec.name, home) / "OctopusServer.txt"
    wanted = Source("node", f"{spec.name}: OctopusServer.txt", path, run=run_dir.name if run_dir else None,
                    node=spec.name)
    others = [s for s in sources if not (s.kind == "node" and s.node == spec.name and s.path.name == path.name)]
    for name in access.names:
        if name != spec.name and not any(s.kind == "node" and s.node == name for s in others):
            others.append(Source("node", f"{name}: OctopusServer.txt (fetch over WinRM)",
                                 node_log_dir(run_dir, name, home) / "OctopusServer.txt",
                                 run=run_dir.name if run_dir else None, node=name))
    return [wanted, *others], 0, access


def logs_command(targets: list[str], *, node: str | None = None, answers: str | None = None) -> int:
    sources, start, access = plan_sources(targets, node=node, answers=answers)
    screens = importlib.import_module("octotui.screens.logs")  # Textual loads only now
    screen = screens.LogScreen(sources, start, access=access)
    code = screens.run_logs(screen)
    return int(code if code is not None else ExitCode.OK)
