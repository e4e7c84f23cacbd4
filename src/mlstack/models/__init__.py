"""Model construction."""
