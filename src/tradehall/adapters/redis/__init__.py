"""Redis adapters: shared rate-limit buckets and signed-request nonces (scale-out mode)."""
