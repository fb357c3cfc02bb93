"""The simulated executables a node can run; each module exposes ``PROGRAMS: dict[str, Program]``."""
