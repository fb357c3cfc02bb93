"""The lab: a simulated world of Windows nodes, a SQL Server and a file share, served on loopback.

It stands in for what cannot run here at the protocol level (real WinRM over HTTP for pywinrm), and it is
written independently of the engine: nothing here imports the engine's builders, quoting or parsers, so
that a bug on one side cannot hide in the other.
"""
