"""Vani's version, on the bottom layer so that anything may name it without importing the app."""

__version__ = "0.1.0"
