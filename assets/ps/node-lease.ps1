# octotui-ps: node-lease v1
# The cluster lease: which octotui run may change this node. One file, C:\ProgramData\octotui\lease.json,
# names the holder (run id, console, user, process) and the lease's times on THIS node's clock, so that
# consoles whose clocks disagree still agree on when a lease expires. A run takes the lease on every node
# before it changes anything, renews it while it lives and releases it at its end.
# Every read-decide-write happens while this script holds lease.json.lock open with FileShare.None:
# Windows gives such a handle to one process at a time (the others wait here a moment), and closes it
# when the process ends, even when it is killed, so two consoles taking the lease at the same instant
# are served one after the other and never both get it. The new content goes to a temporary file that
# [IO.File]::Replace swaps in, so a crash never leaves half a lease.
# Params: {"action": "take" | "renew" | "release" | "read", "lease_id": "<id>", "ttl_s": 600,
#          "holder": {"run_id", "console", "console_id", "user", "pid", "pid_start", "home"},
#          "take_over": false, "replace": "<lease id>"}
# Result: see assets/ps/README.md.
param([string]$ParamsJson = '')
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# ---- octotui shared helpers: assets/ps/_helpers.ps1 is inserted here when the script is sent ----

$holderFields = @('run_id', 'console', 'console_id', 'user', 'pid', 'pid_start', 'home')
try {
    $P = ConvertFrom-OctoJson $ParamsJson
    $action = [string](Get-OctoParam $P 'action' '')
    $leaseId = [string](Get-OctoParam $P 'lease_id' '')
    $ttl = [double](Get-OctoParam $P 'ttl_s' 600)
    $takeOver = [bool](Get-OctoParam $P 'take_over' $false)
    $replace = [string](Get-OctoParam $P 'replace' '')
    $holderIn = Get-OctoParam $P 'holder' $null
    if (@('take', 'renew', 'release', 'read') -notcontains $action) {
        throw "'action' must be take, renew, release or read"
    }
    if ($action -ne 'read' -and -not $leaseId) { throw "missing parameter 'lease_id'" }
    if ($action -eq 'take' -and $holderIn -isnot [System.Collections.IDictionary]) {
        throw "'holder' must be a JSON object"
    }
    if ($ttl -le 0 -or $ttl -gt 86400) { throw "'ttl_s' must be more than 0 and at most 86400" }
} catch { Exit-OctoParamError (Get-OctoErrorMessage $_) }

$folder = 'C:\ProgramData\octotui'
$file = $folder + '\lease.json'
$culture = [System.Globalization.CultureInfo]::InvariantCulture
$roundtrip = [System.Globalization.DateTimeStyles]::RoundtripKind

function Open-LeaseGuard([string]$Path) {
    # One FileShare.None handle at a time: the others retry for a while (each holder keeps it for
    # milliseconds). A sharing violation is an IOException; anything else (access denied) is not.
    $deadline = [DateTime]::UtcNow.AddSeconds(15)
    while ($true) {
        try {
            return [System.IO.File]::Open($Path, [System.IO.FileMode]::OpenOrCreate,
                                          [System.IO.FileAccess]::ReadWrite, [System.IO.FileShare]::None)
        } catch {
            $inner = $_.Exception
            while ($inner -is [System.Management.Automation.MethodInvocationException] -and $inner.InnerException) {
                $inner = $inner.InnerException
            }
            if ($inner -isnot [System.IO.IOException] -or [DateTime]::UtcNow -gt $deadline) { throw }
            Start-Sleep -Milliseconds 50
        }
    }
}

function Read-Lease([string]$Path) {
    # The lease, or $null when there is none. A file that does not hold a lease (edited by hand) counts
    # as none: the writes below are atomic, so octotui itself never leaves one behind.
    if (-not [System.IO.File]::Exists($Path)) { return $null }
    try {
        $doc = ConvertFrom-OctoJson ([System.IO.File]::ReadAllText($Path, [System.Text.Encoding]::UTF8))
        if (-not $doc['lease_id']) { return $null }
        foreach ($name in @('taken_at', 'renewed_at', 'expires_at')) {
            $null = [DateTime]::Parse([string]$doc[$name], $culture, $roundtrip)
        }
        return $doc
    } catch { return $null }
}

function Write-Lease([string]$Path, $Lease) {
    $tmp = $Path + '.tmp'
    [System.IO.File]::WriteAllText($tmp, (ConvertTo-OctoJson $Lease), (New-Object System.Text.UTF8Encoding $false))
    if ([System.IO.File]::Exists($Path)) { [System.IO.File]::Replace($tmp, $Path, [NullString]::Value) }
    else { [System.IO.File]::Move($tmp, $Path) }
}

function Get-LeaseTime($Lease, [string]$Name) {
    return [DateTime]::Parse([string]$Lease[$Name], $culture, $roundtrip).ToUniversalTime()
}

function Get-LeaseView($Lease, [datetime]$Now) {
    # The lease as stored, plus how old it is and how long it has left, measured on this node's clock.
    if ($null -eq $Lease) { return $null }
    $view = [ordered]@{}
    foreach ($key in $Lease.Keys) { $view[$key] = $Lease[$key] }
    $view['held_s'] = [Math]::Round(($Now - (Get-LeaseTime $Lease 'taken_at')).TotalSeconds, 1)
    $view['renewed_s_ago'] = [Math]::Round(($Now - (Get-LeaseTime $Lease 'renewed_at')).TotalSeconds, 1)
    $view['expires_in_s'] = [Math]::Round(((Get-LeaseTime $Lease 'expires_at') - $Now).TotalSeconds, 1)
    return $view
}

$stage = 'lock'
try {
    $null = [System.IO.Directory]::CreateDirectory($folder)
    $guard = Open-LeaseGuard ($file + '.lock')
    try {
        $stage = 'read'
        $now = [DateTime]::UtcNow
        $stamp = $now.ToString('o', $culture)
        $current = Read-Lease $file
        $mine = ($null -ne $current) -and ([string]$current['lease_id'] -eq $leaseId)
        $result = [ordered]@{ ok = $true; action = $action; node = $env:COMPUTERNAME; now = $stamp
                              taken = $false; renewed = $false; released = $false; lost = $false
                              lease = $null; holder = $null; previous = $null }
        $stage = 'write'
        if ($action -eq 'take') {
            $expired = ($null -ne $current) -and ((Get-LeaseTime $current 'expires_at') -le $now)
            $replaceable = ($null -ne $current) -and $replace -and ([string]$current['lease_id'] -eq $replace)
            if ($null -eq $current -or $mine -or $expired -or $takeOver -or $replaceable) {
                $lease = [ordered]@{ lease_id = $leaseId }
                foreach ($field in $holderFields) {
                    if ($holderIn.ContainsKey($field)) { $lease[$field] = $holderIn[$field] } else { $lease[$field] = $null }
                }
                $lease['node'] = $env:COMPUTERNAME
                $lease['account'] = [System.Security.Principal.WindowsIdentity]::GetCurrent().Name
                if ($mine) { $lease['taken_at'] = [string]$current['taken_at'] } else { $lease['taken_at'] = $stamp }
                $lease['renewed_at'] = $stamp
                $lease['expires_at'] = $now.AddSeconds($ttl).ToString('o', $culture)
                $lease['ttl_s'] = $ttl
                Write-Lease $file $lease
                if (-not $mine) { $result.previous = Get-LeaseView $current $now }
                $result.taken = $true
                $result.lease = Get-LeaseView $lease $now
            } else {
                $result.ok = $false
                $result.holder = Get-LeaseView $current $now
            }
        } elseif ($action -eq 'renew') {
            if ($mine) {
                $lease = [ordered]@{}
                foreach ($key in $current.Keys) { $lease[$key] = $current[$key] }
                $lease['renewed_at'] = $stamp
                $lease['expires_at'] = $now.AddSeconds($ttl).ToString('o', $culture)
                $lease['ttl_s'] = $ttl
                Write-Lease $file $lease
                $result.renewed = $true
                $result.lease = Get-LeaseView $lease $now
            } else {
                $result.ok = $false
                $result.lost = $true
                $result.holder = Get-LeaseView $current $now
            }
        } elseif ($action -eq 'release') {
            if ($mine) {
                [System.IO.File]::Delete($file)
                $result.released = $true
            } else {
                $result.holder = Get-LeaseView $current $now
            }
        } else {
            $result.holder = Get-LeaseView $current $now
        }
    } finally { $guard.Dispose() }
    Write-OctoResult $result
    exit 0
} catch {
    Write-OctoResult ([ordered]@{ ok = $false; stage = $stage; action = $action; node = $env:COMPUTERNAME
                                  error = (Get-OctoErrorMessage $_) })
    exit 1
}
