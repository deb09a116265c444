"""Long-running processes around the deterministic core."""
