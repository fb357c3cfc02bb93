"""The simulated Octopus Server: ``Octopus.Server.exe`` (``cli``), its node configuration and instance
registry (``config``), the Windows service that runs a node (``service``) and its log (``logfile``).

Behaviour follows shared/reference/octopus-server.md; where the reference marks a fact as inferred, the
module that acts on it says which choice it made.
"""
