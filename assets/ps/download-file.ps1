# octotui-ps: download-file v1
# Downloads a URL to a path on the node (e.g. the Octopus MSI from an internal mirror), into
# "<path>.octotui-part" first, checks its SHA-256 when one is given, then renames it into place, so a
# broken download never leaves a plausible-looking installer behind.
# Params: {"url": "https://mirror/Octopus.2024.4.7002-x64.msi", "path": "C:\\Install\\...msi",
#          "sha256": "<hex>", "timeout_s": 600}
# Result: see assets/ps/README.md.
param([string]$ParamsJson = '')
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# ---- octotui shared helpers: assets/ps/_helpers.ps1 is inserted here when the script is sent ----

try {
    $P = ConvertFrom-OctoJson $ParamsJson
    $url = [string](Get-OctoParam $P 'url' '')
    $path = [string](Get-OctoParam $P 'path' '')
    $expected = ([string](Get-OctoParam $P 'sha256' '')).ToLowerInvariant()
    $timeoutSeconds = [int](Get-OctoParam $P 'timeout_s' 600)
    if (-not $url) { throw "missing parameter 'url'" }
    if ($url -notmatch '^https?://') { throw "'url' must be an http:// or https:// URL" }
    if (-not $path) { throw "missing parameter 'path'" }
    if (-not [System.IO.Path]::IsPathRooted($path)) { throw "'path' must be an absolute path" }
    if ($timeoutSeconds -le 0) { throw "'timeout_s' must be positive" }
} catch { Exit-OctoParamError (Get-OctoErrorMessage $_) }

$part = $path + '.octotui-part'
$stage = 'download'
try {
    # Windows PowerShell 5.1 does not offer TLS 1.2 by default on every build.
    [System.Net.ServicePointManager]::SecurityProtocol =
        [System.Net.ServicePointManager]::SecurityProtocol -bor [System.Net.SecurityProtocolType]::Tls12
    $parent = [System.IO.Path]::GetDirectoryName($path)
    if ($parent) { $null = [System.IO.Directory]::CreateDirectory($parent) }

    $request = [System.Net.WebRequest]::Create($url)
    $request.Timeout = $timeoutSeconds * 1000
    $request.ReadWriteTimeout = $timeoutSeconds * 1000
    $response = $request.GetResponse()
    try {
        $source = $response.GetResponseStream()
        $target = [System.IO.File]::Create($part)
        try { $source.CopyTo($target) } finally { $target.Dispose(); $source.Dispose() }
    } finally { $response.Close() }

    $stage = 'verify'
    $actual = Get-OctoSha256 $part
    if ($expected -and $actual -ne $expected) {
        Remove-Item -LiteralPath $part -Force
        throw "SHA-256 mismatch: expected $expected, downloaded $actual"
    }
    $stage = 'rename'
    if (Test-Path -LiteralPath $path) { Remove-Item -LiteralPath $path -Force }
    [System.IO.File]::Move($part, $path)
    $size = (New-Object System.IO.FileInfo $path).Length
    Write-OctoResult ([ordered]@{ ok = $true; path = $path; size = [long]$size; sha256 = $actual })
    exit 0
} catch {
    if (Test-Path -LiteralPath $part) { Remove-Item -LiteralPath $part -Force -ErrorAction SilentlyContinue }
    Write-OctoResult ([ordered]@{ ok = $false; stage = $stage; url = $url; error = (Get-OctoErrorMessage $_) })
    exit 1
}
