"""What the answers give the Kerberos transport, and the warning for Basic with a domain account.

The KDC comes from ``[ad] domain_controller`` and the realm from ``[ad] dns_domain``; the service principal's host
is the node's host as written (the endpoint may be an address). Windows' WinRM takes Basic for local accounts
only, so ``plan`` warns before a run that every node would refuse.
"""

from __future__ import annotations

from pathlib import Path

from octotui.plan.build import build_plan
from octotui.remote.session import NodeSession
from tests.unit.test_plan_build_exact import ANSWERS, spec_of

AD = '\n[ad]\ndomain_controller = "dc1.work.lab"\ndns_domain = "work.lab"\n'


def test_kerberos_takes_its_kdc_and_realm_from_ad(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, ANSWERS + AD)
    assert spec.winrm.kerberos_kdc == "dc1.work.lab"
    assert spec.winrm.kerberos_dns_domain == "work.lab"
    node = spec.nodes[0]
    session = NodeSession.from_spec(node, spec.winrm, "pw")
    assert (session.spn_host, session.kdc, session.dns_domain) == ("octo1.work.lab", "dc1.work.lab", "work.lab")


def test_basic_with_a_domain_account_is_warned_about(tmp_path: Path) -> None:
    basic = ANSWERS.replace('transport = "kerberos"', 'transport = "basic"')
    warnings = build_plan(spec_of(tmp_path, basic)).warnings
    assert any("LOCAL accounts only" in w and "WORK\\admin" in w for w in warnings), warnings
    local = basic.replace("username = 'WORK\\admin'", "username = '.\\admin'")
    assert not any("LOCAL accounts only" in w for w in build_plan(spec_of(tmp_path, local)).warnings)


def test_without_gssapi_the_message_says_what_to_install() -> None:
    """A machine without python-gssapi (here: its import blocked in a child process) is told what to install,
    before anything is sent, instead of a generic 401."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['gssapi'] = None\n"
            "from octotui.remote.errors import RemoteError\n"
            "from octotui.remote.session import NodeSession\n"
            "try:\n"
            "    NodeSession('http://127.0.0.1:9/wsman', 'WORK\\\\u', 'pw', transport='kerberos', spn_host='n.work.lab')\n"
            "except RemoteError as exc:\n"
            "    print(exc.kind, '|', exc.message, '|', exc.hint)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    kind, message, hint = (part.strip() for part in done.stdout.split("|"))
    assert kind == "config", done.stdout + done.stderr
    assert "Kerberos is not available" in message
    assert "libkrb5-dev" in hint and "gssapi" in hint
