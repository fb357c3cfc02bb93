"""The seed's procedure, walked by hand through pywinrm against a 2-node lab.

This is what an administrator would type (configure-ha-with-active-directory.md): install, configure the
first node, set shared storage once, run the service as the service account, read the master key, then
join the second node with it. Steps that reach SQL Server with Windows credentials run in a CredSSP
session, because from an NTLM session they would meet the double hop — which the test shows first.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.fixtures.lab import LabProcess, run, running_lab

EXE = r'"C:\Program Files\Octopus Deploy\Octopus\Octopus.Server.exe"'
VERSION = "2025.3.1234"


def octo(args: str) -> str:
    """An Octopus.Server.exe line for ``cmd /c``: cmd strips the first and last quote of a line that starts
    with one and holds more than two, so the whole line gets one more pair, as on Windows."""
    return f'"{EXE} {args}"'


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with running_lab(tmp_path_factory.mktemp("seed") / "state", "--nodes", "2", "--https") as lab:
        yield lab


def ping(lab: LabProcess, name: str) -> int:
    url = f"http://127.0.0.1:{lab.node(name)['web_port']}/api/octopusservernodes/ping"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def configure_node(lab: LabProcess, name: str, master_key: str | None) -> str:
    """Run the seed's steps on one node; return the master key it ends up with."""
    cs = lab.ready["sql"]["connection_string"]
    svc = lab.ready["service_account"]
    ntlm = lab.protocol(name, transport="ntlm")
    shell = ntlm.open_shell(codepage=65001, env_vars={"OCTOPUS_SERVICE_PASSWORD": svc["password"]})
    try:
        code, out, err = run(ntlm, shell, rf'msiexec /i C:\Install\Octopus.{VERSION}-x64.msi /quiet '
                                          r'RUNMANAGERONEXIT=no /l*v C:\Install\octopus-msi.log')
        assert code == 0, (out, err)
        code, out, err = run(ntlm, shell, octo('create-instance --instance "Default" '
                                          r'--config "C:\Octopus\OctopusServer.config"'))
        assert code == 0, (out, err)

        database = f'database --instance "Default" --connectionString "{cs}"'
        database += f' --masterKey "{master_key}"' if master_key else f' --create --grant "{svc["username"]}"'
        database = octo(database)
        # From the NTLM session the database step meets the double hop, exactly as on Windows.
        code, out, err = run(ntlm, shell, database)
        assert code != 0
        assert "ANONYMOUS LOGON" in out + err

        credssp = lab.protocol(name, transport="credssp")
        cshell = credssp.open_shell(codepage=65001)
        try:
            code, out, err = run(credssp, cshell, database)
            assert code == 0, (out, err)
            if master_key is None:
                # Shared storage lives in the database: set once, from the first node, with credentials.
                code, out, err = run(credssp, cshell,
                                     octo(f'path --instance "Default" --clusterShared {lab.ready["share"]}'))
                assert code == 0, (out, err)
        finally:
            credssp.close_shell(cshell)

        code, out, err = run(ntlm, shell, octo('configure --instance "Default" --webForceSSL "False" '
                                               '--webListenPrefixes "http://localhost:80/" --commsListenPort "10943"'))
        assert code == 0, (out, err)
        code, out, err = run(ntlm, shell, octo('service --instance "Default" --stop'))
        assert code == 0, (out, err)
        code, out, err = run(ntlm, shell, octo(f'service --instance "Default" --user "{svc["username"]}" '
                                               "--install --reconfigure --start"))
        assert code == 0, (out, err)
        assert svc["password"] not in out + err
        code, out, err = run(ntlm, shell, octo('show-master-key --instance "Default" --format json'))
        assert code == 0, (out, err)
        key: str = json.loads(out[out.index("{"):])["MasterKey"]
        return key
    finally:
        ntlm.close_shell(shell)


def test_seed_procedure_by_hand_builds_a_two_node_cluster(lab: LabProcess) -> None:
    key = configure_node(lab, "OCTO1", None)
    assert len(key) in (24, 44)
    assert ping(lab, "OCTO1") == 200

    key2 = configure_node(lab, "OCTO2", key)
    assert key2 == key
    assert ping(lab, "OCTO2") == 200

    world = lab.inspect()
    db = next(d for d in world["sql"]["databases"] if d["name"] == "OctopusDeploy")
    assert sorted(n["name"] for n in db["nodes"]) == ["OCTO1", "OCTO2"]
    shared = {k: v for k, v in db["settings"].items() if k.startswith("Folders.") or "Shared" in k}
    assert list(shared.values()) == [lab.ready["share"]]
    hashes = set()
    for node in world["nodes"]:
        (inst,) = node["instances"]
        hashes.add(inst["master_key_sha256"])
        (svc,) = [s for s in node["services"] if s["name"] == "OctopusDeploy: Default"]
        assert svc["state"] == "Running"
        assert svc["account"].lower() == lab.ready["service_account"]["username"].lower()
        assert svc["log_on_as_a_service"] is True
        assert node["products"] == [{"name": "Octopus Deploy Server", "version": "2025.3.1234"}]
    assert hashes == {db["master_key_sha256"]}
    # The service password never appeared on a command line the nodes ran.
    password = lab.ready["service_account"]["password"]
    assert all(password not in p["command_line"] for n in world["nodes"] for p in n["process_log"])

    # Stop the lab (SIGTERM saves the world) and start it again on the same folder: the cluster survives.
    assert lab.stop() == 0
    with running_lab(lab.state) as again:
        after = again.inspect()
        assert [n["name"] for n in after["nodes"]] == ["OCTO1", "OCTO2"]
        assert after["sql"]["databases"] == world["sql"]["databases"]
        for node_before, node_after in zip(world["nodes"], after["nodes"], strict=True):
            assert node_after["instances"] == node_before["instances"]
            assert [(s["name"], s["state"], s["account"]) for s in node_after["services"]] == \
                   [(s["name"], s["state"], s["account"]) for s in node_before["services"]]
        assert ping(again, "OCTO1") == 200 and ping(again, "OCTO2") == 200
