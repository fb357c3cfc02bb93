# octotui-ps: invoke-as-user v1
# Runs one command line as another account through a one-shot Scheduled Task registered with that
# account's password, as Ansible's "become" does. A WinRM session authenticated with NTLM or Kerberos
# holds no credentials it could pass on (the double hop), so steps that reach SQL Server with
# Integrated Security or a UNC share (e.g. "Octopus.Server.exe database --create --grant") run here,
# under a full logon of the service account. The password arrives on stdin only and goes straight to
# the Task Scheduler: never to disk, never onto a command line. The command line is run by
# cmd.exe /d /s /c "<command_line>", so it follows the same rules as a command sent through WinRS.
# Params: {"username": "WORK\\svcOctopus", "password": "...", "command_line": "...",
#          "timeout_s": 1800, "env": {"NAME": "value"}, "cwd": "C:\\Octopus"}
# Result: see assets/ps/README.md.
param([string]$ParamsJson = '')
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# ---- octotui shared helpers: assets/ps/_helpers.ps1 is inserted here when the script is sent ----

try {
    $P = ConvertFrom-OctoJson $ParamsJson
    $userName = [string](Get-OctoParam $P 'username' '')
    $password = [string](Get-OctoParam $P 'password' '')
    $commandLine = [string](Get-OctoParam $P 'command_line' '')
    $timeoutSeconds = [int](Get-OctoParam $P 'timeout_s' 1800)
    $envVars = Get-OctoParam $P 'env' @{}
    $cwd = [string](Get-OctoParam $P 'cwd' '')
    $stdinText = [string](Get-OctoParam $P 'stdin' '')
    if (-not $userName) { throw "missing parameter 'username'" }
    if (-not $commandLine) { throw "missing parameter 'command_line'" }
    if ($envVars -isnot [System.Collections.IDictionary]) { throw "'env' must be a JSON object" }
    if ($timeoutSeconds -le 0) { throw "'timeout_s' must be positive" }
} catch { Exit-OctoParamError (Get-OctoErrorMessage $_) }

# What the task runs, as the target account: cmd.exe /d /s /c "<command line>" (the same cmd.exe rules
# as a WinRS command), with the environment added, stdin closed and both output streams captured as
# UTF-8 into files this script reads back. It reads its job from job.json next to it, so nothing needs
# quoting into its text.
$taskWrapper = @'
$ErrorActionPreference = 'Stop'
$here = Split-Path -Parent $MyInvocation.MyCommand.Path
$utf8 = New-Object System.Text.UTF8Encoding $false
try {
    Add-Type -AssemblyName System.Web.Extensions
    $serializer = New-Object System.Web.Script.Serialization.JavaScriptSerializer
    $serializer.MaxJsonLength = [int]::MaxValue
    $job = $serializer.DeserializeObject([System.IO.File]::ReadAllText((Join-Path $here 'job.json'), $utf8))
    try { $null = & (Join-Path $env:SystemRoot 'System32\chcp.com') 65001 } catch { }
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = Join-Path $env:SystemRoot 'System32\cmd.exe'
    $psi.Arguments = '/d /s /c "' + [string]$job['command_line'] + '"'
    $psi.WorkingDirectory = [string]$job['cwd']
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.StandardOutputEncoding = $utf8
    $psi.StandardErrorEncoding = $utf8
    foreach ($name in @($job['env'].Keys)) { $psi.EnvironmentVariables[[string]$name] = [string]$job['env'][$name] }
    $process = [System.Diagnostics.Process]::Start($psi)
    $stdinFile = Join-Path $here 'stdin.txt'
    if (Test-Path -LiteralPath $stdinFile) {
        $process.StandardInput.Write([System.IO.File]::ReadAllText($stdinFile, $utf8))
    }
    $process.StandardInput.Close()
    $stdout = $process.StandardOutput.ReadToEndAsync()
    $stderr = $process.StandardError.ReadToEndAsync()
    $process.WaitForExit()
    [System.IO.File]::WriteAllText((Join-Path $here 'stdout.txt'), $stdout.Result, $utf8)
    [System.IO.File]::WriteAllText((Join-Path $here 'stderr.txt'), $stderr.Result, $utf8)
    [System.IO.File]::WriteAllText((Join-Path $here 'exitcode.txt'), [string]$process.ExitCode)
    exit $process.ExitCode
} catch {
    [System.IO.File]::WriteAllText((Join-Path $here 'wrapper-error.txt'), $_.Exception.Message, $utf8)
    exit 1
}
'@

$taskName = 'octotui-' + [guid]::NewGuid().ToString('N')
$work = Join-Path $env:ProgramData ('octotui\tasks\' + $taskName)
$codeFile = Join-Path $work 'exitcode.txt'
$wrapperErrorFile = Join-Path $work 'wrapper-error.txt'
$utf8 = New-Object System.Text.UTF8Encoding $false
$folder = $null
$registered = $false
$stage = 'prepare'
$result = [ordered]@{
    ok = $false; task_name = $taskName; account = $userName; exit_code = $null
    stdout = ''; stderr = ''; timed_out = $false; stage = $stage; error = $null; hresult = $null
}
try {
    # A working folder only SYSTEM, Administrators and the task's account can open: the job file
    # holds the command line and its environment.
    $null = [System.IO.Directory]::CreateDirectory($work)
    $directory = New-Object System.IO.DirectoryInfo $work
    $security = New-Object System.Security.AccessControl.DirectorySecurity
    $security.SetAccessRuleProtection($true, $false)
    $inherit = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
    $none = [System.Security.AccessControl.PropagationFlags]::None
    foreach ($grant in @(@('NT AUTHORITY\SYSTEM', 'FullControl'), @('BUILTIN\Administrators', 'FullControl'),
                         @($userName, 'Modify'))) {
        $rule = New-Object System.Security.AccessControl.FileSystemAccessRule($grant[0], $grant[1], $inherit, $none, 'Allow')
        $security.AddAccessRule($rule)
    }
    $directory.SetAccessControl($security)

    if (-not $cwd) { $cwd = $work }
    $job = [ordered]@{ command_line = $commandLine; cwd = $cwd; env = $envVars }
    [System.IO.File]::WriteAllText((Join-Path $work 'job.json'), (ConvertTo-OctoJson $job), $utf8)
    if ($stdinText) { [System.IO.File]::WriteAllText((Join-Path $work 'stdin.txt'), $stdinText, $utf8) }
    $runner = Join-Path $work 'run.ps1'
    [System.IO.File]::WriteAllText($runner, $taskWrapper, $utf8)

    # Register through the Task Scheduler COM API: it checks the logon now and reports a refusal with
    # its HRESULT (0x8007052E for a wrong user name or password).
    $scheduler = New-Object -ComObject Schedule.Service
    $scheduler.Connect()
    $folder = $scheduler.GetFolder('\')
    $definition = $scheduler.NewTask(0)
    $definition.RegistrationInfo.Description = 'octotui one-shot task; deleted when it ends'
    $definition.Settings.Enabled = $true
    $definition.Settings.AllowDemandStart = $true
    $definition.Settings.DisallowStartIfOnBatteries = $false
    $definition.Settings.StopIfGoingOnBatteries = $false
    $definition.Settings.ExecutionTimeLimit = 'PT0S'    # our own deadline below applies
    $definition.Settings.MultipleInstances = 2          # TASK_INSTANCES_IGNORE_NEW
    $definition.Principal.RunLevel = 1                  # TASK_RUNLEVEL_HIGHEST
    $action = $definition.Actions.Create(0)             # TASK_ACTION_EXEC
    $action.Path = Join-Path $env:SystemRoot 'System32\WindowsPowerShell\v1.0\powershell.exe'
    $action.Arguments = '-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "' + $runner + '"'
    $action.WorkingDirectory = $work
    $stage = 'register'
    # 6 = TASK_CREATE_OR_UPDATE, 1 = TASK_LOGON_PASSWORD.
    $task = $folder.RegisterTaskDefinition($taskName, $definition, 6, $userName, $password, 1)
    $registered = $true
    $password = $null

    $stage = 'run'
    $null = $task.Run($null)
    $deadline = [DateTime]::UtcNow.AddSeconds($timeoutSeconds)
    while (-not (Test-Path -LiteralPath $codeFile) -and -not (Test-Path -LiteralPath $wrapperErrorFile)) {
        Start-Sleep -Milliseconds 500
        $state = [int]$task.State                      # 2 queued, 3 ready, 4 running
        $last = [int]$task.LastTaskResult              # 0x41301 running, 0x41303 not yet run
        if ($state -ne 2 -and $state -ne 4 -and $last -ne 0x41301 -and $last -ne 0x41303) {
            Start-Sleep -Milliseconds 500              # let the wrapper's last write land
            break
        }
        if ([DateTime]::UtcNow -gt $deadline) {
            $result.timed_out = $true
            try { $task.Stop(0) } catch { }
            break
        }
    }

    $stage = 'collect'
    $outFile = Join-Path $work 'stdout.txt'
    $errFile = Join-Path $work 'stderr.txt'
    if (Test-Path -LiteralPath $outFile) { $result.stdout = [System.IO.File]::ReadAllText($outFile, $utf8) }
    if (Test-Path -LiteralPath $errFile) { $result.stderr = [System.IO.File]::ReadAllText($errFile, $utf8) }
    if (Test-Path -LiteralPath $codeFile) {
        $result.exit_code = [int]([System.IO.File]::ReadAllText($codeFile).Trim())
        $result.ok = $true
        $stage = 'done'
    } elseif (Test-Path -LiteralPath $wrapperErrorFile) {
        $result.error = 'the task could not start the command: ' + [System.IO.File]::ReadAllText($wrapperErrorFile, $utf8)
    } elseif ($result.timed_out) {
        $result.error = "the command did not finish within $timeoutSeconds seconds; the task was stopped"
    } else {
        # The task never ran its action, e.g. the account may not log on as a batch job.
        $result.hresult = '0x{0:X8}' -f [int]$task.LastTaskResult
        $result.error = 'the scheduled task did not run (last result ' + $result.hresult + ')'
    }
} catch {
    $exception = $_.Exception
    while ($exception.InnerException -and $exception -is [System.Management.Automation.MethodInvocationException]) {
        $exception = $exception.InnerException
    }
    $result.error = $exception.Message
    if ($exception -is [System.Runtime.InteropServices.COMException]) {
        $result.hresult = '0x{0:X8}' -f $exception.HResult
    }
} finally {
    $password = $null
    if ($registered) { try { $folder.DeleteTask($taskName, 0) } catch { } }
    try { Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction Stop } catch { }
}
$result.stage = $stage
Write-OctoResult $result
if ($result.ok) { exit 0 } else { exit 1 }
