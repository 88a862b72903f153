"""Ownership as code: team-owned rules and reflexes from a repository, validated and
delivered to Prometheus and alertreflex (``alertreflex sync``)."""
