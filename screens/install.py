"""Install: what to install and how each node listens; in create mode the first administrator and licence."""

from __future__ import annotations

from typing import ClassVar

from octotui.screens.base import WizardScreen
from textual.app import ComposeResult
from textual.widgets import Checkbox

from octotui.spec.writer import get_value


class InstallScreen(WizardScreen):
    NAME = "install"
    SECTION = ""
    TITLE_TEXT = "Install"
    OWNS: ClassVar[tuple[str, ...]] = (r"mode", r"octopus_version", r"install(\..*)?", r"web(\..*)?",
                                       r"admin(\..*)?", r"license(\..*)?")
    HELP = """
Version: the exact Octopus Server version (e.g. 2025.3.1234); installed where missing, never downgraded.
Source: a URL, a path on the node (C:\\Install\\Octopus.2025.3.1234-x64.msi), a local file to upload, or
"chocolatey". Listen prefixes: comma-separated http.sys prefixes (http://+:80/). Comms port: Polling
Tentacles' port (default 10943).

Create mode only: the first administrator (a domain user who signs in with their own password) and an
optional licence file (XML) on this console.
"""

    def form(self) -> ComposeResult:
        yield self.field("octopus_version", "Octopus version", placeholder="2025.3.1234")
        yield self.field("install.source", "Installer source", placeholder="URL, C:\\path.msi, local file, chocolatey")
        yield self.field("web.listen_prefixes", "Listen prefixes", placeholder="http://+:80/")
        yield self.field("web.comms_port", "Comms port", placeholder="10943")
        yield Checkbox("Force SSL (redirect to HTTPS)", value=bool(get_value(self.state.data, "web.force_ssl", False)),
                       name="web.force_ssl", id="force-ssl")
        if self.state.mode == "create":
            yield self.field("admin.username", "First admin", placeholder="DOMAIN\\you")
            yield self.field("license.file", "Licence file", placeholder="optional: /path/to/license.xml")
