"""tradehall: an open-source multi-asset trading platform."""

__version__ = "0.1.0"
