"""The heap of a long-running process (a gunicorn worker, a work-engine worker).

What a process loads once at start (modules, templates, mappers, the app) lives as long as the
process. ``settle`` moves it out of the cyclic garbage collector's sight (``gc.freeze``), so a
full collection in the middle of a request walks only what that request made instead of every
object the process holds: the pause that set the dashboard's slowest views. Forked children
share the frozen pages instead of copying them when the collector would have touched them.
"""
from __future__ import annotations

import gc


def settle() -> None:
    """Collect what start-up left behind, then freeze the rest. Call once, after the app is loaded."""
    gc.collect()
    gc.freeze()
