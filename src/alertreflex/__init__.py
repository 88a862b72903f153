"""alertreflex: turns Prometheus alerts into automatic, owned, audited operations."""

__version__ = "0.1.0"
