"""CLI command modules, listed in ``vani/cli.py``."""
