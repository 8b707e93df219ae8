"""Invitations: an admin invites an address; an existing account joins only when it accepts,
someone new signs up through the single-use link; the admin's answer never tells whether an
account exists; and a member signs in to the organisation they used last."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.clients import csrf_token_from, fresh_client
from vani import orgs, tenancy
from vani.extensions import db
from vani.models import Invitation, InvitationStatus, Membership, User


@pytest.fixture
def beta(app):
    return orgs.create("Beta Sales", slug="beta")


def text(r) -> str:
    return r.get_data(as_text=True)


def invite(admin, email: str, role: str = "viewer"):
    return admin.post("/dashboard/invitations", data={"email": email, "role": role, "csrf_token": admin.csrf})


def link_in(r) -> str:
    match = re.search(r'id="invitation-link">https?://[^/]+(/dashboard/join/[^<]+)<', text(r))
    assert match, text(r)
    return match.group(1)


def sign_in(app, email: str, password: str = "password-123", page: str = "/dashboard/"):
    client = fresh_client(app)
    r = client.post("/dashboard/login", data={"email": email, "password": password,
                                              "csrf_token": csrf_token_from(client)})
    assert r.status_code == 302, text(r)
    client.csrf = csrf_token_from(client, page)
    return client


def status_of(invitation_id: int) -> InvitationStatus:
    return db.session.execute(select(Invitation.status).where(Invitation.id == invitation_id)
                              .execution_options(unscoped=True)).scalar_one()


def membership(user_id: int, org_id: int):
    return db.session.execute(select(Membership.role).where(Membership.user_id == user_id,
                                                            Membership.org_id == org_id)).scalar()



def test_an_existing_account_joins_only_when_it_accepts_through_the_link(app, login, beta, make_user):
    shared = make_user("staff", email="shared@example.com")  # a member of the default organisation
    with tenancy.acting_for(beta.id):
        admin_b = login("admin", org_id=beta.id)
    r = invite(admin_b, "Shared@Example.COM", "staff")  # matched whatever the case
    assert r.status_code == 201 and "Invited shared@example.com as staff." in text(r)
    link = link_in(r)
    assert membership(shared.id, beta.id) is None  # not attached: nothing changed for the account
    page = text(admin_b.get("/dashboard/users"))
    assert "Pending invitations" in page and "<td>shared@example.com</td>" in page

    client = sign_in(app, "shared@example.com")
    assert "invitation" not in text(client.get("/dashboard/")).lower()  # nothing tells of it without the link
    assert "Beta Sales" not in text(client.get("/dashboard/invitations"))
    page = text(client.get(link))
    assert "join <strong>Beta Sales</strong> as <strong>staff</strong>" in page and ">Accept</button>" in page
    assert ">Decline</button>" in page
    r = client.post(f"{link}/accept", data={})
    assert r.status_code == 400 and membership(shared.id, beta.id) is None  # the CSRF token is required
    r = client.post(f"{link}/accept", data={"csrf_token": client.csrf})
    assert r.status_code == 303
    assert membership(shared.id, beta.id) == "staff" and membership(shared.id, tenancy.require()) == "staff"
    page = text(client.get("/dashboard/organisation"))
    assert f"/api/webhooks/calendly/{beta.key}" in page  # working in Beta now
    mine = db.session.execute(select(Invitation).execution_options(unscoped=True)).scalar_one()
    assert status_of(mine.id) == InvitationStatus.ACCEPTED
    refused = client.post(f"{link}/accept", data={"csrf_token": client.csrf})
    assert refused.status_code == 404  # single use
    assert ("This invitation is no longer valid (used, declined, revoked or expired); ask the admin for a new one."
            in refused.get_data(as_text=True))


def test_the_address_alone_accepts_nothing_without_the_link(app, login, beta, make_user):
    """An admin of one organisation can create an account under an address it invited (the link
    shows the admin, the address is never verified): that account must not take another
    organisation's invitation to the same address without its link."""
    admin_a = login("admin")
    with tenancy.acting_for(beta.id):
        admin_b = login("admin", org_id=beta.id)
    own = link_in(invite(admin_a, "victim@corp.example", "viewer"))
    squatter = fresh_client(app)  # A's admin, signed out, answers A's own link
    assert squatter.post(own, data={"password": "squatted-1", "csrf_token": csrf_token_from(squatter, own)}
                         ).status_code == 303
    victim = db.session.execute(select(User).where(User.email == "victim@corp.example")).scalar_one()
    squatter.csrf = csrf_token_from(squatter, "/dashboard/")
    theirs = link_in(invite(admin_b, "victim@corp.example", "admin"))
    b_row = db.session.execute(select(Invitation.id).where(Invitation.org_id == beta.id)
                               .execution_options(unscoped=True)).scalar_one()
    assert "Beta Sales" not in text(squatter.get("/dashboard/invitations"))
    for path in (f"/dashboard/invitations/{b_row}/accept", f"{own}/accept"):
        squatter.post(path, data={"csrf_token": squatter.csrf})
    assert membership(victim.id, beta.id) is None and status_of(b_row) == InvitationStatus.PENDING
    # The one who holds B's link (signed in as the address) joins with it.
    assert squatter.post(f"{theirs}/accept", data={"csrf_token": squatter.csrf}).status_code == 303
    assert membership(victim.id, beta.id) == "admin"


def test_a_declined_invitation_adds_nobody(app, login, beta, make_user):
    shared = make_user("staff", email="shared@example.com")
    with tenancy.acting_for(beta.id):
        link = link_in(invite(login("admin", org_id=beta.id), "shared@example.com"))
    client = sign_in(app, "shared@example.com")
    mine = db.session.execute(select(Invitation.id).execution_options(unscoped=True)).scalar_one()
    assert client.post(f"{link}/decline", data={"csrf_token": client.csrf}).status_code == 303
    assert membership(shared.id, beta.id) is None and status_of(mine) == InvitationStatus.DECLINED
    r = client.post(f"{link}/accept", data={"csrf_token": client.csrf})
    assert r.status_code == 404 and "no longer valid" in text(r)
    assert membership(shared.id, beta.id) is None


def test_the_admins_answer_is_the_same_for_known_and_unknown_addresses(app, login, make_user):
    make_user("viewer", email="known@example.com", org_id=orgs.create("Other Org", slug="other").id)  # elsewhere
    admin = login("admin")

    def answer(email: str):
        r = invite(admin, email)
        page = text(r).replace(email, "ADDRESS")
        page = re.sub(r"/dashboard/join/[\w-]+", "/dashboard/join/TOKEN", page)
        page = re.sub(r"<time[^>]*>.*?</time>", "<time>", page, flags=re.S)
        page = re.sub(r"/dashboard/invitations/\d+/", "/dashboard/invitations/N/", page)
        page = re.sub(r'(name="csrf_token" value=|name="csrf-token" content=)"[^"]*"', r'\1"CSRF"', page)  # timed tokens
        row = db.session.execute(select(Invitation.id).where(Invitation.email == email)).scalar_one()
        admin.post(f"/dashboard/invitations/{row}/revoke", data={"csrf_token": admin.csrf})
        admin.get("/dashboard/users")  # the revocation's message is shown here, not on the next answer
        return r.status_code, page

    known, unknown = answer("known@example.com"), answer("nobody@example.com")
    assert known[0] == unknown[0] == 201
    assert known[1] == unknown[1]
    assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 2  # no account made


def test_someone_new_signs_up_through_the_link_and_lands_in_the_organisation(app, login, beta):
    with tenancy.acting_for(beta.id):
        admin_b = login("admin", org_id=beta.id)
        link = link_in(invite(admin_b, "New.Person@example.com", "staff"))
    stored = db.session.execute(select(Invitation.token_hash).execution_options(unscoped=True)).scalar_one()
    assert link.rsplit("/", 1)[1] not in stored  # only the token's hash is kept

    person = fresh_client(app)
    page = text(person.get(link))
    assert "join <strong>Beta Sales</strong> as <strong>staff</strong>" in page and "new.person@example.com" in page
    refused = person.post(link, data={"password": "long-enough-1"})
    assert refused.status_code == 400  # no CSRF token
    assert "The CSRF token is missing." in refused.get_data(as_text=True)
    token = csrf_token_from(person, link)
    r = person.post(link, data={"password": "short", "csrf_token": token})
    assert r.status_code == 400 and "at least 8 characters" in text(r)
    assert db.session.execute(select(User).where(User.email == "new.person@example.com")).first() is None
    r = person.post(link, data={"password": "long-enough-1", "csrf_token": token})
    assert r.status_code == 303
    user = db.session.execute(select(User).where(User.email == "new.person@example.com")).scalar_one()
    assert user.check_password("long-enough-1") and membership(user.id, beta.id) == "staff"
    assert membership(user.id, tenancy.require()) is None
    assert f"/api/webhooks/calendly/{beta.key}" in text(person.get("/dashboard/organisation"))
    assert sign_in(app, "new.person@example.com", "long-enough-1").get("/dashboard/").status_code == 200


def test_a_used_revoked_or_expired_link_is_refused(app, login):
    admin = login("admin")
    used = link_in(invite(admin, "first@example.com"))
    first = fresh_client(app)
    assert first.post(used, data={"password": "long-enough-1", "csrf_token": csrf_token_from(first, used)}
                      ).status_code == 303
    again = fresh_client(app)
    r = again.get(used)
    assert r.status_code == 404 and "no longer valid" in text(r)
    token = csrf_token_from(again, "/dashboard/login")
    r = again.post(used, data={"password": "another-pass-1", "csrf_token": token})
    assert r.status_code == 404
    db.session.expire_all()
    assert db.session.execute(select(User).where(User.email == "first@example.com")).scalar_one() \
        .check_password("long-enough-1")

    expired = link_in(invite(admin, "late@example.com"))
    row = db.session.execute(select(Invitation).where(Invitation.email == "late@example.com")).scalar_one()
    row.expires_at = row.created_at - timedelta(seconds=1)
    db.session.commit()
    revoked = link_in(invite(admin, "gone@example.com"))
    gone = db.session.execute(select(Invitation.id).where(Invitation.email == "gone@example.com")).scalar_one()
    assert admin.post(f"/dashboard/invitations/{gone}/revoke", data={"csrf_token": admin.csrf}).status_code == 302
    for link in (expired, revoked, "/dashboard/join/not-a-token"):
        r = again.post(link, data={"password": "long-enough-1", "csrf_token": token})
        assert r.status_code == 404 and "no longer valid" in text(r), link
    assert db.session.execute(select(User).where(User.email.in_(["late@example.com", "gone@example.com"]))
                              ).first() is None
    assert "late@example.com" not in text(admin.get("/dashboard/users"))  # no longer pending


def test_another_account_cannot_accept_someone_elses_invitation(app, login, beta, make_user):
    make_user("viewer", email="invited@example.com")
    other = make_user("viewer", email="other@example.com")
    with tenancy.acting_for(beta.id):
        link = link_in(invite(login("admin", org_id=beta.id), "invited@example.com", "admin"))
    row = db.session.execute(select(Invitation.id).execution_options(unscoped=True)).scalar_one()
    client = sign_in(app, "other@example.com")
    r = client.get(link)
    assert r.status_code == 403 and "Sign out first" in text(r) and ">Accept</button>" not in text(r)
    for path in (link, f"{link}/accept", f"{link}/decline"):
        r = client.post(path, data={"password": "long-enough-1", "csrf_token": client.csrf})
        assert r.status_code == 403 and "Sign out first" in text(r), path
    assert membership(other.id, beta.id) is None
    assert status_of(row) == InvitationStatus.PENDING
    # The invited account, signed in (its email in any case), accepts it through the link.
    invited = sign_in(app, "INVITED@example.com")
    assert invited.post(f"{link}/accept", data={"csrf_token": invited.csrf}).status_code == 303


def test_an_account_in_no_organisation_accepts_through_the_link(app, login, make_user):
    loner = make_user("viewer", email="loner@example.com")
    db.session.execute(Membership.__table__.delete().where(Membership.user_id == loner.id))
    db.session.commit()
    link = link_in(invite(login("admin"), "loner@example.com", "staff"))
    client = sign_in(app, "loner@example.com", page=link)
    r = client.get("/dashboard/")
    assert r.status_code == 403 and "open the invitation link" in text(r)
    assert "open the invitation link its admin sent you" in text(client.get("/dashboard/invitations"))
    assert client.post(f"{link}/accept", data={"csrf_token": client.csrf}).status_code == 303
    assert client.get("/dashboard/").status_code == 200 and membership(loner.id, tenancy.require()) == "staff"


def test_a_short_password_answers_the_same_whether_or_not_an_account_exists(app, login, beta, make_user):
    make_user("viewer", email="known@example.com")
    with tenancy.acting_for(beta.id):
        admin_b = login("admin", org_id=beta.id)

    def answers(email: str):
        link = link_in(invite(admin_b, email))
        client = fresh_client(app)
        token = csrf_token_from(client, link)
        found = []
        for password in ("short", "long-enough-1"):
            r = client.post(link, data={"password": password, "csrf_token": token})
            found.append((r.status_code, text(r).replace(email, "ADDRESS").replace(token, "TOKEN")
                          .replace(link, "LINK").replace(link.replace("/", "%2F"), "LINK")))
        return found

    (known_short, known_long), (unknown_short, _) = answers("known@example.com"), answers("nobody@example.com")
    assert known_short == unknown_short and known_short[0] == 400 and "at least 8 characters" in known_short[1]
    # A good password for an existing account: one neutral answer, and the account is untouched.
    assert known_long[0] == 409 and "sign in as this address" in known_long[1]
    known = db.session.execute(select(User).where(User.email == "known@example.com")).scalar_one()
    assert known.check_password("password-123") and membership(known.id, beta.id) is None


def test_two_sign_ups_at_once_through_one_link_answer_409_not_500(app, login, monkeypatch):
    from vani.accounts import users

    link = link_in(invite(login("admin"), "racer@example.com", "staff"))
    find = users.find_by_email

    def created_meanwhile(email):
        if find(email) is None:  # the parallel request creates the account right after this check
            rival = User(email="racer@example.com", active=True)
            rival.set_password("the-rival-1")
            db.session.add(rival)
            db.session.commit()
        return None

    monkeypatch.setattr(users, "find_by_email", created_meanwhile)
    client = fresh_client(app)
    r = client.post(link, data={"password": "long-enough-1", "csrf_token": csrf_token_from(client, link)})
    assert r.status_code == 409 and "sign in as this address" in text(r)
    monkeypatch.undo()
    db.session.expire_all()
    only = db.session.execute(select(User).where(User.email == "racer@example.com")).scalar_one()
    assert only.check_password("the-rival-1")
    assert status_of(db.session.execute(select(Invitation.id)).scalar_one()) == InvitationStatus.PENDING


@pytest.mark.parametrize("change", ["demoted", "removed", "disabled"])
def test_an_invitation_does_not_outlive_its_inviters_rights(app, login, make_user, change):
    make_user("viewer", email="existing@example.com", org_id=orgs.create("Other Org", slug="other").id)
    admin = login("admin")
    login("admin")  # another admin stays
    new_link = link_in(invite(admin, "new@example.com", "admin"))
    old_link = link_in(invite(admin, "existing@example.com", "admin"))
    mine = select(Membership).where(Membership.user_id == admin.user.id)
    if change == "demoted":
        db.session.execute(mine).scalar_one().role = "viewer"
    elif change == "removed":
        db.session.delete(db.session.execute(mine).scalar_one())
    else:
        db.session.get(User, admin.user.id).active = False
    db.session.commit()
    person = fresh_client(app)
    r = person.get(new_link)
    assert r.status_code == 404 and "no longer valid" in text(r)
    r = person.post(new_link, data={"password": "long-enough-1", "csrf_token": csrf_token_from(person)})
    assert r.status_code == 404
    assert db.session.execute(select(User).where(User.email == "new@example.com")).first() is None
    existing = sign_in(app, "existing@example.com")
    r = existing.post(f"{old_link}/accept", data={"csrf_token": existing.csrf})
    assert r.status_code == 404 and "no longer valid" in text(r)
    known = db.session.execute(select(User).where(User.email == "existing@example.com")).scalar_one()
    assert membership(known.id, tenancy.require()) is None


def test_inviting_a_member_or_a_bad_address_is_refused(login):
    admin = login("admin")
    r = invite(admin, admin.user.email)
    assert r.status_code == 409 and "is a member already" in text(r)
    r = invite(admin, "not-an-address")
    assert r.status_code == 400 and "valid email" in text(r)
    r = invite(admin, "x@example.com", "boss")
    assert r.status_code == 400 and "Role must be one of" in text(r)
    assert db.session.execute(select(func.count()).select_from(Invitation)).scalar_one() == 0


def test_after_sign_in_a_member_lands_in_the_organisation_used_last(app, beta, make_user):
    both = make_user("staff", email="both@example.com")  # in Default ...
    db.session.add(Membership(user_id=both.id, org_id=beta.id, role="viewer"))  # ... and in Beta
    db.session.commit()
    default_key = orgs.get(tenancy.require()).key

    def lands_in(client) -> str:
        page = text(client.get("/dashboard/organisation"))
        return "default" if f"/api/webhooks/calendly/{default_key}" in page else \
            "beta" if f"/api/webhooks/calendly/{beta.key}" in page else "?"

    client = sign_in(app, "both@example.com")
    assert lands_in(client) == "beta"  # the first by name, the first time
    r = client.post("/dashboard/orgs/switch", data={"org": "default", "csrf_token": client.csrf})
    assert r.status_code == 303 and lands_in(client) == "default"
    assert lands_in(sign_in(app, "both@example.com")) == "default"  # a new session: where they left off
    db.session.execute(Membership.__table__.delete().where(Membership.user_id == both.id,
                                                           Membership.org_id == tenancy.require()))
    db.session.commit()
    assert lands_in(sign_in(app, "both@example.com")) == "beta"  # left it: the first one they belong to
