"""The demo: real Prometheus, Alertmanager and a Java service around alertreflex."""
