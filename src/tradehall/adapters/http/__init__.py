"""Outbound HTTP adapters (httpx): identity provider discovery and keys."""
