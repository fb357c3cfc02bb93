"""The WinRM session to a node, its errors and hints, and the connect and retry policy."""
