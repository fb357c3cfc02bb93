"""A real Samba Active Directory domain controller for the lab (``octotui lab up --dc``) and the tests.

``sambadc`` provisions, configures, starts and stops a DC on one loopback address (the reusable part, shared with
tests/realservices); ``lab_dc`` is the lab's own DC: its accounts, computer accounts with SPNs, the keytab and
krb5.conf; ``diskfs`` serves the lab's share from a real folder, the one smbd shares. Nothing here is imported
unless ``--dc`` is used: the DC needs root and the Debian Samba packages, the rest of the lab needs neither.
"""
