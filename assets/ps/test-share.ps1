# octotui-ps: test-share v1
# Proves that the identity this runs under can use each shared folder: create a probe file, read it
# back, compare, delete it. Run from a plain WinRM session it shows the double hop ("Access is
# denied"); run through invoke-as-user (or with CredSSP) it shows what the service account will get.
# Params: {"paths": ["\\\\fs\\OctopusData", "\\\\fs\\OctopusData\\TaskLogs"]}
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
