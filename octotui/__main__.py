"""Allows ``python -m octotui`` where the console script is not on PATH."""

from octotui.cli import main

raise SystemExit(main())
