"""The migrations build exactly the schema the models describe, with a single head."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from tests.paths import MIGRATIONS
from vani import create_app, tenancy
from vani.extensions import db


def test_single_head():
    script = ScriptDirectory.from_config(_alembic_config())
    assert len(script.get_heads()) == 1, script.get_heads()


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def test_upgrade_matches_models_and_downgrades(fresh_database_url, redis_client):
    app = create_app({"VANI_ENV": "testing", "SQLALCHEMY_DATABASE_URI": fresh_database_url,
                      "REDIS_CLIENT": redis_client})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        downgrade(directory=str(MIGRATIONS), revision="base")
        with db.engine.connect() as conn:
            tables = set(db.inspect(conn).get_table_names()) - {"alembic_version"}
        assert tables == set()
        db.engine.dispose()


def test_the_upgrade_encrypts_secrets_stored_in_clear_and_keeps_old_tokens_working(fresh_database_url, redis_client):
    from sqlalchemy import select

    from vani.models import ApiToken, ProviderCredential, WebhookSubscription
    from vani.accounts.tokens import authenticate, hash_token

    app = create_app({"VANI_ENV": "testing", "SQLALCHEMY_DATABASE_URI": fresh_database_url,
                      "REDIS_CLIENT": redis_client})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="b305d546599e")  # a database from before secrets at rest
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO webhook_subscriptions (url, events, secret, active, created_at, updated_at, "
                              "consecutive_failures) VALUES ('https://crm.example.com/h', '[\"*\"]', "
                              "'whsec_cGxhaW50ZXh0LXNlY3JldC1vZi10aGlydHktdHdvISE=', true, CURRENT_TIMESTAMP, "
                              "CURRENT_TIMESTAMP, 0)"))
            conn.execute(text("INSERT INTO provider_credentials (provider, name, value, created_at, updated_at) "
                              "VALUES ('calendly', 'webhook_secret', 'plain-calendly-key', CURRENT_TIMESTAMP, "
                              "CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO api_tokens (name, token_hash, prefix, created_at) VALUES "
                              f"('old', '{hash_token('vani_old-token')}', 'vani_old-t', CURRENT_TIMESTAMP)"))
        upgrade(directory=str(MIGRATIONS))
        with db.engine.connect() as conn:
            raw = conn.execute(text("SELECT secret FROM webhook_subscriptions")).scalar_one()
            raw_cred = conn.execute(text("SELECT value FROM provider_credentials")).scalar_one()
        assert "cGxhaW50ZXh0" not in raw and raw_cred != "plain-calendly-key"
        with tenancy.everywhere():
            assert db.session.execute(select(WebhookSubscription.secret)).scalar_one().startswith("whsec_cGxhaW50ZXh0")
            assert db.session.execute(select(ProviderCredential.value)).scalar_one() == "plain-calendly-key"
            token = authenticate("vani_old-token")
            assert token is not None and sorted(token.scopes) == ["admin", "emit", "read", "subscriptions"]
            assert db.session.execute(select(ApiToken.name)).scalar_one() == "old"
        db.session.remove()
        db.engine.dispose()
