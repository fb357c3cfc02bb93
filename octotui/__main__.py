"""Allows ``python -m octotui`` where the console script is not on PATH."""

from octotui.cli.main import main

raise SystemExit(main())
