"""Test kit for the engine: factories, scenario tables and invariant checks (nautilus
test_kit style). Imported only by tests."""
