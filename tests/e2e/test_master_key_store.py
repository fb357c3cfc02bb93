"""Where the master key goes, and that octotui never says it is stored when it is not (issue 7, item 5); the
warning for TLS certificates that are not validated (item 6).

The keyrings are real backends chosen through ``PYTHON_KEYRING_BACKEND``: ``keyring.backends.fail.Keyring``
is "no keyring works here" (as on a headless SSH session), keyrings.alt's file backend a working one, and
keyrings.cryptfile the encrypted file. Runs go against a lab over HTTPS; the lab is the witness of what
the nodes hold and of whether anything was sent.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octotui.cli.progress import render
from octotui.errors import BadInput, ExitCode, OctotuiError
from octotui.run.progress import fold
from octotui.secrets.master_key import decide_master_key_store, keep_master_key
from octotui.secrets.store import PASSPHRASE_ENV, master_key_ref, open_encrypted_file_store
from tests.fixtures.cli import journal, octotui, octotui_env, write_answers
from tests.fixtures.lab import LabProcess, run, running_lab

NO_KEYRING = "keyring.backends.fail.Keyring"
FILE_KEYRING = "keyrings.alt.file.PlaintextKeyring"
PASSPHRASE = "correct horse battery staple"
CS = "Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True;"
KEY = base64.b64encode(bytes(range(100, 132))).decode()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    with running_lab(tmp_path_factory.mktemp("mk") / "state", "--nodes", "4", "--https") as lab:
        yield lab


def answers_for(lab: LabProcess, path: Path, node: str, *, ignore_certificates: bool = False) -> Path:
    """Create mode on one node, with a database of its own (each test builds its own cluster)."""
    cs = lab.ready["sql"]["connection_string"].replace("OctopusDeploy", f"Octopus{node}")
    write_answers(lab, path, [node], connection_string=cs)
    if ignore_certificates:
        text = re.sub(r'(?m)^ca_cert = .*$', 'server_cert_validation = "ignore"', path.read_text())
        path.write_text(text)
    return path


def database(lab: LabProcess, node: str) -> dict[str, Any]:
    world = lab.inspect()
    return next(d for d in world["sql"]["databases"] if d["name"] == f"Octopus{node}")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def commands_run(lab: LabProcess, node: str) -> list[str]:
    world = lab.inspect()
    return [p["command_line"] for n in world["nodes"] if n["name"] == node for p in n["process_log"]]


def master_key_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"].startswith("master_key")]


# --- apply: the choice is made before the run starts -------------------------------------------------------


def test_without_a_keyring_apply_yes_refuses_to_start_and_names_the_options(lab: LabProcess, tmp_path: Path) -> None:
    env = octotui_env(lab, tmp_path, PYTHON_KEYRING_BACKEND=NO_KEYRING)
    answers = answers_for(lab, tmp_path / "create.toml", "OCTO1")
    out = octotui(env, "apply", str(answers), "--yes")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "--master-key-store file" in out.stderr and "--master-key-store none" in out.stderr
    assert "stores nothing" in out.stderr  # says why no keyring works
    assert "Traceback" not in out.stderr
    assert octotui(env, "runs").stdout.strip() == "no runs yet"
    assert commands_run(lab, "OCTO1") == []  # nothing was sent to the node


def test_master_key_store_none_reports_not_stored_and_how_to_read_it(lab: LabProcess, tmp_path: Path) -> None:
    env = octotui_env(lab, tmp_path, PYTHON_KEYRING_BACKEND=NO_KEYRING)
    answers = answers_for(lab, tmp_path / "create.toml", "OCTO2")
    out = octotui(env, "apply", str(answers), "--yes", "--master-key-store", "none")
    assert out.returncode == 0, out.stdout + out.stderr
    events = journal(env)
    (event,) = master_key_events(events)
    assert event["type"] == "master_key_not_stored" and event["node"] == "OCTO2"
    assert "--master-key-store none" in event["reason"]
    assert "NOT stored" in out.stdout and "stored in" not in out.stdout
    assert "NOT be stored" in out.stderr  # said before the run started, too

    # The hint is a command that really reads the key on the node; the key itself is written nowhere.
    command = re.search(r'run ("[^"]+Octopus\.Server\.exe" show-master-key [^;]*?) and keep', event["hint"])
    assert command is not None, event["hint"]
    assert command.group(1) in out.stdout
    p = lab.protocol("OCTO2", transport="credssp")
    shell = p.open_shell()
    code, shown, _ = run(p, shell, f'"{command.group(1)}"')
    p.close_shell(shell)
    assert code == 0, shown
    key = next(w for w in re.findall(r"[A-Za-z0-9+/]{22,}={0,2}", shown) if len(base64.b64decode(w)) in (16, 32))
    assert key_hash(key) == database(lab, "OCTO2")["master_key_sha256"]
    home = Path(env["OCTOTUI_HOME"])
    assert all(key not in f.read_text(errors="replace") for f in home.rglob("*") if f.is_file())
    assert key not in out.stdout + out.stderr


def test_master_key_store_file_keeps_it_in_the_encrypted_file(lab: LabProcess, tmp_path: Path) -> None:
    env = octotui_env(lab, tmp_path, PYTHON_KEYRING_BACKEND=NO_KEYRING, **{PASSPHRASE_ENV: PASSPHRASE})
    answers = answers_for(lab, tmp_path / "create.toml", "OCTO3")
    out = octotui(env, "apply", str(answers), "--yes", "--master-key-store", "file")
    assert out.returncode == 0, out.stdout + out.stderr
    secrets_file = Path(env["OCTOTUI_HOME"]) / "secrets.cfg"
    (event,) = master_key_events(journal(env))
    assert event["type"] == "master_key_stored"
    assert f"the encrypted file {secrets_file}" in event["where"]
    assert "stored in the encrypted file" in out.stdout

    cs = lab.ready["sql"]["connection_string"].replace("OctopusDeploy", "OctopusOCTO3")
    stored = open_encrypted_file_store(PASSPHRASE, secrets_file).get(master_key_ref(cs).keyring_user)
    assert stored is not None and key_hash(stored) == database(lab, "OCTO3")["master_key_sha256"]
    assert stored not in secrets_file.read_text()  # encrypted, not merely encoded


def test_a_working_keyring_is_named_as_the_place(lab: LabProcess, tmp_path: Path) -> None:
    env = octotui_env(lab, tmp_path, PYTHON_KEYRING_BACKEND=FILE_KEYRING)
    answers = answers_for(lab, tmp_path / "create.toml", "OCTO4", ignore_certificates=True)
    out = octotui(env, "apply", str(answers), "--yes")
    assert out.returncode == 0, out.stdout + out.stderr
    (event,) = master_key_events(journal(env))
    assert event["type"] == "master_key_stored"
    assert FILE_KEYRING in event["where"] and "NOT encrypted" in event["where"]
    assert "entry 'master-key:" in event["where"] and event["where"].endswith("/octopusocto4'")

    # Item 6: with --yes there is no review, but the warning is printed before the run starts.
    lines = out.stderr.splitlines()
    warning = next(i for i, ln in enumerate(lines) if "server_cert_validation" in ln and "NOT validated" in ln)
    started = next(i for i, ln in enumerate(lines) if re.match(r"run \S+ started", ln))
    assert warning < started


# --- the consent, asked on a terminal ----------------------------------------------------------------------


class Terminal:
    """``octotui`` on a pseudo-terminal (its controlling terminal, so getpass and input behave as for a
    person), answered line by line."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                                     start_new_session=True, preexec_fn=_take_terminal)
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            if time.monotonic() > deadline or not self._read(deadline - time.monotonic()):
                raise AssertionError(f"never saw {text!r}; saw:\n{self.seen}")

    def send(self, line: str) -> None:
        self.seen = ""  # expect() looks only at what comes after an answer
        os.write(self.master, (line + "\r").encode())

    def finish(self, timeout: float = 180) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0.2):
            pass
        os.close(self.master)
        return self.proc.wait(timeout=5)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not ready:
            return self.proc.poll() is None
        try:
            data = os.read(self.master, 65536)
        except OSError as exc:
            if exc.errno == errno.EIO:  # the other side closed
                return False
            raise
        self.seen += data.decode("utf-8", "replace")
        return bool(data)


def _take_terminal() -> None:
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_on_a_terminal_apply_asks_where_to_keep_the_key_and_the_passphrase(lab: LabProcess, tmp_path: Path) -> None:
    env = octotui_env(lab, tmp_path, PYTHON_KEYRING_BACKEND=NO_KEYRING, TERM="dumb")
    answers = answers_for(lab, tmp_path / "create.toml", "OCTO1")
    # Declining starts nothing.
    term = Terminal([sys.executable, "-m", "octotui", "apply", str(answers)], env)
    term.expect("Where? [f/n/q]")
    assert "No keyring works here" in term.seen and "encrypted file" in term.seen
    term.send("q")
    assert term.finish() == ExitCode.CANCELLED
    assert commands_run(lab, "OCTO1") == []

    # Consenting to the encrypted file: a new passphrase, typed twice, then the usual confirmation.
    term = Terminal([sys.executable, "-m", "octotui", "apply", str(answers)], env)
    term.expect("Where? [f/n/q]")
    term.send("f")
    term.expect("Passphrase for a new encrypted file")
    term.send(PASSPHRASE)
    term.expect("The same passphrase again")
    term.send(PASSPHRASE)
    term.expect("Start this run? [y/N]")
    assert "will be kept in the encrypted file" in term.seen
    term.send("y")
    assert term.finish() == 0, term.seen
    assert PASSPHRASE not in term.seen
    (event,) = master_key_events(journal(env))
    assert event["type"] == "master_key_stored" and "encrypted file" in event["where"]
    cs = lab.ready["sql"]["connection_string"].replace("OctopusDeploy", "OctopusOCTO1")
    stored = open_encrypted_file_store(PASSPHRASE, Path(env["OCTOTUI_HOME"]) / "secrets.cfg").get(
        master_key_ref(cs).keyring_user)
    assert stored is not None and key_hash(stored) == database(lab, "OCTO1")["master_key_sha256"]


# --- item 6: plan and apply warn when certificates are not validated -------------------------------------------


def test_plan_and_apply_warn_when_certificates_are_not_validated(lab: LabProcess, tmp_path: Path) -> None:
    env = octotui_env(lab, tmp_path)
    validated = answers_for(lab, tmp_path / "validated.toml", "OCTO1")
    ignored = answers_for(lab, tmp_path / "ignored.toml", "OCTO1", ignore_certificates=True)

    assert "server_cert_validation" not in octotui(env, "plan", str(validated)).stdout
    plan = octotui(env, "plan", str(ignored))
    assert plan.returncode == 0, plan.stderr
    assert re.search(r'WARNING: \[winrm\] server_cert_validation = "ignore": .*NOT validated.*passwords', plan.stdout)

    before = len(commands_run(lab, "OCTO1"))
    review = octotui(env, "apply", str(ignored))  # no terminal, no --yes: shows the plan, starts nothing
    assert review.returncode == 2
    assert 'WARNING: [winrm] server_cert_validation = "ignore"' in review.stdout
    assert len(commands_run(lab, "OCTO1")) == before


# --- the engine's parts, with real keyrings ----------------------------------------------------------------


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("PYTHON_KEYRING_BACKEND", PASSPHRASE_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("OCTOTUI_HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.mark.parametrize("backend", [NO_KEYRING, "keyring.backends.null.Keyring"])
def test_keeping_never_claims_a_store_that_did_not_happen(isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                                          backend: str) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", backend)
    kept = keep_master_key(CS, KEY, "keyring")
    assert kept.where is None and "stores nothing" in kept.reason and KEY not in kept.reason
    assert keep_master_key(CS, KEY, "none").where is None
    assert keep_master_key(CS, KEY, "file", passphrase="").where is None  # no passphrase: nothing opened
    assert keep_master_key(CS, "not a key", "file", passphrase=PASSPHRASE).where is None

    kept = keep_master_key(CS, KEY, "file", passphrase=PASSPHRASE)
    assert kept.where is not None and "encrypted file" in kept.where
    assert keep_master_key(CS, KEY, "file", passphrase="another passphrase").where is None  # wrong one
    store = open_encrypted_file_store(PASSPHRASE, isolated / "home" / "secrets.cfg")
    assert store.get(master_key_ref(CS).keyring_user) == KEY


def test_keeping_in_a_working_keyring_reads_it_back(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FILE_KEYRING)
    kept = keep_master_key(CS, KEY + "\n", "keyring")
    assert kept.where is not None and FILE_KEYRING in kept.where and "master-key:sql01/octopus" in kept.where
    import keyring

    assert keyring.get_password("octotui", "master-key:sql01/octopus") == KEY


def test_the_decision_without_a_keyring(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NO_KEYRING)
    with pytest.raises(BadInput, match="--master-key-store"):
        decide_master_key_store(None)
    with pytest.raises(BadInput, match="--master-key-store"):
        decide_master_key_store("keyring", ask=lambda status, path: "file")
    with pytest.raises(OctotuiError) as declined:
        decide_master_key_store(None, ask=lambda status, path: None)
    assert declined.value.exit_code == ExitCode.CANCELLED
    assert decide_master_key_store(None, ask=lambda status, path: "none").store == "none"
    with pytest.raises(BadInput, match=PASSPHRASE_ENV):
        decide_master_key_store("file")  # consent given, but no passphrase and nobody to ask
    decision = decide_master_key_store("file", environ={PASSPHRASE_ENV: PASSPHRASE})
    assert decision.store == "file" and decision.passphrase == PASSPHRASE
    assert (isolated / "home" / "secrets.cfg").exists()


def test_the_display_keeps_the_not_stored_warning() -> None:
    events: list[dict[str, Any]] = [
        {"seq": 1, "ts": 1.0, "type": "run_started", "run_id": "r1", "mode": "create", "nodes": ["OCTO1"],
         "plan": {"OCTO1": [{"step": "master-key", "title": "read the master key"}]}},
        {"seq": 2, "ts": 2.0, "type": "master_key_not_stored", "node": "OCTO1", "reason": "no keyring",
         "hint": "run show-master-key on OCTO1"},
    ] + [{"seq": 3 + i, "ts": 3.0 + i, "type": "note", "text": f"note {i}"} for i in range(5)]
    lines = "\n".join(render(fold(events), width=80))
    assert "NOT stored: no keyring" in lines and "show-master-key" in lines
    assert "stored in" not in lines
