"""``octotui export ANSWERS --format powershell``: the plan as a script a person can read, approve and run.

Some administrators must not (or will not) let a tool drive their servers. The export gives them the same
steps in the same order as ``apply``, each guarded by a read of the node's state the way ``apply`` reads
it, to be run on each node in an elevated PowerShell. Nothing secret is embedded: passwords and the master
key are asked for when the script runs. Running it locally on the node also avoids the double hop.

The script is code, so it never passes through the redactor: masking a value that looks secret-shaped
(``$env:OCTOPUS_SERVICE_PASSWORD = Read-Secret ...``) would break it. Instead ``check_no_secret`` proves that
no secret value known to this process is in it, and the tests parse every export with a PowerShell grammar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from octotui.errors import BadInput
from octotui.spec.model import ClusterSpec, NodeSpec
from octotui.windows import octopus as oc
from octotui.windows.quoting import ps_literal

HEADER = """\
# Octopus Deploy High Availability: {mode} plan exported by octotui {version}
# Cluster: Octopus {octopus}, instance {instance}, nodes: {nodes}
#
# Run this script on EACH node in an elevated Windows PowerShell 5.1 session, as an account that may
# create the database (create mode, first node) or read it (other nodes):
#     .\\octopus-ha.ps1 -Node {first}
# Run it on {first} first; it prints the master key there. Then run it on every other node.
# Nothing secret is written in this file: it asks for the passwords and the master key when it runs.
# Each step reads the node's state first and only changes what differs, so running it again is safe.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][ValidateSet({node_set})][string]$Node
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

function Invoke-Octopus {{
    param([string[]]$Arguments)
    $exe = Join-Path (Get-ItemProperty 'HKLM:\\SOFTWARE\\Octopus\\OctopusServer' -ErrorAction SilentlyContinue).InstallLocation 'Octopus.Server.exe'
    if (-not (Test-Path -LiteralPath $exe)) {{ $exe = 'C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe' }}
    Write-Host "> Octopus.Server.exe $($Arguments[0])" -ForegroundColor Cyan
    & $exe @Arguments
    if ($LASTEXITCODE -ne 0) {{ throw "Octopus.Server.exe $($Arguments[0]) failed with exit code $LASTEXITCODE" }}
}}

function Read-Secret {{
    param([string]$Prompt)
    $secure = Read-Host -AsSecureString -Prompt $Prompt
    $ptr = [Runtime.InteropServices.Marshal]::SecureStringToBSTR($secure)
    try {{ return [Runtime.InteropServices.Marshal]::PtrToStringBSTR($ptr) }}
    finally {{ [Runtime.InteropServices.Marshal]::ZeroFreeBSTR($ptr) }}
}}

function Get-OctopusConfiguration {{
    $text = (& (Join-Path (Get-ItemProperty 'HKLM:\\SOFTWARE\\Octopus\\OctopusServer').InstallLocation 'Octopus.Server.exe') show-configuration --instance {instance_lit} --format json --noconsolelogging --console) -join "`n"
    $start = $text.IndexOf('{{')
    if ($start -lt 0) {{ return @{{}} }}
    return ($text.Substring($start) | ConvertFrom-Json)
}}
"""


def _comment(text: str) -> str:
    """``text`` for the inside of a ``#`` comment line: a line break (or another control character) in a value
    from the answers file would end the comment and turn the rest of the value into code."""
    return "".join("?" if ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" else c for c in text)


def _ps_array(argv: Sequence[str]) -> str:
    return "@(" + ", ".join(ps_literal(a) for a in argv) + ")"


def _node_block(spec: ClusterSpec, node: NodeSpec, first: bool) -> list[str]:
    inst = spec.instance
    i = ps_literal(inst)
    home = str(node.home)
    version = str(spec.octopus_version)
    connection_string = str(spec.connection_string)
    service_account = str(spec.service_account.username)
    cfg = oc.config_path(home, inst)
    svc_name = oc.service_name(inst)
    out = [f"if ($Node -eq {ps_literal(node.name)}) {{", f"    Write-Host {ps_literal('Configuring ' + node.name)} -ForegroundColor Green"]
    add = out.append

    add("    # 1. install (skipped when this version is already installed)")
    add("    $installed = Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*' "
        "-ErrorAction SilentlyContinue | Where-Object { $_.DisplayName -eq 'Octopus Deploy Server' }")
    add(f"    if (-not $installed -or $installed.DisplayVersion -ne {ps_literal(version)}) {{")
    kind, source = spec.install.kind, spec.install.source
    if kind == "chocolatey":
        add(f"        & choco install OctopusDeploy --version {ps_literal(version)} -y --no-progress")
    else:
        msi = source
        if kind == "url":
            msi = f"$env:TEMP\\Octopus.{version}-x64.msi"
            add(f"        Invoke-WebRequest -UseBasicParsing -Uri {ps_literal(source)} -OutFile \"{msi}\"")
            msi_ref = f'"{msi}"'
        elif kind == "local_file":
            add(f"        # copy {_comment(source)} to this node first, next to this script")
            msi_ref = f"(Join-Path $PSScriptRoot {ps_literal(source.replace(chr(92), '/').rsplit('/', 1)[-1])})"
        else:
            msi_ref = ps_literal(msi)
        add(f"        $p = Start-Process msiexec.exe -Wait -PassThru -ArgumentList @('/i', {msi_ref}, '/quiet', "
            "'/norestart', 'RUNMANAGERONEXIT=no', '/l*v', \"$env:TEMP\\octopus-msi.log\")")
        add("        if ($p.ExitCode -eq 3010) { Write-Warning 'The installer asks for a reboot; do it in your next "
            "maintenance window.' }")
        add("        elseif ($p.ExitCode -ne 0) { throw \"msiexec failed with exit code $($p.ExitCode); see "
            "$env:TEMP\\octopus-msi.log\" }")
    add("    }")

    add("    # 2. instance")
    add("    $instances = (& (Join-Path (Get-ItemProperty 'HKLM:\\SOFTWARE\\Octopus\\OctopusServer').InstallLocation "
        "'Octopus.Server.exe') list-instances --format json --console) -join \"`n\" | ConvertFrom-Json")
    add(f"    if (-not ($instances | Where-Object {{ $_.InstanceName -eq {i} }})) {{")
    add(f"        Invoke-Octopus {_ps_array(oc.create_instance(inst, cfg, home, node.name))}")
    add("    }")

    add("    # 3. database")
    add("    $conf = Get-OctopusConfiguration")
    add(f"    if ($conf.'Octopus.Storage.ExternalDatabaseConnectionString' -ne {ps_literal(connection_string)}) {{")
    if first and spec.mode == "create":
        add(f"        Invoke-Octopus {_ps_array(oc.database_create(inst, connection_string, service_account))}")
    else:
        add("        $masterKey = Read-Secret 'Master key of the cluster (from the first node)'")
        join = oc.database_join(inst, connection_string, "MASTERKEY")
        add(f"        Invoke-Octopus ({_ps_array(join[:-1])} + @($masterKey))")
        add("        $masterKey = $null")
    add("    }")

    add("    # 4. node settings")
    listen_prefixes = [str(p) for p in spec.web.listen_prefixes]
    prefixes = ",".join(listen_prefixes)
    add(f"    if ($conf.'Octopus.WebPortal.ListenPrefixes' -ne {ps_literal(prefixes)} -or "
        f"[string]$conf.'Octopus.Communications.ServicesPort' -ne '{spec.web.comms_port}') {{")
    configure = oc.configure_node(inst, listen_prefixes, spec.web.force_ssl, spec.web.comms_port)
    add(f"        Invoke-Octopus {_ps_array(configure)}")
    add("    }")
    if first and spec.mode == "create":
        add("    # 5. cluster-wide settings, once, from this node only")
        add(f"    Invoke-Octopus {_ps_array(oc.configure_active_directory(inst))}")
        if spec.admin_username:
            add(f"    Invoke-Octopus {_ps_array(oc.admin(inst, str(spec.admin_username)))}")
        if spec.license_file:
            add(f"    # licence: copy {_comment(spec.license_file)} next to this script")
            lic = spec.license_file.replace("\\", "/").rsplit("/", 1)[-1]
            add(f"    Invoke-Octopus @('license', '--console', '--instance', {i}, '--licenseFile', "
                f"(Join-Path $PSScriptRoot {ps_literal(lic)}))")
        for argv in oc.path_commands(inst, spec.storage, spec.octopus_version):
            add(f"    Invoke-Octopus {_ps_array(argv)}")

    add("    # 6. service, as the service account (its password is asked for, passed through the environment)")
    add(f"    $svc = Get-CimInstance Win32_Service -ErrorAction SilentlyContinue | "
        f"Where-Object {{ $_.Name -eq {ps_literal(svc_name)} }}")
    add(f"    if (-not $svc -or $svc.StartName -ne {ps_literal(service_account)}) {{")
    add(f"        Invoke-Octopus {_ps_array(oc.service_stop(inst))}")
    if not spec.service_account.is_gmsa:
        add(f"        $env:OCTOPUS_SERVICE_PASSWORD = Read-Secret {ps_literal('Password of ' + service_account)}")
    add("        try {")
    add(f"            Invoke-Octopus {_ps_array(oc.service_install(inst, service_account))}")
    add("        } finally { Remove-Item Env:\\OCTOPUS_SERVICE_PASSWORD -ErrorAction SilentlyContinue }")
    add(f"    }} elseif ($svc.State -ne 'Running') {{ Invoke-Octopus {_ps_array(oc.service_start(inst))} }}")

    add("    # 7. health")
    add("    $port = " + ps_literal(_ping_port(spec)))
    add("    $deadline = (Get-Date).AddMinutes(2)")
    add("    do {")
    add("        try { $r = Invoke-WebRequest -UseBasicParsing \"http://localhost:$port/api/octopusservernodes/ping\"; "
        "$code = [int]$r.StatusCode } catch { $code = 0; Start-Sleep -Seconds 2 }")
    add("    } until ($code -eq 200 -or (Get-Date) -gt $deadline)")
    ping_failed = f"The node does not answer /api/octopusservernodes/ping; see {node.home}\\Logs\\OctopusServer.txt"
    add(f"    if ($code -ne 200) {{ throw {ps_literal(ping_failed)} }}")
    if first and spec.mode == "create":
        add("    Write-Host 'Master key (store it in your password safe; the other nodes need it):' "
            "-ForegroundColor Yellow")
        add(f"    Invoke-Octopus {_ps_array(oc.show_master_key(inst))}")
    add(f"    Write-Host {ps_literal(node.name + ' is done.')} -ForegroundColor Green")
    add("}")
    return out


def _ping_port(spec: ClusterSpec) -> str:
    return str(spec.web.listen_prefixes[0].port)


def export_powershell(spec: ClusterSpec) -> str:
    from octotui import __version__
    nodes = [n.name for n in spec.nodes]
    text = HEADER.format(mode=spec.mode, version=__version__, octopus=_comment(str(spec.octopus_version)),
                         instance=_comment(spec.instance), nodes=_comment(", ".join(nodes)),
                         first=_comment(nodes[0]), node_set=", ".join(ps_literal(n) for n in nodes),
                         instance_lit=ps_literal(spec.instance))
    lines = [text]
    for idx, node in enumerate(spec.nodes):
        lines += _node_block(spec, node, first=(idx == 0 and spec.mode == "create"))
        lines.append("")
    return "\n".join(lines)


def check_no_secret(script: str, secrets: Mapping[str, str]) -> None:
    """Raise ``BadInput`` when the value of a secret (``secrets``: where it comes from -> value) appears in
    ``script``, as is or quoted the way the script quotes values. The export is built from the answers file
    alone, which never holds a secret, so this only fires when a secret's value is also a name or a path in
    the answers; the message names where the secret came from, never its value."""
    found = []
    for origin, value in secrets.items():
        if not value or len(value) < 4:
            continue
        forms = {value, "".join(c * 2 if c in "'\u2018\u2019\u201a\u201b" else c for c in value)}
        if any(f in script for f in forms):
            found.append(origin)
    if found:
        raise BadInput(f"the exported script would contain the value of {', '.join(sorted(found))}; "
                       "nothing was written",
                       "the export needs no secret: unset the variable for this command (and do not use a "
                       "password that is also a name or a path in the answers file)")
