"""Cryptographic adapters: where master keys live (the local key file; a cloud KMS goes here)."""
