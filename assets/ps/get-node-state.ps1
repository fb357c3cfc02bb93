# octotui-ps: get-node-state v1
# What the installer reads from a node before planning: its name, OS and domain, whether and where
# Octopus Server is installed, the Octopus services, free space per fixed drive, and whether the given
# paths exist (local or UNC, as the identity this runs under sees them).
# Params: {"paths": ["C:\\Octopus", "\\\\fs\\share"]}  (optional)
# Result: see assets/ps/README.md.
param([string]$ParamsJson = '')
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# ---- octotui shared helpers: assets/ps/_helpers.ps1 is inserted here when the script is sent ----

try {
    $P = ConvertFrom-OctoJson $ParamsJson
    $paths = @(Get-OctoParam $P 'paths' @())
} catch { Exit-OctoParamError (Get-OctoErrorMessage $_) }

try {
    $computer = Get-CimInstance -ClassName Win32_ComputerSystem
    $os = Get-CimInstance -ClassName Win32_OperatingSystem

    # The Octopus MSI records its folder under HKLM\SOFTWARE\Octopus\OctopusServer and its version in
    # an Uninstall entry whose key name is the product code, so search the entries by display name.
    $installLocation = $null
    $octopusKey = 'HKLM:\SOFTWARE\Octopus\OctopusServer'
    if (Test-Path -LiteralPath $octopusKey) {
        $value = (Get-ItemProperty -LiteralPath $octopusKey -ErrorAction SilentlyContinue).InstallLocation
        if ($value) { $installLocation = [string]$value }
    }
    $version = $null
    foreach ($root in @('HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall',
                        'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall')) {
        if (-not (Test-Path -LiteralPath $root)) { continue }
        foreach ($key in @(Get-ChildItem -LiteralPath $root -ErrorAction SilentlyContinue)) {
            $entry = Get-ItemProperty -LiteralPath $key.PSPath -ErrorAction SilentlyContinue
            if ($entry -and [string]$entry.DisplayName -eq 'Octopus Deploy Server') {
                $version = [string]$entry.DisplayVersion
            }
        }
    }

    $services = New-Object System.Collections.ArrayList
    foreach ($service in @(Get-CimInstance -ClassName Win32_Service)) {
        $name = [string]$service.Name
        $binary = [string]$service.PathName
        if ($name -like 'OctopusDeploy*' -or $binary -like '*Octopus.Server.exe*') {
            $startType = [string]$service.StartMode
            if ($startType -eq 'Auto') { $startType = 'Automatic' }
            [void]$services.Add([ordered]@{
                name = $name
                display_name = [string]$service.DisplayName
                state = [string]$service.State
                start_type = $startType
                account = [string]$service.StartName
                binary_path = $binary
            })
        }
    }

    $drives = New-Object System.Collections.ArrayList
    foreach ($disk in @(Get-CimInstance -ClassName Win32_LogicalDisk -Filter 'DriveType=3')) {
        [void]$drives.Add([ordered]@{ name = [string]$disk.DeviceID; free_bytes = [long]$disk.FreeSpace })
    }

    $pathResults = New-Object System.Collections.ArrayList
    foreach ($path in $paths) {
        $entry = [ordered]@{ path = [string]$path; exists = $false; kind = $null; error = $null }
        try {
            $item = Get-Item -LiteralPath ([string]$path) -Force -ErrorAction Stop
            $entry.exists = $true
            if ($item.PSIsContainer) { $entry.kind = 'directory' } else { $entry.kind = 'file' }
        } catch [System.Management.Automation.ItemNotFoundException] {
            # Simply not there.
        } catch {
            # Refused or unreachable (for a UNC path from a WinRM session: the double hop).
            $entry.error = Get-OctoErrorMessage $_
        }
        [void]$pathResults.Add($entry)
    }

    Write-OctoResult ([ordered]@{
        ok = $true
        hostname = [string]$computer.Name
        domain = [string]$computer.Domain
        part_of_domain = [bool]$computer.PartOfDomain
        os_caption = [string]$os.Caption
        os_version = [string]$os.Version
        identity = [System.Security.Principal.WindowsIdentity]::GetCurrent().Name
        octopus = [ordered]@{
            installed = ($null -ne $installLocation -or $null -ne $version)
            version = $version
            install_location = $installLocation
        }
        services = $services
        drives = $drives
        paths = $pathResults
    })
    exit 0
} catch {
    Write-OctoResult ([ordered]@{ ok = $false; stage = 'query'; error = (Get-OctoErrorMessage $_) })
    exit 1
}
