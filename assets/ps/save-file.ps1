# octotui-ps: save-file v1
# Writes a file sent from the console (an MSI, a licence) in base64 chunks, one command per chunk, so
# files of tens of MB never need one huge message. Chunks go to "<path>.octotui-part"; the chunk that
# carries "sha256" is the last: the whole file is hashed, compared, and only then renamed to <path>.
# A chunk sent again (a retry) replaces what followed its offset, so a resend is harmless; a missing
# chunk is refused with the part's current size so the sender can resume from there.
# Params: {"path": "C:\\Install\\x.msi", "data_b64": "...", "offset": 0, "sha256": "<hex, last chunk>"}
# Result: see assets/ps/README.md.
param([string]$ParamsJson = '')
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# ---- octotui shared helpers: assets/ps/_helpers.ps1 is inserted here when the script is sent ----

try {
    $P = ConvertFrom-OctoJson $ParamsJson
    $path = [string](Get-OctoParam $P 'path' '')
    $offset = [long](Get-OctoParam $P 'offset' 0)
    $expected = ([string](Get-OctoParam $P 'sha256' '')).ToLowerInvariant()
    if (-not $path) { throw "missing parameter 'path'" }
    if (-not [System.IO.Path]::IsPathRooted($path)) { throw "'path' must be an absolute path" }
    if ($offset -lt 0) { throw "'offset' must not be negative" }
    $bytes = [Convert]::FromBase64String([string](Get-OctoParam $P 'data_b64' ''))
    $P = $null   # the decoded bytes are all we keep of a large chunk
} catch { Exit-OctoParamError (Get-OctoErrorMessage $_) }

$part = $path + '.octotui-part'
$stage = 'write'
$size = $null
try {
    $parent = [System.IO.Path]::GetDirectoryName($path)
    if ($parent) { $null = [System.IO.Directory]::CreateDirectory($parent) }
    $stream = [System.IO.File]::Open($part, [System.IO.FileMode]::OpenOrCreate,
                                     [System.IO.FileAccess]::ReadWrite, [System.IO.FileShare]::None)
    try {
        if ($offset -gt $stream.Length) {
            $size = $stream.Length
            $stage = 'offset'
            throw ('chunk offset {0} is past the end of the partial file ({1} bytes): a chunk is missing' -f $offset, $size)
        }
        $stream.SetLength($offset)
        $null = $stream.Seek(0, [System.IO.SeekOrigin]::End)
        $stream.Write($bytes, 0, $bytes.Length)
        $size = $stream.Length
    } finally { $stream.Dispose() }

    $result = [ordered]@{ ok = $true; path = $part; size = $size; complete = $false; sha256 = $null }
    if ($expected) {
        $stage = 'verify'
        $actual = Get-OctoSha256 $part
        if ($actual -ne $expected) {
            Remove-Item -LiteralPath $part -Force
            $size = 0
            throw "SHA-256 mismatch: expected $expected, the file received has $actual; send it again from offset 0"
        }
        $stage = 'rename'
        if (Test-Path -LiteralPath $path) { Remove-Item -LiteralPath $path -Force }
        [System.IO.File]::Move($part, $path)
        $result.path = $path
        $result.complete = $true
        $result.sha256 = $actual
    }
    Write-OctoResult $result
    exit 0
} catch {
    Write-OctoResult ([ordered]@{ ok = $false; stage = $stage; path = $path; size = $size; error = (Get-OctoErrorMessage $_) })
    exit 1
}
