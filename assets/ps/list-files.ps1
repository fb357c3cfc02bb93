# octotui-ps: list-files v1
# Lists the files that match wildcards, e.g. <Home>\Logs\OctopusServer*.txt (the server log and its rolled
# files) and C:\Windows\Temp\octotui-msi-*.log (octotui's MSI logs), with each file's size, last write
# time and first bytes (a byte-order mark says how to read it), and the node's UTC offset, so the console
# can put the node's log lines (written in local time) on the run's timeline.
# Params: {"globs": ["C:\\Octopus\\Logs\\OctopusServer*.txt"], "head_bytes": 4}
# Result: see assets/ps/README.md.
param([string]$ParamsJson = '')
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# ---- octotui shared helpers: assets/ps/_helpers.ps1 is inserted here when the script is sent ----

try {
    $P = ConvertFrom-OctoJson $ParamsJson
    $globs = @(Get-OctoParam $P 'globs' @())
    $headBytes = [int](Get-OctoParam $P 'head_bytes' 4)
    if ($globs.Count -eq 0) { throw "missing parameter 'globs'" }
    if ($headBytes -lt 0 -or $headBytes -gt 64) { throw "'head_bytes' must be between 0 and 64" }
    foreach ($glob in $globs) {
        $leaf = [System.IO.Path]::GetFileName([string]$glob)
        $parent = [System.IO.Path]::GetDirectoryName([string]$glob)
        if (-not $leaf -or -not $parent) { throw "'$glob' is not a folder followed by a file name pattern" }
    }
} catch { Exit-OctoParamError (Get-OctoErrorMessage $_) }

try {
    $files = New-Object System.Collections.ArrayList
    $missing = New-Object System.Collections.ArrayList
    $share = [System.IO.FileShare]::ReadWrite -bor [System.IO.FileShare]::Delete
    foreach ($glob in $globs) {
        $glob = [string]$glob
        $folder = [System.IO.Path]::GetDirectoryName($glob)
        $pattern = [System.IO.Path]::GetFileName($glob)
        try {
            $found = @([System.IO.Directory]::GetFiles($folder, $pattern) | Sort-Object)
        } catch {
            # A folder that is not there (no instance yet, no MSI run yet) is an answer, not a failure.
            [void]$missing.Add([ordered]@{ glob = $glob; folder = $folder; error = (Get-OctoErrorMessage $_) })
            continue
        }
        foreach ($path in $found) {
            $info = New-Object System.IO.FileInfo $path
            $head = ''
            if ($headBytes -gt 0) {
                try {
                    # Opened with sharing: Octopus keeps writing the current log while we read it.
                    $stream = [System.IO.File]::Open($path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, $share)
                    try {
                        $buffer = New-Object byte[] $headBytes
                        $read = $stream.Read($buffer, 0, $headBytes)
                        $head = [Convert]::ToBase64String($buffer, 0, $read)
                    } finally { $stream.Dispose() }
                } catch { $head = $null }
            }
            [void]$files.Add([ordered]@{
                glob = $glob; name = $info.Name; path = $info.FullName; size = [long]$info.Length
                modified_utc = $info.LastWriteTimeUtc.ToString('o'); head_b64 = $head
            })
        }
    }
    $now = [DateTime]::Now
    $offset = [TimeZoneInfo]::Local.GetUtcOffset($now)
    Write-OctoResult ([ordered]@{
        ok = $true; now_utc = $now.ToUniversalTime().ToString('o'); utc_offset_minutes = [int]$offset.TotalMinutes
        files = $files; missing = $missing
    })
    exit 0
} catch {
    Write-OctoResult ([ordered]@{ ok = $false; stage = 'list'; error = (Get-OctoErrorMessage $_) })
    exit 1
}
