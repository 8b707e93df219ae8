"""Organisations: create, find (by URL key or slug), name, and where they send notifications.

Who belongs to which organisation, and as what, is ``vani.accounts.memberships``."""
from __future__ import annotations

import re
import threading
import zoneinfo
from dataclasses import dataclass

from cachetools import TTLCache
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from vani import egress, tenancy
from vani.errors import Conflict, InvalidField, NotFound
from vani.extensions import db
from vani.models import DEFAULT_SLUG, Membership, Organisation, Role, User
from vani.models.base import utcnow
from vani.models.dbutil import dialect_insert
from vani.models.orgs import new_key

_SLUG = re.compile(r"[^a-z0-9]+")
_CACHE_SECONDS = 30.0
# Bounded: a flood of made-up webhook keys (each an entry, "no organisation") pushes out the least
# recently used entries instead of growing the process. (app, kind, value) → (found,)
CACHE_SIZE = 4096
_cache: TTLCache[tuple[int, str, str], tuple[object]] = TTLCache(CACHE_SIZE, _CACHE_SECONDS)
_lock = threading.Lock()


def slugify(name: str) -> str:
    return _SLUG.sub("-", name.strip().lower()).strip("-")[:64]


def _cached(kind: str, value: str, load):
    """``load()``, remembered for ``_CACHE_SECONDS`` in this process (None included)."""
    key = (id(current_app._get_current_object()), kind, value)
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit[0]
    found = load()
    with _lock:
        _cache[key] = (found,)
    return found


def _forget(kind: str, value: str) -> None:
    with _lock:
        _cache.pop((id(current_app._get_current_object()), kind, value), None)


def forget_cache() -> None:
    with _lock:
        _cache.clear()


def default_id() -> int:
    """The default organisation (the one every install before organisations became)."""
    found = _cached("slug", DEFAULT_SLUG, lambda: db.session.execute(
        select(Organisation.id).where(Organisation.slug == DEFAULT_SLUG)).scalar())
    if found is None:
        found = ensure_default().id
        _forget("slug", DEFAULT_SLUG)
    return found


def ensure_default() -> Organisation:
    """The default organisation, created when missing (the migration makes it; a database made
    with ``create_all`` gets it on first use, whichever process comes first)."""
    find = select(Organisation).where(Organisation.slug == DEFAULT_SLUG)
    org = db.session.execute(find).scalar_one_or_none()
    if org is None:
        try:
            with db.session.begin_nested():
                db.session.execute(dialect_insert(Organisation).values(
                    name="Default", slug=DEFAULT_SLUG, timezone="UTC", key=new_key(), created_at=utcnow())
                    .on_conflict_do_nothing(index_elements=["slug"]))
            db.session.commit()
        except IntegrityError:  # another process made it at the same moment (its key won)
            db.session.rollback()
        org = db.session.execute(find).scalar_one()
    return org


def id_for_key(key: str) -> int | None:
    """The organisation whose webhook URLs carry ``key``, or None."""
    if not key or len(key) > 64:
        return None
    return _cached("key", key, lambda: db.session.execute(
        select(Organisation.id).where(Organisation.key == key)).scalar())


def get(org_id: int) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"no organisation {org_id}")
    return org


def by_slug(slug: str) -> Organisation:
    org = db.session.execute(select(Organisation).where(Organisation.slug == slug.strip().lower())).scalar_one_or_none()
    if org is None:
        raise NotFound(f"no organisation {slug!r}")
    return org


def all_orgs() -> list[Organisation]:
    return list(db.session.execute(select(Organisation).order_by(Organisation.name, Organisation.id)).scalars())


def create(name: str, slug: str | None = None, timezone: str = "UTC", admin: User | None = None) -> Organisation:
    """A new organisation (its webhook key generated), with ``admin`` as its first admin. Commits."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidField("name", "give a name of 1 to 120 characters")
    slug = slugify(slug or name)
    if not slug:
        raise InvalidField("slug", "use letters or digits")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidField("timezone", f"{timezone!r} is not a time zone (e.g. Europe/Berlin)") from None
    if db.session.execute(select(func.count()).select_from(Organisation).where(Organisation.slug == slug)).scalar():
        raise Conflict(f"an organisation {slug!r} exists already")
    org = Organisation(name=name, slug=slug, timezone=timezone)
    db.session.add(org)
    db.session.flush()
    if admin is not None:
        db.session.add(Membership(user_id=admin.id, org_id=org.id, role=Role.ADMIN))
    db.session.commit()
    forget_cache()  # its key and name, at once in this process
    return org


@dataclass(frozen=True)
class OrgRef:
    """What a page needs to name an organisation (the switcher, the title)."""
    id: int
    name: str
    slug: str


def refs() -> dict[int, OrgRef]:
    """Every organisation's id, name and slug, cached for a while in this process (they rarely
    change; ``create`` refreshes them)."""
    return _cached("refs", "", lambda: {row.id: OrgRef(row.id, row.name, row.slug) for row in db.session.execute(
        select(Organisation.id, Organisation.name, Organisation.slug))})


def in_force() -> Organisation:
    return get(tenancy.require())


def set_notifications(routes: str | None = None, slack_url: str | None = None,
                      email_to: str | None = None) -> Organisation:
    """Change where the organisation in force sends notifications (None: leave as is, "": clear). Commits."""
    from vani.notifications.routing import RouteError, parse_routes

    org = in_force()
    if slack_url is not None:  # checked first: a refusal changes nothing
        slack_url = slack_url.strip()
        if slack_url and not slack_url.startswith(("https://", "http://")):
            raise InvalidField("slack_url", "use the https:// URL of a Slack incoming webhook")
        if slack_url:
            egress.check_url(slack_url, field="slack_url")  # the SSRF guard: no private or loopback target
    if routes is not None:
        try:
            parse_routes(routes)
        except RouteError as exc:
            raise InvalidField("routes", str(exc)) from None
        org.notify_routes = routes.strip() or None
    if slack_url is not None:
        org.slack_webhook_url = slack_url or None
    if email_to is not None:
        org.notify_email_to = email_to.strip() or None
    db.session.commit()
    return org


def set_read_on_arrival(on: bool) -> Organisation:
    """Send WhatsApp read receipts as messages arrive (True), or when someone opens the
    conversation (False), for the organisation in force. Commits."""
    org = in_force()
    org.mark_read_on_arrival = bool(on)
    db.session.commit()
    return org
