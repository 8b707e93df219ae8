"""The dashboard's blueprint, and the session key every page checks against the password."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dash", __name__, url_prefix="/dashboard")
PASSWORD_STAMP_KEY = "pw"  # session key: see vani.accounts.users.password_stamp
