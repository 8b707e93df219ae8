"""Provider plugins; see ``base.py`` and ``registry.py``."""
