"""Converters from the configs of other tools into alertreflex reflexes.

Each subpackage owns one source format, parses it with errors that name the file and the
line, and returns the reflex YAML together with plain-language remarks on what maps
and what behaves differently. Nothing here runs anything.
"""
