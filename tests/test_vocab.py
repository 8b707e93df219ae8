"""Vocabularies are typed: roles, notification channels and kinds come from one enum each."""
from __future__ import annotations

import pytest

from vani.models import Role


def test_role_required_refuses_a_free_string():
    from vani.web.access import role_required

    with pytest.raises(TypeError, match="Role"):
        role_required("admin")
    assert role_required(Role.STAFF)(lambda: "ok").required_role is Role.STAFF


def test_every_guarded_view_names_a_role(app):
    guarded = {name: getattr(view, "required_role", None) for name, view in app.view_functions.items()}
    roles = {name: role for name, role in guarded.items() if role is not None}
    assert roles and all(isinstance(role, Role) for role in roles.values())
    assert roles["dash.users"] is Role.ADMIN and roles["dash.retry_delivery"] is Role.STAFF
