"""The image and the compose file as a user expects them, read without Docker: a slim image that
runs unprivileged, holds what the app needs and no secret, checks its health; compose services
that each run a role of the entrypoint, with the keys from the guide's .env."""
from __future__ import annotations

import fnmatch
import re
import subprocess

import yaml

from tests.deploy import guide

DOCKERFILE = guide.ROOT / "Dockerfile"
ENTRYPOINT = guide.DEPLOY / "entrypoint.sh"
VANI_SERVICES = ("migrate", "web", "worker", "scheduler", "mail")


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [tuple(line.split(None, 1)) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def roles() -> set[str]:
    """The roles deploy/entrypoint.sh knows (its ``case`` branches)."""
    return set(re.findall(r"^\s+([a-z-]+)\)", ENTRYPOINT.read_text(), re.M))


def compose() -> dict:
    return yaml.safe_load((guide.ROOT / "compose.yaml").read_text())


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``path`` (relative, with /) out of the build context: a pattern
    matches the path or a folder it is in; ``**/NAME`` matches NAME at any depth."""
    parts = path.split("/")
    folders = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch(folder, pattern) for folder in folders):
            return True
    return False


def test_the_image_is_slim_unprivileged_and_checks_its_health():
    steps = instructions()
    assert re.fullmatch(r"python:\d+\.\d+-slim", steps[0][1]) and steps[0][0] == "FROM"
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    health = next(arg for op, arg in steps if op == "HEALTHCHECK")
    assert '"healthcheck"' in health and "/app/deploy/entrypoint.sh" in health
    assert "healthz" in ENTRYPOINT.read_text()
    assert dict(steps)["ENTRYPOINT"] == '["/app/deploy/entrypoint.sh"]'
    assert dict(steps)["CMD"].strip('[]"') in roles()


def test_the_image_installs_the_lock_by_hash():
    runs = " ".join(arg for op, arg in instructions() if op == "RUN")
    assert re.search(r"pip install --require-hashes -r \S*requirements\.lock", runs)


def test_the_build_context_holds_the_app_and_no_secret():
    patterns = [line.strip() for line in (guide.ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    tracked = subprocess.run(["git", "ls-files"], cwd=guide.ROOT, capture_output=True, text=True).stdout.split()
    needed = [p for p in tracked if p.split("/")[0] in ("vani", "migrations", "templates", "static")]
    needed += ["run.py", "config.py", "gunicorn.conf.py", "requirements.lock", "deploy/entrypoint.sh"]
    assert [p for p in needed if ignored(p, patterns)] == []
    for secret in (".env", "instance/vani.db", "instance/encryption.key", ".git/config", ".venv/bin/python"):
        assert ignored(secret, patterns), secret


def test_each_compose_service_runs_a_role_of_the_entrypoint():
    services = compose()["services"]
    assert {"postgres", "redis", *VANI_SERVICES} <= set(services)
    for name in VANI_SERVICES:
        assert services[name]["build"] == "." and services[name]["command"][0] in roles(), name
        assert services[name]["init"] is True, f"{name}: signals must reach the process"
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "scheduler", "mail"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    assert services["web"]["healthcheck"]["test"][-1] == "healthcheck"


def test_the_guide_makes_every_key_compose_requires(tmp_path):
    required = set(re.findall(r"\$\{(\w+):\?", (guide.ROOT / "compose.yaml").read_text()))
    assert {"SECRET_KEY", "VANI_ENCRYPTION_KEYS", "POSTGRES_PASSWORD"} <= required
    subprocess.run(["bash", "-e", "-c", guide.blocks()["compose-env"]], cwd=tmp_path, check=True)
    made = guide.env_file(tmp_path / ".env")
    assert required <= {k for k, v in made.items() if v}
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0, ".env holds the keys: owner only"

    from vani import crypto
    from vani.config_checks import MIN_SECRET_KEY

    assert crypto.check_keys(made["VANI_ENCRYPTION_KEYS"]) is None
    assert len(made["SECRET_KEY"]) >= MIN_SECRET_KEY
