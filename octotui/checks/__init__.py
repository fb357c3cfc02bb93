"""Live preflight checks: each answers one question about the world before anything changes.

Every check returns a ``CheckResult`` with a stable id; the CLI prints them, the wizard shows them next to
the field they concern, and the plan refuses to start when one fails.
"""
