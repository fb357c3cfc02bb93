# octotui-ps: test-share v1
# Proves that the identity this runs under can use each shared folder: create a probe file, read it
# back, compare, delete it. Run from a plain WinRM session it shows the double hop ("Access is
# denied"); run through invoke-as-user (or with CredSSP) it shows what the service account will get.
# Params: {"paths": ["\\\\fs\\OctopusData", "\\\\fs\\OctopusData\\TaskLogs"]}
# Result: see assets/ps/README.md.
param([string]$ParamsJson = '')
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# ---- octotui shared helpers: assets/ps/_helpers.ps1 is inserted here when the script is sent ----

try {
    $P = ConvertFrom-OctoJson $ParamsJson
    $paths = @(Get-OctoParam $P 'paths' @())
    if ($paths.Count -eq 0) { throw "missing parameter 'paths'" }
} catch { Exit-OctoParamError (Get-OctoErrorMessage $_) }

try {
    $identity = [System.Security.Principal.WindowsIdentity]::GetCurrent().Name
    $results = New-Object System.Collections.ArrayList
    foreach ($path in $paths) {
        $entry = [ordered]@{ path = [string]$path; ok = $false; stage = 'write'; error = $null }
        $probe = [System.IO.Path]::Combine([string]$path, 'octotui-probe-' + [guid]::NewGuid().ToString('N') + '.tmp')
        $text = 'octotui share probe from ' + $env:COMPUTERNAME + ' at ' + [DateTime]::UtcNow.ToString('o')
        $payload = [System.Text.Encoding]::ASCII.GetBytes($text)
        try {
            [System.IO.File]::WriteAllBytes($probe, $payload)
            $entry.stage = 'read'
            $back = [System.IO.File]::ReadAllBytes($probe)
            $entry.stage = 'verify'
            if ([Convert]::ToBase64String($back) -ne [Convert]::ToBase64String($payload)) {
                throw 'the probe file read back differs from what was written'
            }
            $entry.stage = 'delete'
            [System.IO.File]::Delete($probe)
            $entry.stage = 'done'
            $entry.ok = $true
        } catch {
            $entry.error = Get-OctoErrorMessage $_
            # Leave nothing behind once the probe exists.
            if ($entry.stage -eq 'read' -or $entry.stage -eq 'verify') {
                try { [System.IO.File]::Delete($probe) } catch { }
            }
        }
        [void]$results.Add($entry)
    }
    $allOk = @($results | Where-Object { -not $_.ok }).Count -eq 0
    Write-OctoResult ([ordered]@{ ok = $allOk; identity = $identity; results = $results })
    exit 0
} catch {
    Write-OctoResult ([ordered]@{ ok = $false; stage = 'probe'; error = (Get-OctoErrorMessage $_) })
    exit 1
}
