# octotui-ps: read-file v1
# Returns a slice of a file (typically <Home>\Logs\OctopusServer.txt) with the file's current size, so
# the console can page through a large log or follow it by asking again from the last offset. The file
# is opened for reading while Octopus keeps writing to it.
# Params: {"path": "C:\\Octopus\\Logs\\OctopusServer.txt", "offset": 0, "max_bytes": 524288,
#          "encoding": "base64" | "text"}   (a negative offset counts from the end of the file)
# Result: see assets/ps/README.md.
param([string]$ParamsJson = '')
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# ---- octotui shared helpers: assets/ps/_helpers.ps1 is inserted here when the script is sent ----

$maxSlice = 8MB
try {
    $P = ConvertFrom-OctoJson $ParamsJson
    $path = [string](Get-OctoParam $P 'path' '')
    $offset = [long](Get-OctoParam $P 'offset' 0)
    $maxBytes = [long](Get-OctoParam $P 'max_bytes' 524288)
    $encoding = [string](Get-OctoParam $P 'encoding' 'base64')
    if (-not $path) { throw "missing parameter 'path'" }
    if ($maxBytes -lt 0 -or $maxBytes -gt $maxSlice) { throw "'max_bytes' must be between 0 and $maxSlice" }
    if ($encoding -ne 'base64' -and $encoding -ne 'text') { throw "'encoding' must be 'base64' or 'text'" }
} catch { Exit-OctoParamError (Get-OctoErrorMessage $_) }

try {
    $share = [System.IO.FileShare]::ReadWrite -bor [System.IO.FileShare]::Delete
    $stream = [System.IO.File]::Open($path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, $share)
    try {
        $size = $stream.Length
        if ($offset -lt 0) { $offset = [Math]::Max([long]0, $size + $offset) }
        if ($offset -gt $size) { $offset = $size }
        $count = [int][Math]::Min($maxBytes, $size - $offset)
        $buffer = New-Object byte[] $count
        $null = $stream.Seek($offset, [System.IO.SeekOrigin]::Begin)
        $read = 0
        while ($read -lt $count) {
            $n = $stream.Read($buffer, $read, $count - $read)
            if ($n -le 0) { break }
            $read += $n
        }
    } finally { $stream.Dispose() }
    if ($encoding -eq 'base64') { $data = [Convert]::ToBase64String($buffer, 0, $read) }
    else { $data = (New-Object System.Text.UTF8Encoding $false).GetString($buffer, 0, $read) }
    Write-OctoResult ([ordered]@{
        ok = $true; path = $path; exists = $true; size = [long]$size; offset = [long]$offset
        length = [long]$read; eof = (($offset + $read) -ge $size); encoding = $encoding; data = $data
    })
    exit 0
} catch {
    $exception = $_.Exception
    if ($exception.InnerException) { $exception = $exception.InnerException }
    if ($exception -is [System.IO.FileNotFoundException] -or $exception -is [System.IO.DirectoryNotFoundException]) {
        # Not there (yet): an answer, not a failure.
        Write-OctoResult ([ordered]@{ ok = $false; path = $path; exists = $false; size = $null; error = $exception.Message })
        exit 0
    }
    Write-OctoResult ([ordered]@{ ok = $false; stage = 'read'; path = $path; error = $exception.Message })
    exit 1
}
