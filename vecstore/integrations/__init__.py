"""Integrations with other frameworks: each an optional extra, imported only when used."""
