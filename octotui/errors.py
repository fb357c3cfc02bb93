"""The one vocabulary of failure: ``OctotuiError`` and the exit codes every command and every run use.

The engine has two faces (the command line and the wizard). Both must tell a user the same thing about the
same failure, so the engine reports failures as values of one shape, a message that names the field, node or
step and a hint that says what to do, and each face decides how to show it. Exit codes are defined once here
so that a run's journal, ``attach`` and the command that started the run can never disagree.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What a command's exit status means; documented in the README."""

    #: Everything asked for was done (or already so).
    OK = 0
    #: A step or a check failed; the message names the node, the step and the remote error.
    FAILED = 1
    #: The input was refused before anything ran: the answers file, an option, a missing secret, a folder.
    BAD_INPUT = 2
    #: The user asked the run to stop, and it stopped at a safe point.
    CANCELLED = 3
    #: Another run (from this console or any other) holds the cluster; nothing was changed.
    BUSY = 4
    #: The run's own process ended without finishing (killed, or the machine went down); resume it.
    RUNNER_LOST = 5


#: The exit code of each way a run can end: the journal's ``run_finished`` records it, the executor's outcome
#: and ``apply``/``attach``/``runs`` report it (``crashed``: the run's process is gone without an end).
RUN_EXIT_CODES: dict[str, ExitCode] = {
    "done": ExitCode.OK,
    "failed": ExitCode.FAILED,
    "cancelled": ExitCode.CANCELLED,
    "busy": ExitCode.BUSY,
    "crashed": ExitCode.RUNNER_LOST,
}


class OctotuiError(Exception):
    """A failure the engine reports to a person: what went wrong, naming the thing, and what to do.

    ``exit_code`` is the code a command ends with when this error ends it.
    """

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, hint: str = "", *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class BadInput(OctotuiError):
    """Input refused before anything ran (answers, options, secrets, local folders)."""

    exit_code = ExitCode.BAD_INPUT


class ClusterBusy(OctotuiError):
    """Another run holds the cluster's lease."""

    exit_code = ExitCode.BUSY
