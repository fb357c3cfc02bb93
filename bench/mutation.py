"""Mutation testing of the pure modules, each against its own tests only: the score per module and every survivor.

Why: a test suite that passes says nothing about whether it would fail on a wrong result. mutmut (3.x) changes
the code one small step at a time (``<`` to ``<=``, ``and`` to ``or``, a constant, a dropped call) and runs the
module's tests against each change; a change no test notices ("survivor") is behaviour nobody checks. Each module
is run against ITS OWN tests only, so a score cannot be borrowed from an end-to-end test that happens to pass
through it. Aim: at least 90% killed per module, and every survivor left either killed by a new test or known to
be equivalent (a change no caller can observe).

How: the checkout (``git ls-files`` plus untracked files that are not ignored) is copied to a temporary folder
and mutmut runs there, so its ``mutants/`` folder and cache never land in the working tree. A ``setup.cfg``
written into the copy tells mutmut which file to mutate and which tests to run; a ``tests/conftest.py`` written
into the copy loads a Hypothesis profile with ``derandomize=True`` and no example database, so every run tries
the same examples and a score does not move between runs; it also caps each property's examples (25 for
quoting, whose properties go through the lab's cmd.exe and WinRM; 100 elsewhere; ``--max-examples``), because
every surviving mutant costs a full run of the tests. mutmut runs with one worker (``--max-children 1``): the
machine is shared. A target takes from 2 minutes (plan_build, redact) to 5 (quoting) and 18 (parsers) on two
shared cores.

    python bench/mutation.py                      # every target, one after the other
    python bench/mutation.py quoting redact       # some targets (quoting, parsers, redact, plan_build)
    python bench/mutation.py --list               # the targets and their tests
    python bench/mutation.py parsers --keep /tmp/m  # keep the copy, e.g. for `mutmut browse` there

Output: per module, killed/total and the score, then each surviving mutant (with ``--diffs``, its diff; or
``--keep DIR`` and ``mutmut show NAME`` there); with ``--json FILE`` the same figures as JSON. The exit
status is 1 when a module scores below ``--min-score`` (default 0, report only; CI can pass 90).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    """One mutmut run: the source files it mutates and the test files (its own) that must catch the mutants."""

    sources: tuple[str, ...]
    tests: tuple[str, ...]
    #: The cap on each property's examples during the run (see --max-examples): a survivor costs a full run of
    #: the tests, and the quoting properties go through the lab's cmd.exe and over WinRM.
    max_examples: int = 100


_PARSERS = ("accounts", "connstr", "errors", "hostnames", "prefixes", "versions", "winpath")

TARGETS: dict[str, Target] = {
    "quoting": Target(("octotui/windows/quoting.py",),
                      ("tests/unit/test_windows_quoting.py", "tests/unit/test_quoting_exact.py"), max_examples=25),
    # The parsers share one test module; each file is scored on its own.
    "parsers": Target(tuple(f"octotui/spec/parsers/{p}.py" for p in _PARSERS),
                      ("tests/unit/test_parsers.py", "tests/unit/test_connstr_exact.py",
                       "tests/unit/test_parsers_exact.py")),
    "redact": Target(("octotui/secrets/redact.py",),
                     ("tests/unit/test_redact.py", "tests/unit/test_redact_exact.py")),
    "plan_build": Target(("octotui/plan/build.py",), ("tests/unit/test_plan_build_exact.py",)),
}

#: mutmut's exit codes (mutmut.stats.status_by_exit_code): what each one says about a mutant.
_KILLED = {1, 3, 37}  # a test failed (3: pytest's internal error, also a failure); 37: the type checker
_TIMEOUT = {36, 24, -24, 152, 255}  # the tests hung: the mutant was noticed
_SURVIVED = {0}

_CONFTEST = '''\
"""Written by bench/mutation.py into its temporary copy only: Hypothesis tries the same examples every run, and
at most OCTOTUI_MUTATION_MAX_EXAMPLES of them per property (0: as many as each test asks for)."""
import os

from hypothesis import settings

_CAP = int(os.environ.get("OCTOTUI_MUTATION_MAX_EXAMPLES", "0"))
if _CAP:
    _init = settings.__init__

    def _capped(self, parent=None, **kwargs):
        if kwargs.get("max_examples", 0) > _CAP:
            kwargs["max_examples"] = _CAP
        _init(self, parent, **kwargs)

    settings.__init__ = _capped
settings.register_profile("mutation", derandomize=True, database=None, deadline=None, print_blob=False,
                          **({"max_examples": min(_CAP, 100)} if _CAP else {}))
settings.load_profile("mutation")
'''


def _checkout_files() -> list[str]:
    """Tracked files plus new files nobody has told git to ignore: the tree as its author sees it."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         check=True, capture_output=True).stdout.decode()
    return sorted({f for f in out.split("\0") if f and (ROOT / f).is_file()})


def _copy_checkout(dest: Path) -> None:
    for rel in _checkout_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)


def _write_config(dest: Path, target: Target) -> list[str]:
    """setup.cfg for mutmut in the copy (pyproject.toml carries no [tool.mutmut], so mutmut reads this)."""
    tests = [t for t in target.tests if (dest / t).is_file()]
    if not tests:
        raise SystemExit(f"none of the tests exist: {', '.join(target.tests)}")

    def lines(values: list[str] | tuple[str, ...]) -> str:
        return "".join(f"\n    {v}" for v in values)

    cfg = ["[mutmut]", "source_paths = octotui", f"only_mutate ={lines(target.sources)}",
           f"pytest_add_cli_args_test_selection ={lines(tests)}",
           f"pytest_add_cli_args ={lines(['-p', 'no:cacheprovider'])}"]
    (dest / "setup.cfg").write_text("\n".join(cfg) + "\n", encoding="utf-8")
    conftest = dest / "tests" / "conftest.py"
    if conftest.exists():
        conftest.write_text(conftest.read_text(encoding="utf-8") + "\n" + _CONFTEST, encoding="utf-8")
    else:
        conftest.write_text(_CONFTEST, encoding="utf-8")
    return tests


def _mutmut() -> str:
    found = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which("mutmut")
    if found is None:
        raise SystemExit("mutmut is not installed: pip install -e '.[test]' (or pip install mutmut)")
    return found


def _results(dest: Path, source: str) -> dict[str, int | None]:
    meta = dest / "mutants" / f"{source}.meta"
    if not meta.exists():
        return {}
    data: dict[str, Any] = json.loads(meta.read_text(encoding="utf-8"))
    codes: dict[str, int | None] = data.get("exit_code_by_key", {})
    return codes


def _diff(dest: Path, name: str) -> str:
    shown = subprocess.run([_mutmut(), "show", name], cwd=dest, capture_output=True, text=True)
    lines = shown.stdout.splitlines()
    # mutmut prints "# name: survived" and a unified diff; keep the changed lines and their hunk headers.
    keep = [ln for ln in lines if ln.startswith(("@@", "-", "+")) and not ln.startswith(("---", "+++"))]
    return "\n".join(keep)


def run_target(name: str, target: Target, keep: Path | None, quiet: bool, max_examples: int) -> dict[str, Any]:
    """Run mutmut on one target in a fresh copy; figures per source file, with each survivor's diff."""
    work = Path(tempfile.mkdtemp(prefix=f"octotui-mutation-{name}-"))
    try:
        dest = work / "repo"
        dest.mkdir()
        _copy_checkout(dest)
        tests = _write_config(dest, target)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OCTOTUI_MUTATION_MAX_EXAMPLES=str(max_examples))
        started = time.monotonic()
        proc = subprocess.run([_mutmut(), "run", "--max-children", "1"], cwd=dest, env=env,
                              capture_output=True, text=True)
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
            raise SystemExit(f"mutmut run failed for {name} (exit {proc.returncode}):\n{tail}")
        modules = []
        for source in target.sources:
            codes = _results(dest, source)
            killed = sum(1 for c in codes.values() if c in _KILLED)
            timeout = sum(1 for c in codes.values() if c in _TIMEOUT)
            survived = sorted(k for k, c in codes.items() if c in _SURVIVED)
            other = sorted(k for k, c in codes.items() if c not in _KILLED | _TIMEOUT | _SURVIVED)
            total = len(codes)
            score = (killed + timeout) / total if total else 1.0
            modules.append({
                "module": source, "mutants": total, "killed": killed, "timeout": timeout,
                "survived": len(survived), "not_run": len(other), "score": round(score, 4),
                "survivors": [{"name": k, "diff": "" if quiet else _diff(dest, k)} for k in survived],
                "not_run_names": other,
            })
        return {"target": name, "tests": tests, "seconds": round(seconds, 1), "max_examples": max_examples,
                "modules": modules}
    finally:
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copytree(work / "repo", keep / name, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def _print(result: dict[str, Any]) -> None:
    print(f"== {result['target']} ({result['seconds']} s; at most {result['max_examples'] or 'all'} examples per "
          f"property; tests: {', '.join(result['tests'])})")
    for m in result["modules"]:
        not_run = f", {m['not_run']} not run" if m["not_run"] else ""
        print(f"   {m['module']}: {m['killed'] + m['timeout']}/{m['mutants']} killed ({m['score']:.1%}), "
              f"{m['survived']} survived{not_run}")
        for s in m["survivors"]:
            print(f"     survived: {s['name']}")
            if s["diff"]:
                print(textwrap.indent(s["diff"], "         "))
        for n in m["not_run_names"]:
            print(f"     not run (no test covers it, or mutmut could not run it): {n}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help=f"what to mutate: {', '.join(TARGETS)} (default: all, one after the other)")
    parser.add_argument("--list", action="store_true", help="list the targets and their tests, run nothing")
    parser.add_argument("--diffs", action="store_true",
                        help="print each survivor's diff too (one `mutmut show` each: slow with hundreds)")
    parser.add_argument("--keep", type=Path, help="copy each run's folder here (for mutmut browse/show)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--tests", nargs="+", metavar="FILE",
                        help="run against these test files instead of the target's own (one target only): e.g. "
                             "the old tests alone, to measure what new tests add")
    parser.add_argument("--max-examples", type=int,
                        help="cap every property test at this many examples (0: as many as each asks for; default "
                             "per target: 25 for quoting, 100 for the rest). The quoting properties ask for up to "
                             "2000 lab round trips each, which for its 480 mutants would take hours on two cores")
    parser.add_argument("--min-score", type=float, default=0.0, help="exit 1 if a module scores below (0-100)")
    args = parser.parse_args(argv)
    names = args.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    if args.list:
        for n in names:
            print(f"{n}: {' '.join(TARGETS[n].sources)}\n    tests: {' '.join(TARGETS[n].tests)}")
        return 0
    if args.tests:
        if len(names) != 1:
            parser.error("--tests needs exactly one target")
        TARGETS[names[0]] = dataclasses.replace(TARGETS[names[0]], tests=tuple(args.tests))
    results = []
    for n in names:
        cap = TARGETS[n].max_examples if args.max_examples is None else args.max_examples
        result = run_target(n, TARGETS[n], args.keep, not args.diffs, cap)
        _print(result)
        results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    low = [m["module"] for r in results for m in r["modules"] if m["mutants"] and m["score"] * 100 < args.min_score]
    if low:
        print(f"below {args.min_score}%: {', '.join(low)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
