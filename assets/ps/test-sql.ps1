# octotui-ps: test-sql v2
# Opens the connection string with System.Data.SqlClient as the identity this runs under (so Integrated
# Security from a plain WinRM session shows the double hop as ANONYMOUS LOGON) and reports what the
# installer must know: server version and collation, the login's rights, and the target database's
# state. It connects to master, so a database that does not exist yet is a finding, not a failure.
# Params: {"connection_string": "Server=...;Database=OctopusDeploy;Integrated Security=SSPI",
#          "database": "OctopusDeploy"}   ("database" defaults to the string's Initial Catalog)
# Result: see assets/ps/README.md.
param([string]$ParamsJson = '')
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# ---- octotui shared helpers: assets/ps/_helpers.ps1 is inserted here when the script is sent ----

try {
    $P = ConvertFrom-OctoJson $ParamsJson
    $connectionString = [string](Get-OctoParam $P 'connection_string' '')
    $database = [string](Get-OctoParam $P 'database' '')
    if (-not $connectionString) { throw "missing parameter 'connection_string'" }
} catch { Exit-OctoParamError (Get-OctoErrorMessage $_) }

function Invoke-OctoScalarRow($Connection, [string]$Sql, [hashtable]$Parameters) {
    # One row of a query as an array of values, DBNull turned into $null.
    $command = $Connection.CreateCommand()
    $command.CommandText = $Sql
    $command.CommandTimeout = 30
    foreach ($name in $Parameters.Keys) { $null = $command.Parameters.AddWithValue($name, $Parameters[$name]) }
    $reader = $command.ExecuteReader()
    try {
        $values = @()
        if ($reader.Read()) {
            for ($i = 0; $i -lt $reader.FieldCount; $i++) {
                if ($reader.IsDBNull($i)) { $values += , $null } else { $values += , $reader.GetValue($i) }
            }
        }
        return , $values
    } finally { $reader.Dispose(); $command.Dispose() }
}

$stage = 'connection_string'
$connection = $null
try {
    $builder = New-Object System.Data.SqlClient.SqlConnectionStringBuilder $connectionString
    if (-not $database) { $database = $builder.InitialCatalog }
    $builder.InitialCatalog = 'master'

    $stage = 'connect'
    $connection = New-Object System.Data.SqlClient.SqlConnection $builder.ConnectionString
    $connection.Open()

    $stage = 'server'
    $row = Invoke-OctoScalarRow $connection (
        "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)), " +
        "CAST(SERVERPROPERTY('Edition') AS nvarchar(128)), " +
        "CAST(SERVERPROPERTY('Collation') AS nvarchar(128)), SUSER_SNAME(), " +
        "IS_SRVROLEMEMBER('sysadmin'), IS_SRVROLEMEMBER('dbcreator'), " +
        "HAS_PERMS_BY_NAME(NULL, NULL, 'CREATE ANY DATABASE'), DB_ID(@db), " +
        "CAST(DATABASEPROPERTYEX(@db, 'Collation') AS nvarchar(128))") @{ '@db' = $database }
    $result = [ordered]@{
        ok = $true
        server_version = [string]$row[0]
        edition = [string]$row[1]
        server_collation = [string]$row[2]
        login = [string]$row[3]
        is_sysadmin = ($row[4] -eq 1)
        is_dbcreator = ($row[5] -eq 1)
        can_create_database = ($row[6] -eq 1)
        database = $database
        database_exists = ($null -ne $row[7])
        database_collation = $(if ($null -ne $row[8]) { [string]$row[8] } else { $null })
        database_accessible = $null
        is_db_owner = $null
        octopus_schema = $null
        octopus_version = $null
        database_error = $null
    }

    if ($result.database_exists) {
        $stage = 'database'
        try {
            $connection.ChangeDatabase($database)
            $dbRow = Invoke-OctoScalarRow $connection (
                "SELECT IS_ROLEMEMBER('db_owner'), " +
                "CASE WHEN OBJECT_ID(N'dbo.OctopusServerNode', N'U') IS NULL THEN 0 ELSE 1 END") @{}
            $result.database_accessible = $true
            $result.is_db_owner = ($dbRow[0] -eq 1)
            $result.octopus_schema = ($dbRow[1] -eq 1)
            if ($result.octopus_schema) {
                # The cluster's version, as Octopus's own docs read it; a table missing in old versions is no error.
                try {
                    $versionRow = Invoke-OctoScalarRow $connection (
                        "SELECT TOP 1 [Version] FROM [dbo].[OctopusServerInstallationHistory] " +
                        "ORDER BY [Installed] DESC") @{}
                    if ($versionRow.Count -gt 0 -and $null -ne $versionRow[0]) {
                        $result.octopus_version = [string]$versionRow[0]
                    }
                } catch { $result.octopus_version = $null }
            }
        } catch {
            # No user in the database for this login (error 916): a finding, not a failure.
            $inner = $_.Exception
            while ($inner.InnerException -and $inner -isnot [System.Data.SqlClient.SqlException]) {
                $inner = $inner.InnerException
            }
            if ($inner -isnot [System.Data.SqlClient.SqlException]) { throw }
            $result.database_accessible = $false
            $result.is_db_owner = $false
            $result.database_error = [ordered]@{ number = [int]$inner.Number; message = [string]$inner.Message }
        }
    }
    Write-OctoResult $result
    exit 0
} catch {
    $inner = $_.Exception
    while ($inner.InnerException -and $inner -isnot [System.Data.SqlClient.SqlException]) {
        $inner = $inner.InnerException
    }
    $number = $null
    if ($inner -is [System.Data.SqlClient.SqlException]) { $number = [int]$inner.Number }
    else { $inner = $_.Exception; if ($inner.InnerException) { $inner = $inner.InnerException } }
    Write-OctoResult ([ordered]@{ ok = $false; stage = $stage; number = $number; message = [string]$inner.Message })
    exit 0
} finally {
    if ($connection) { $connection.Dispose() }
}
