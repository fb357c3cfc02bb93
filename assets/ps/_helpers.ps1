# ---- octotui shared helpers: one copy, inserted into every script when sent ----------------
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
# The SHA-256 of a file as lower-case hex (what the engine compares uploads and downloads with).
function Get-OctoSha256([string]$Path) {
    $sha = [System.Security.Cryptography.SHA256]::Create()
    $stream = [System.IO.File]::OpenRead($Path)
    try { $hash = $sha.ComputeHash($stream) } finally { $stream.Dispose(); $sha.Dispose() }
    return [System.BitConverter]::ToString($hash).Replace('-', '').ToLowerInvariant()
}

# ---- end of shared helpers -------------------------------------------------------------------------
