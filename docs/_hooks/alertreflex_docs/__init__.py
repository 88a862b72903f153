"""Reference pages of alertreflex's documentation, generated from the code at build
time; docs/_hooks/hooks.py wires them into MkDocs."""
