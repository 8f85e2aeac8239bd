"""Jobs above the facade: ingest, pairs, migrate, upgrade.

Each works through the small protocol :class:`~vecstore.jobs.base.Target` that
:class:`vecstore.Collection` provides (one retrying backend handle), never below it.
"""
