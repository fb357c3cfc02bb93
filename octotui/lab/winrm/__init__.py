"""A simulated node's WS-Management (WinRM/WinRS) endpoint, real enough for pywinrm and pypsrp.

What it accepts, as a Windows host configured for the installer would:

- ``auth="ntlm"``: NTLM/Negotiate on HTTP (sealed with message encryption) or HTTPS; Basic on HTTPS;
- ``auth="basic"``: Basic only (on HTTP only with ``allow_basic_http``, Windows' AllowUnencrypted);
- CredSSP in either mode, on HTTPS or sealed on HTTP; the session then carries delegated credentials;
- a SOAP message in clear text over HTTP only with ``allow_basic_http``, whatever the auth.

The cmd shell resource only (``.../windows/shell/cmd``): Create, Command, Send, Receive, Signal, Delete.
"""

from octotui.lab.winrm.server import WinRMEndpoint

__all__ = ["WinRMEndpoint"]
