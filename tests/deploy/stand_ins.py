"""Stand-ins for the commands of the guide that need root, the network or systemd, so the guide's
own blocks run in a scratch folder: ``stand_ins.py NAME ARGS`` for ``sudo``, ``useradd``, ``git``,
``python3.11``, ``install``, ``pip`` and ``systemctl`` (``write`` puts one small script per name
into a folder that goes first on PATH). Each does what the real command would do to the scratch
host (or checks that it could), and logs what it was asked.

Settings (environment): GUIDE_ROOT (the project), GUIDE_SCRATCH, GUIDE_VENV (an installed
environment), GUIDE_UNITS (the unit folder), GUIDE_LOG (one JSON line per call).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

KEEP = ("PATH", "LANG", "GUIDE_ROOT", "GUIDE_SCRATCH", "GUIDE_VENV", "GUIDE_UNITS", "GUIDE_LOG")
NOT_CLONED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", "instance", ".env", ".pytest_cache",
                                    "test-artifacts", ".schemathesis")


def log(command: str, args: list[str]) -> None:
    with open(os.environ["GUIDE_LOG"], "a") as out:
        out.write(json.dumps({"command": command, "args": args, "cwd": os.getcwd()}) + "\n")


def fail(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


def sudo(args: list[str]) -> None:
    """Run the command with sudo's fresh environment (as whichever user: the tests have one)."""
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option in ("-u", "-g"):
            args.pop(0)
        elif option == "--":
            break
    if not args:
        fail("usage: sudo [-u USER] COMMAND")
    env = {k: os.environ[k] for k in KEEP if k in os.environ}
    env["HOME"] = str(Path(os.environ["GUIDE_SCRATCH"]) / "home")
    os.execvpe(args[0], args, env)


def git(args: list[str]) -> None:
    if args[:1] == ["clone"] and len(args) == 3:
        shutil.copytree(os.environ["GUIDE_ROOT"], args[2], ignore=NOT_CLONED, symlinks=True)
    elif args[:1] == ["pull"]:
        if not Path("run.py").exists():
            fail("fatal: not a git repository", 128)
    else:
        fail(f"git {' '.join(args)}: not something the guide does", 2)


def python(args: list[str]) -> None:
    """``python3.11 -m venv DIR``: an environment whose packages are the tests' own."""
    if args[:2] != ["-m", "venv"] or len(args) != 3:
        fail(f"python3.11 {' '.join(args)}: not something the guide does", 2)
    venv, real = Path(args[2]), Path(os.environ["GUIDE_VENV"])
    (venv / "bin").mkdir(parents=True)
    shutil.copy(real / "pyvenv.cfg", venv / "pyvenv.cfg")
    (venv / "lib").symlink_to(real / "lib")
    for name in ("python", "python3", "python3.11", "flask", "gunicorn"):
        (venv / "bin" / name).symlink_to(real / "bin" / name)
    shutil.copy(Path(os.environ["GUIDE_SCRATCH"]) / "stand-ins" / "pip", venv / "bin" / "pip")


def pip(args: list[str]) -> None:
    """``pip install --require-hashes -r FILE``: checks FILE pins everything by hash."""
    if args[:1] != ["install"] or "-r" not in args:
        fail(f"pip {' '.join(args)}: not something the guide does", 2)
    lock = Path(args[args.index("-r") + 1])
    if not lock.exists():
        fail(f"ERROR: Could not open requirements file: {lock}")
    text = lock.read_text()
    pins, hashes = text.count("=="), text.count("--hash=sha256:")
    if "--require-hashes" in args and (not pins or hashes < pins):
        fail(f"ERROR: {lock} does not pin every requirement with a hash ({pins} pins, {hashes} hashes)")


def install(args: list[str]) -> None:
    """install(1) without -o/-g: the scratch host has no such users."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-o", "-g"):
            skip = True
        elif not arg.startswith(("--owner=", "--group=")):
            kept.append(arg)
    os.execv("/usr/bin/install", ["install", *kept])


def systemctl(args: list[str]) -> None:
    """enable/disable as systemd does them (links in ``TARGET.wants``); the rest is logged."""
    sys.path.insert(0, os.environ["GUIDE_ROOT"])
    from tests.deploy.guide import full_name, read_unit, unit_file, values

    units = Path(os.environ["GUIDE_UNITS"])
    verb, *names = [a for a in args if not a.startswith("--")]
    for name in map(full_name, names):
        if verb in ("enable", "disable", "start", "restart") and "*" not in name and \
                not unit_file(units, name).exists():
            fail(f"Failed to {verb} unit: Unit file {name} does not exist.")
        if verb == "enable":
            for target in " ".join(values(read_unit(unit_file(units, name)), "Install", "WantedBy")).split():
                (units / f"{target}.wants").mkdir(exist_ok=True)
                link = units / f"{target}.wants" / name
                if not link.is_symlink():
                    link.symlink_to(unit_file(units, name))
        elif verb == "disable":
            for link in units.glob(f"*.wants/{name}"):
                link.unlink()
        elif verb not in ("start", "stop", "restart", "reload"):
            fail(f"systemctl {verb}: not something the guide does", 2)
    if verb != "daemon-reload" and not names:
        fail(f"systemctl {verb}: no unit named", 2)


COMMANDS = {"sudo": sudo, "useradd": lambda args: None, "git": git, "python3.11": python, "install": install,
            "pip": pip, "systemctl": systemctl}


def write(folder: Path, python_executable: str) -> None:
    """One script per stand-in in ``folder``, each running this file with the given Python."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in COMMANDS:
        script = folder / name
        script.write_text(f'#!/bin/sh\nexec "{python_executable}" "{Path(__file__).resolve()}" {name} "$@"\n')
        script.chmod(0o755)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    log(command, args)
    COMMANDS[command](args)
