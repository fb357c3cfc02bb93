# octotui-ps: bootstrap v1
# Given to powershell.exe as -EncodedCommand. The script to run and its JSON parameters come on stdin
# (no 8191-character command-line limit, no secret in the process command line), framed as
#   <script text> NUL NUL NUL NUL <parameters: one line of JSON>
# See assets/ps/README.md.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try { [Console]::InputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }
try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }
$stdin = [string]::Join("`n", @($input))
$parts = $stdin.Split([string[]]@("`0`0`0`0"), 2, [System.StringSplitOptions]::None)
if ($parts.Length -ne 2) {
    [Console]::Error.WriteLine('octotui bootstrap: stdin does not hold <script> NUL NUL NUL NUL <params>')
    exit 2
}
& ([ScriptBlock]::Create($parts[0])) $parts[1].Trim()
exit 0
