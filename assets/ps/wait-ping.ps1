# octotui-ps: wait-ping v1
# Waits until the Octopus Server on this node answers its health endpoint
# /api/octopusservernodes/ping: 200 (online) or 418 (online, draining). The URL is built from one of the
# node's listen prefixes with the host replaced by localhost, so the check is the node's own view and
# does not depend on DNS or a load balancer.
# Params: {"listen_prefix": "http://localhost:80/", "timeout_s": 120, "interval_s": 2,
#          "request_timeout_s": 10}
# Result: see assets/ps/README.md.
param([string]$ParamsJson = '')
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# ---- octotui shared helpers: assets/ps/_helpers.ps1 is inserted here when the script is sent ----

try {
    $P = ConvertFrom-OctoJson $ParamsJson
    $prefix = [string](Get-OctoParam $P 'listen_prefix' 'http://localhost:80/')
    $timeoutSeconds = [double](Get-OctoParam $P 'timeout_s' 120)
    $intervalSeconds = [double](Get-OctoParam $P 'interval_s' 2)
    $requestTimeoutSeconds = [double](Get-OctoParam $P 'request_timeout_s' 10)
    # http.sys prefixes may use the wildcards + and * as host names.
    $match = [regex]::Match($prefix, '^(?<scheme>https?)://(?<host>\[[^\]]+\]|[^/:]+)(:(?<port>\d+))?(?<path>/.*)?$',
                            [System.Text.RegularExpressions.RegexOptions]::IgnoreCase)
    if (-not $match.Success) { throw "'listen_prefix' is not an http:// or https:// listen prefix: $prefix" }
    $scheme = $match.Groups['scheme'].Value.ToLowerInvariant()
    $port = $match.Groups['port'].Value
    if (-not $port) { if ($scheme -eq 'https') { $port = '443' } else { $port = '80' } }
    $basePath = $match.Groups['path'].Value
    if (-not $basePath.EndsWith('/')) { $basePath += '/' }
    $url = $scheme + '://localhost:' + $port + $basePath + 'api/octopusservernodes/ping'
} catch { Exit-OctoParamError (Get-OctoErrorMessage $_) }

if ($scheme -eq 'https') {
    # The node checks itself on loopback; its certificate names the public host, not localhost.
    [System.Net.ServicePointManager]::ServerCertificateValidationCallback = { $true }
}

$started = [DateTime]::UtcNow
$deadline = $started.AddSeconds($timeoutSeconds)
$attempts = 0
$status = $null
$body = $null
$lastError = $null
while ($true) {
    $attempts++
    $status = $null
    $body = $null
    try {
        $request = [System.Net.WebRequest]::Create($url)
        $request.Timeout = [int]($requestTimeoutSeconds * 1000)
        $request.AllowAutoRedirect = $false
        try {
            $response = $request.GetResponse()
        } catch {
            # A 418 (draining) or 500 arrives as a WebException that still carries the response.
            $exception = $_.Exception
            if ($exception.InnerException -is [System.Net.WebException]) { $exception = $exception.InnerException }
            if ($exception -is [System.Net.WebException] -and $null -ne $exception.Response) {
                $response = $exception.Response
            } else { throw }
        }
        try {
            $status = [int]$response.StatusCode
            $reader = New-Object System.IO.StreamReader($response.GetResponseStream())
            try { $body = $reader.ReadToEnd() } finally { $reader.Dispose() }
            if ($body.Length -gt 65536) { $body = $body.Substring(0, 65536) }
        } finally { $response.Close() }
        if ($status -eq 200 -or $status -eq 418) { $lastError = $null; break }
        $lastError = "HTTP $status"
    } catch {
        $lastError = Get-OctoErrorMessage $_
    }
    if ([DateTime]::UtcNow.AddSeconds($intervalSeconds) -gt $deadline) { break }
    Start-Sleep -Milliseconds ([int]($intervalSeconds * 1000))
}

Write-OctoResult ([ordered]@{
    ok = ($status -eq 200 -or $status -eq 418)
    url = $url
    status = $status
    body = $body
    attempts = $attempts
    elapsed_s = [Math]::Round(([DateTime]::UtcNow - $started).TotalSeconds, 1)
    error = $lastError
})
exit 0
