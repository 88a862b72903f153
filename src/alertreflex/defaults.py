"""Defaults shared by the server and the CLI, importable without the heavy modules."""

# Outside 9090-9999, where Prometheus and its exporters live.
DEFAULT_LISTEN = "127.0.0.1:8976"
DEFAULT_STORAGE = "sqlite:///alertreflex.db"
