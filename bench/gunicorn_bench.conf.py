"""Benchmark server settings: everything is given on the command line."""
loglevel = "warning"
