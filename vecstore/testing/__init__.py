"""The conformance suite every backend must pass (needs pytest)."""
