"""Sign in and sign out."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from vani.models.auth import password_method
from vani.accounts import signin_throttle
from vani.accounts.users import find_by_email, password_stamp, record_login
from vani.web.blueprint import PASSWORD_STAMP_KEY, bp


def safe_next(target: str | None) -> str:
    """Only local paths: never redirect to another site after sign-in."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target:
            return target
    return url_for("dash.overview")


_dummy_hashes: dict[str, str] = {}  # by hashing method


def _spend_equal_time(password: str) -> None:
    """Check against a throwaway hash so unknown emails answer as slowly as known ones."""
    method = password_method()
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash("not-a-real-password", method=method)
    check_password_hash(_dummy_hashes[method], password)


def start_session(user) -> None:
    """Sign ``user`` in on a new session (a session from before sign-in is never reused)."""
    session.clear()
    login_user(user)
    session[PASSWORD_STAMP_KEY] = password_stamp(user)
    record_login(user)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    error, status, blocked = None, 200, None
    email = (request.form.get("email") or "").strip().lower()
    if request.method == "POST":
        blocked = signin_throttle.begin(email, request.remote_addr)  # counted before the password is checked
        if blocked:
            error, status = blocked.message, 429
        else:
            user = find_by_email(email) if email else None
            password = request.form.get("password") or ""
            if user is None:
                _spend_equal_time(password)
            # Checked for a disabled account too, so it answers as slowly as an enabled one.
            elif user.check_password(password) and user.active:
                signin_throttle.succeeded(email, request.remote_addr)
                start_session(user)  # lands in the organisation they used last (see access)
                return redirect(safe_next(request.form.get("next")))
            error, status = "Wrong email or password.", 401
    response = render_template("login.html", error=error, email=email,
                               next=request.values.get("next", ""))
    return response, status, ({"Retry-After": str(blocked.retry_after)} if status == 429 else {})


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("dash.login"))
