"""``octotui check ANSWERS [--json]``: every preflight check for an answers file, at once, before any change.

The suite is ``octotui.checks.suite``; this command loads the answers and the secrets as ``apply`` does,
runs the suite and prints a table or one JSON array. Exit codes: 0 nothing failed, 1 a check failed, 2 bad
input (answers or secrets), 3 interrupted.
"""

from __future__ import annotations

import sys

from octotui.checks.deadline import DEFAULT_DEADLINE_S
from octotui.checks.report import format_table, to_json
from octotui.checks.runner import run_checks
from octotui.checks.suite import build_checks, gather_passwords
from octotui.cli.output import err
from octotui.cli.prompts import ask_secret
from octotui.errors import BadInput, ExitCode, OctotuiError


def check_command(answers: str, json_out: bool, *, deadline_s: float = DEFAULT_DEADLINE_S) -> int:
    """Run every check for ``answers``; print a table (or JSON); 0 nothing failed, 1 a failure, 2 bad input."""
    from octotui.run.prepare import load_spec
    from octotui.secrets.redact import default_redactor

    try:
        spec = load_spec(answers)
        if deadline_s <= 0:
            raise BadInput("--deadline must be a positive number of seconds")
        passwords = gather_passwords(spec, prompt=ask_secret)
        run = run_checks(build_checks(spec, passwords, deadline_s=deadline_s))
        try:
            while not run.wait(0.2):
                pass
        except KeyboardInterrupt:
            run.cancel()
            run.wait(2)
            err("interrupted; results so far:")
            sys.stdout.write(default_redactor().redact(format_table(run.results(), run.wall_s)))
            return int(ExitCode.CANCELLED)
        results = run.results()
        text = to_json(results) if json_out else format_table(results, run.wall_s)
        sys.stdout.write(default_redactor().redact(text))
        sys.stdout.flush()
        return int(ExitCode.FAILED if any(r.status == "fail" for r in results) else ExitCode.OK)
    except OctotuiError:
        raise  # said by the command's one error handler (``octotui.cli.main``)
    except KeyboardInterrupt:
        err("interrupted")
        return int(ExitCode.CANCELLED)
    except Exception as exc:  # never a traceback: say what broke and how to report it
        err(f"internal error: {type(exc).__name__}: {default_redactor().redact(str(exc))} (please report it)")
        return int(ExitCode.FAILED)
