"""Queries and helpers behind the dashboard pages; the views in ``vani.web`` stay thin."""
