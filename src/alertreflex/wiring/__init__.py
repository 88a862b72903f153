"""How the rest of the Prometheus ecosystem is pointed at alertreflex.

Each module owns one neighbour's side of the wiring: the options, checked, and the
config text to paste into that tool. Nothing here writes a file or contacts anything;
the ``alertreflex`` commands print what these return.
"""
