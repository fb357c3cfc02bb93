"""The Textual face of octotui, installed as ``octotui.screens``.

Screens hold no logic of their own: every check, plan and run lives in the engine (``octotui``), which
never imports this package.
"""
