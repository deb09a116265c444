"""File adapters: stores that keep bytes in files under the data directory."""
