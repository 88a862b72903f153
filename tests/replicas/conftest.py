"""Replicas of alertreflex (real server processes) sharing one real PostgreSQL;
the ``shared_storage`` fixture is in tests/conftest.py."""
