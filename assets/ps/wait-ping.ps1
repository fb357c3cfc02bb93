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

# ---- octotui shared helpers: identical in every script (a test keeps them in sync) ----------------
$OctoSentinel = '@@octotui-result@@'

function ConvertFrom-OctoJson([string]$Json) {
    # JavaScriptSerializer with no length limit: big parameters (file chunks) must not hit a 2 MB cap.
    Add-Type -AssemblyName System.Web.Extensions
    $serializer = New-Object System.Web.Script.Serialization.JavaScriptSerializer
    $serializer.MaxJsonLength = [int]::MaxValue
    if ([string]::IsNullOrWhiteSpace($Json)) { $Json = '{}' }
    $value = $serializer.DeserializeObject($Json)
    if ($value -isnot [System.Collections.IDictionary]) { throw 'the parameters must be a JSON object' }
    return $value
}

function Get-OctoParam($Params, [string]$Name, $Default = $null) {
    # Arrays come back unrolled by PowerShell: callers wrap list parameters in @().
    if ($Params.ContainsKey($Name) -and $null -ne $Params[$Name]) { return $Params[$Name] }
    return $Default
}

function ConvertTo-OctoJson($Value) {
    # Hand-written so that the result is plain ASCII (\uXXXX for anything else) whatever the code page.
    if ($null -eq $Value) { return 'null' }
    if ($Value -is [System.Management.Automation.PSObject]) { $Value = $Value.PSObject.BaseObject }
    if ($Value -is [bool]) { if ($Value) { return 'true' } else { return 'false' } }
    if ($Value -is [string] -or $Value -is [char] -or $Value -is [enum] -or $Value -is [guid]) {
        $escaped = [regex]::Replace([string]$Value, '[^\x20\x21\x23-\x5B\x5D-\x7E]', {
            param($m) '\u{0:x4}' -f [int][char]$m.Value })
        return '"' + $escaped + '"'
    }
    if ($Value -is [datetime]) { return '"' + $Value.ToUniversalTime().ToString('o') + '"' }
    if ($Value -is [double] -or $Value -is [single]) {
        if ([double]::IsNaN($Value) -or [double]::IsInfinity($Value)) { return 'null' }
    }
    if ($Value -is [System.ValueType]) {
        return [System.Convert]::ToString($Value, [System.Globalization.CultureInfo]::InvariantCulture)
    }
    if ($Value -is [System.Collections.IDictionary]) {
        $parts = @(foreach ($key in $Value.Keys) {
            (ConvertTo-OctoJson ([string]$key)) + ':' + (ConvertTo-OctoJson $Value[$key]) })
        return '{' + ($parts -join ',') + '}'
    }
    if ($Value -is [System.Collections.IEnumerable]) {
        $parts = @(foreach ($item in $Value) { ConvertTo-OctoJson $item })
        return '[' + ($parts -join ',') + ']'
    }
    return ConvertTo-OctoJson ([string]$Value)
}

function Write-OctoResult($Result) {
    # The one line the engine parses; everything else on stdout is progress text for humans.
    [Console]::Out.WriteLine($OctoSentinel + (ConvertTo-OctoJson $Result))
    [Console]::Out.Flush()
}

function Get-OctoErrorMessage($ErrorRecord) {
    # "Exception calling X with N argument(s)" wraps the .NET error; report the .NET text itself.
    $exception = $ErrorRecord.Exception
    while ($exception -is [System.Management.Automation.MethodInvocationException] -and $exception.InnerException) {
        $exception = $exception.InnerException
    }
    return $exception.Message
}

function Exit-OctoParamError([string]$Message) {
    Write-OctoResult ([ordered]@{ ok = $false; stage = 'params'; error = $Message })
    exit 2
}
# ---- end of shared helpers -------------------------------------------------------------------------

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
