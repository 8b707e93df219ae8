"""The shipped units, settings example and guide agree with the code: every lane has a worker
group, the target lets a host choose its units, and what production needs is in the example and
the guide."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

from config import Config, ProductionConfig
from tests.deploy import guide, stand_ins
from vani.config_checks import core
from vani.lanes import LANES
from vani.providers.registry import webhook_providers
from vani.work.wake import MAINTENANCE_QUEUE, queue_name

EVERY_QUEUE = {queue_name(lane) for lane in LANES} | {MAINTENANCE_QUEUE}
EXAMPLE = guide.DEPLOY / "vani.env.example"


def section(title: str) -> str:
    text = guide.GUIDE.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def table(text: str) -> dict[str, list[str]]:
    """A Markdown table's rows: each backquoted name of the first column → the other cells."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.strip().startswith("|") and len(cells) > 1:
            for name in re.findall(r"`([^`]+)`", cells[0]):
                rows[name] = cells[1:]
    return rows


# --- worker groups ------------------------------------------------------------------------------

def test_every_queue_has_a_worker_group():
    groups = guide.worker_groups()
    assert groups.pop("all") == [], "vani-worker@all listens on every queue (no --queue)"
    listened = {q for queues in groups.values() for q in queues}
    assert EVERY_QUEUE - listened == set(), "queues no worker group listens on (their work would wait forever)"
    assert listened - EVERY_QUEUE == set(), "worker groups listen on queues no lane uses"


def test_the_guide_gives_every_queue_its_group():
    rows = {q: cells for q, cells in table(section("Scaling out")).items() if q.startswith("vani-")
            and not q.startswith("vani-worker")}
    assert set(rows) == EVERY_QUEUE
    groups = guide.worker_groups()
    for queue, cells in rows.items():
        group = re.search(r"`vani-worker@(\w+)`", cells[-1]).group(1)
        assert queue in groups[group], f"the guide puts {queue} in vani-worker@{group}, the unit does not"


# --- the target ---------------------------------------------------------------------------------

def run_systemd_steps(tmp_path, *steps: str):
    """The ``cp`` and ``systemctl`` lines of the guide's blocks, on a scratch unit folder."""
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    (tmp_path / "stand-ins.log").touch()
    env = {**os.environ, "GUIDE_ROOT": str(guide.ROOT), "GUIDE_SCRATCH": str(tmp_path), "GUIDE_UNITS": str(units),
           "GUIDE_LOG": str(tmp_path / "stand-ins.log")}
    for step in steps:
        for line in guide.relocate(guide.blocks()[step], tmp_path).replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            words = words[1:] if words[:1] == ["sudo"] else words
            if words[:1] == ["cp"]:
                for pattern in words[1:-1]:
                    for path in sorted(guide.ROOT.glob(pattern)):
                        shutil.copy(path, words[-1])
            elif words[:1] == ["systemctl"]:
                result = subprocess.run([sys.executable, stand_ins.__file__, *words], env=env, capture_output=True,
                                        text=True)
                assert result.returncode == 0, f"{line}: {result.stderr}"
    return units


def test_what_the_guide_enables_is_installed(tmp_path):
    started, missing = guide.started_at_boot(run_systemd_steps(tmp_path, "systemd"))
    assert missing == []
    assert {"vani-web.service", "vani-scheduler.service"} <= started
    assert any(name.startswith("vani-worker@") for name in started)


def test_a_unit_disabled_for_the_split_stays_off_after_a_reboot(tmp_path):
    started, missing = guide.started_at_boot(run_systemd_steps(tmp_path, "systemd", "split"))
    assert missing == []
    assert "vani-worker@all.service" not in started
    assert {f"vani-worker@{group}.service" for group in guide.worker_groups() if group != "all"} <= started


def test_every_unit_belongs_to_the_target():
    for path in guide.DEPLOY.glob("vani-*.service"):
        unit = guide.read_unit(path)
        assert guide.values(unit, "Unit", "PartOf") == ["vani.target"], path.name
        assert guide.values(unit, "Install", "WantedBy") == ["vani.target"], path.name


# --- settings -----------------------------------------------------------------------------------

def required_settings(monkeypatch) -> set[str]:
    """The settings production refuses to start without, as the start-up check names them."""
    monkeypatch.setattr(os, "environ", {"DATABASE_URL": "postgresql://vani@db.internal/vani"})
    config = ProductionConfig()
    findings = core({"ENV_NAME": "production", **{k: getattr(config, k) for k in dir(config) if k.isupper()}})
    return {re.match(r"[A-Z_]+", f.message).group() for f in findings if f.level == "error"}


def test_the_example_and_the_guide_have_every_setting_production_needs(monkeypatch):
    required = required_settings(monkeypatch)
    assert "VANI_ENCRYPTION_KEYS" in required
    example = guide.env_file(EXAMPLE)
    settings_table = table(section("Settings that matter"))
    for name in required:
        assert name in example, f"{name} is missing from deploy/vani.env.example"
        assert name in settings_table, f"{name} is missing from the guide's settings table"
        assert re.search(rf"^\S*\s*.*\b{name}=", guide.blocks()["install"], re.M), \
            f"the guide's install block does not set {name}"
    assert "VANI_ENCRYPTION_KEYS" in section("Backups"), "the backups must keep the encryption keys"


def test_the_example_has_every_webhook_secret():
    example = guide.env_file(EXAMPLE)
    for provider in webhook_providers():
        assert set(provider.secret_settings) <= set(example), provider.name


def test_the_guide_gives_the_default_environment(monkeypatch):
    monkeypatch.delenv("VANI_ENV", raising=False)
    default = Config.from_env().ENV_NAME
    assert table(section("Settings that matter"))["VANI_ENV"][0] == f"`{default}`"


def test_the_guide_names_every_setting_gunicorn_reads():
    read = set(re.findall(r"os\.environ\.get\([\"'](\w+)[\"']", (guide.ROOT / "gunicorn.conf.py").read_text()))
    assert {"HOST", "GUNICORN_BIND", "FORWARDED_ALLOW_IPS"} <= read
    text = guide.GUIDE.read_text()
    assert {name for name in read if f"`{name}`" not in text} == set()


def test_an_upgrade_restarts_the_units():
    """Only a start reads vani.env: after an upgrade, which may bring new settings, restart."""
    upgrade = guide.blocks()["upgrade"]
    assert re.search(r"^sudo systemctl restart vani\.target", upgrade, re.M)
    assert "reload" not in upgrade
