"""Vani: a self-hosted webhook hub for sales teams."""
from __future__ import annotations

import os

from flask import Flask

from vani.version import __version__  # noqa: F401  (the package's version, as usual)


def create_app(config=None) -> Flask:
    """Build the app. ``config`` is a Config instance, a dict of overrides, or None (from the environment)."""
    from vani import metrics_folder

    metrics_folder.prepare()  # before any metric exists: their files go there
    from sqlalchemy.orm import configure_mappers

    from config import BASE_DIR, Config, engine_options, load_env_file
    from vani import blueprints, cli, config_checks, errors, plugins, proxy, security, tenancy, tracing, work
    from vani.dashboard import live
    from vani.extensions import csrf, db, login_manager, migrate, redis_ext
    from vani.lanes import LANES
    from vani.providers.registry import PROVIDERS
    from vani.work import effects

    if config is None or isinstance(config, dict):
        overrides = config or {}
        if str(overrides.get("VANI_ENV") or os.environ.get("VANI_ENV") or "").lower() != "testing":
            load_env_file()  # never in tests: a developer's .env holds real tokens and Slack URLs
        config = Config.from_env(overrides.get("VANI_ENV"))
    else:
        overrides = {}
    app = Flask(__name__, instance_path=str(BASE_DIR / "instance"),
                template_folder=str(BASE_DIR / "templates"), static_folder=str(BASE_DIR / "static"))
    app.config.from_object(config)
    app.config["ENV_NAME"] = config.ENV_NAME
    app.config.update(overrides)
    if "SQLALCHEMY_ENGINE_OPTIONS" not in overrides:  # the pool suits the database finally chosen
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    config_checks.enforce(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        (BASE_DIR / "instance").mkdir(exist_ok=True)
    if not app.debug and not app.testing:
        tracing.configure_logging(app.config.get("VANI_LOG_FORMAT", "text"))

    tracing.init_app(app)
    db.init_app(app)
    tenancy.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    redis_ext.init_app(app, app.config.get("REDIS_CLIENT"))
    plugins.install(app, plugins.ProviderRegistry(PROVIDERS))
    work.install(app, LANES, drain=work.drain)
    effects.install(app, live.add_to)
    errors.init_app(app)
    proxy.init_app(app)
    security.init_app(app)
    blueprints.register(app)
    cli.init_app(app)
    # Every model is imported by now: set up their mappers once here, not in the first requests
    # that touch the database (they would each wait for it, and it takes a while).
    configure_mappers()
    return app
