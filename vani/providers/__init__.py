"""Provider plugins, one package each: a ``Provider`` (``vani.plugins.contract``) and its parts.
``registry.py`` lists them once; importing one provider's package imports no other."""
