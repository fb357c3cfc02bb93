"""Prepare a run: the answers, the secrets and the plan, with every reason it cannot start as values.

Both faces call ``prepare``. The wizard passes the answers table and the secrets typed on its screens, and
shows each problem at its field; the CLI passes the answers file and lets the secrets be looked up as a run
finds them (environment, keyring, then a prompt it supplies), and prints what stops it. Nothing here prints,
prompts by itself or exits: a face that must end on a problem raises ``Preparation.error``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octotui.errors import BadInput
from octotui.plan.build import Plan, build_plan
from octotui.spec.answers import AnswersError, Problem, load_answers
from octotui.spec.model import ClusterSpec

#: Asks a person for a secret (given its label); returns "" when none is typed. Supplied by a face.
SecretPrompt = Callable[[str], str]

#: The runner's name for each secret a spec needs (``octotui.secrets.store.refs_for``), and the answers field
#: a missing one belongs to.
RUNNER_NAMES = {"winrm_password": "winrm", "service_password": "service", "master_key": "master_key"}
_FIELDS = {"winrm": "winrm.password", "service": "service_account.password", "master_key": "master_key"}


class SecretUnavailable(BadInput):
    """A secret the run needs could not be found (or is not valid); ``field`` is the answers field it is for.
    The message names the environment variable to set."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class Preparation:
    """What a run of these answers would do, or why it cannot start (``problems`` non-empty).

    ``secrets`` holds the runner's secrets by runner name (``winrm``, ``service``, ``master_key``, and the
    encrypted file's passphrase once ``apply`` decided on one); it is never shown."""

    spec: ClusterSpec | None = None
    plan: Plan | None = None
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    problems: list[Problem] = field(default_factory=list)
    #: Why no plan could be made (the answers or a secret), as the error a command ends with; None once the
    #: plan exists (its own refusal, no identity that reaches SQL Server, is a problem and a plan warning).
    error: BadInput | None = None

    @property
    def ok(self) -> bool:
        return self.spec is not None and self.plan is not None and not self.problems

    @property
    def warnings(self) -> list[str]:
        """What a person must accept before the run starts (e.g. certificates not validated)."""
        return list(self.plan.warnings) if self.plan is not None else []


def load_spec(path: str | Path) -> ClusterSpec:
    """Read and validate an answers file; raises ``AnswersError`` (a ``BadInput`` holding every problem)."""
    try:
        return load_answers(path)
    except OSError as exc:
        raise BadInput(f"cannot read the answers file {path}: {exc.strerror}") from None


def gather_secrets(spec: ClusterSpec, *, need: bool = True, prompt: SecretPrompt | None = None) -> dict[str, str]:
    """Every secret a run of ``spec`` needs, by runner name, from the environment, the keyring or ``prompt``
    (never asked without one). With ``need`` False a missing secret is left out (``plan`` shows what it can);
    raises ``SecretUnavailable`` naming the variable to set otherwise, and for a value that cannot be right."""
    from octotui.secrets import store as sec

    store = sec.Secrets(prompt=prompt)
    found: dict[str, str] = {}
    for ref in sec.refs_for(spec):
        name = RUNNER_NAMES[ref.name]
        try:
            found[name] = store.get(ref)
        except sec.SecretMissing as exc:
            if need:
                raise SecretUnavailable(str(exc), _FIELDS[name]) from None
        except (sec.SecretInvalid, sec.KeyringUnavailable) as exc:
            raise SecretUnavailable(str(exc), _FIELDS[name]) from None
    return found


def runner_secrets(secrets: Mapping[str, str]) -> dict[str, str]:
    """The secrets a runner receives: the run's own (by runner name) and the encrypted file's passphrase;
    a face's other secrets (e.g. the master key it just showed) stay with it."""
    from octotui.secrets.master_key import PASSPHRASE_SECRET

    keep = {*RUNNER_NAMES.values(), PASSPHRASE_SECRET}
    return {k: v for k, v in secrets.items() if k in keep and v}


def prepare(answers: str | Path | Mapping[str, Any], secrets: Mapping[str, str] | None = None, *,
            need_secrets: bool = True, prompt: SecretPrompt | None = None,
            base_dir: Path | None = None) -> Preparation:
    """Validate the answers and build the plan; every reason the run cannot start comes back as a problem.

    ``answers``: the answers file, or the answers table (a wizard's, whose fields may still be wrong; read
    relative to ``base_dir``). ``secrets``: those at hand; None looks them up (``gather_secrets``). With
    ``need_secrets`` False (``octotui plan``) a missing secret is no problem: the plan says what it can.
    """
    try:
        spec = load_spec(answers) if isinstance(answers, str | Path) else _parse(answers, base_dir)
    except AnswersError as exc:
        return Preparation(problems=list(exc.problems), error=exc)
    except BadInput as exc:
        return Preparation(problems=[Problem("(file)", exc.message, exc.hint)], error=exc)
    if secrets is None:
        try:
            found = gather_secrets(spec, need=need_secrets, prompt=prompt)
        except SecretUnavailable as exc:
            return Preparation(spec=spec, problems=[Problem(exc.field, exc.message)], error=exc)
    else:
        found = runner_secrets(secrets)
    plan = build_plan(spec, have_winrm_password="winrm" in found, have_service_password="service" in found)
    problems = _missing_secrets(spec, found) if need_secrets else []
    if need_secrets and plan.credential_identity is None:
        problems.append(Problem("winrm.transport", plan.warnings[-1] if plan.warnings else
                                "no identity can reach SQL Server and the share from the nodes",
                                "use transport = \"credssp\" or give the WinRM password"))
    return Preparation(spec=spec, plan=plan, secrets=found, problems=problems)


def _parse(data: Mapping[str, Any], base_dir: Path | None) -> ClusterSpec:
    from octotui.spec.answers import parse_answers
    from octotui.spec.writer import clean_answers

    return parse_answers(clean_answers(data), base_dir=base_dir)


def _missing_secrets(spec: ClusterSpec, found: Mapping[str, str]) -> list[Problem]:
    """The secrets the run needs (the one rule: ``refs_for``) that are not at hand, each at its field."""
    from octotui.secrets.store import refs_for, valid_master_key

    problems: list[Problem] = []
    for ref in refs_for(spec):
        name = RUNNER_NAMES[ref.name]
        if name == "winrm" and not found.get(name):
            problems.append(Problem(_FIELDS[name], f"no password for {spec.winrm.logon}",
                                    "type it on the Nodes screen"))
        elif name == "service" and not found.get(name):
            problems.append(Problem(_FIELDS[name], f"no password for {spec.service_account.username}",
                                    "type it on the Service account screen"))
        elif name == "master_key" and not valid_master_key(found.get(name) or ""):
            problems.append(Problem(_FIELDS[name], "no valid master key (base64 of 16 or 32 bytes)",
                                    "give the cluster's master key on the Master key screen"))
    return problems
