"""Embedded defaults: the in-process event bus."""
