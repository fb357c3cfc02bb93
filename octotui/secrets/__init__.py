"""Secrets: references, the stores (environment, keyring, encrypted file) and the one redactor."""
