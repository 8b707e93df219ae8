"""What the deployment tests read from the shipped files: the guide's marked code blocks, the
systemd units (as systemd reads them) and the set of units a host starts at boot."""
from __future__ import annotations

import re
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # (also imported by stand_ins.py, outside pytest)
GUIDE = ROOT / "docs" / "deploy.md"
DEPLOY = ROOT / "deploy"
# <!-- deploy-test: NAME --> right before a fenced sh block marks it as a step the tests run.
MARKED = re.compile(r"^([ \t]*)<!-- deploy-test: ([\w-]+) -->\n\1```(?:sh|bash)\n(.*?)\n\1```", re.M | re.S)
# The paths of a host the guide writes to, and where the tests put them instead.
HOST_PATHS = ("/etc/systemd/system", "/etc/vani", "/opt/vani", "/var/lib/vani")


def blocks(text: str | None = None) -> dict[str, str]:
    """The guide's marked blocks by name, in the guide's order."""
    found: dict[str, str] = {}
    for indent, name, body in MARKED.findall(GUIDE.read_text() if text is None else text):
        if name in found:
            raise ValueError(f"two blocks are marked {name!r}")
        found[name] = textwrap.dedent("\n".join(line[len(indent):] if line.startswith(indent) else line
                                                for line in body.splitlines()))
    return found


def relocate(text: str, scratch: Path) -> str:
    """``text`` with the host's paths moved under ``scratch``."""
    for path in HOST_PATHS:
        text = text.replace(path, f"{scratch}{path}")
    return text


# --- systemd units ----------------------------------------------------------------------------

def read_unit(path: Path, scratch: Path | None = None) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections, each a list of (key, value) in order (keys repeat in units); with
    ``scratch``, the host's paths in it moved there."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    text = path.read_text()
    for raw in (relocate(text, scratch) if scratch else text).splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict, section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def unit_file(unit_dir: Path, name: str) -> Path:
    """The file systemd loads ``name`` from: ``a@b.service`` from the template ``a@.service``."""
    if "@" in name:
        prefix, _, rest = name.partition("@")
        name = f"{prefix}@{rest[rest.index('.'):]}"
    return unit_dir / name


def full_name(name: str) -> str:
    return name if "." in name.rpartition("@")[2] else f"{name}.service"


def environment(unit: dict) -> dict[str, str]:
    """The unit's ``Environment=`` assignments (quotes as systemd takes them)."""
    found = {}
    for line in values(unit, "Service", "Environment"):
        for word in shlex.split(line):
            key, _, value = word.partition("=")
            found[key] = value
    return found


def worker_groups(path: Path = DEPLOY / "vani-worker@.service") -> dict[str, list[str]]:
    """The worker unit's groups (its instance names) and the queues each listens on."""
    groups = {}
    for key, value in environment(read_unit(path)).items():
        if key.startswith("VANI_QUEUES_"):
            words = shlex.split(value)
            groups[key.removeprefix("VANI_QUEUES_")] = [q for flag, q in zip(words[::2], words[1::2])
                                                         if flag == "--queue"]
    return groups


def env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines, as both systemd's EnvironmentFile= and ``set -a; . file`` read them."""
    found = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            found[key.strip()] = value.strip()
    return found


@dataclass
class Command:
    argv: list[str]
    cwd: Path
    env: dict[str, str]


def exec_start(unit_dir: Path, name: str, base_env: dict[str, str], scratch: Path) -> Command:
    """What systemd would run for the unit ``name``: its ExecStart= with ``%i`` and ``$VAR``
    expanded, its environment (EnvironmentFile=, then Environment=) and working directory, the
    host's paths moved under ``scratch``."""
    unit = read_unit(unit_file(unit_dir, name), scratch)
    instance = name.partition("@")[2].rpartition(".")[0]
    env = dict(base_env)
    for path in values(unit, "Service", "EnvironmentFile"):
        env.update(env_file(Path(path.lstrip("-"))))
    env.update(environment(unit))
    [line] = values(unit, "Service", "ExecStart")
    argv: list[str] = []
    for word in shlex.split(line.replace("%i", instance)):
        if re.fullmatch(r"\$\w+", word):
            argv += env.get(word[1:], "").split()  # $VAR: split into words (nothing when empty)
        else:
            argv.append(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), word))
    [cwd] = values(unit, "Service", "WorkingDirectory")
    return Command(argv, Path(cwd), env)


def started_at_boot(unit_dir: Path, root: str = "multi-user.target") -> tuple[set[str], list[str]]:
    """Vani's units a boot starts from ``root`` (through Wants=/Requires= and the ``.wants``
    folders that ``systemctl enable`` fills), and those named but not installed. Units that are
    not Vani's (``network-online.target``) are the system's own."""
    seen, missing, todo = set(), [], [root]
    while todo:
        name = todo.pop()
        if name in seen or (name != root and not name.startswith("vani")):
            continue
        seen.add(name)
        path = unit_file(unit_dir, name)
        if path.exists():
            unit = read_unit(path)
            for key in ("Wants", "Requires"):
                for line in values(unit, "Unit", key):
                    todo += line.split()
        elif name != root:  # (the root is systemd's own)
            missing.append(name)
            continue
        wants = unit_dir / f"{name}.wants"
        if wants.is_dir():
            todo += sorted(p.name for p in wants.iterdir())
    return {n for n in seen if n.endswith(".service")}, sorted(missing)


# --- the operator's shell -----------------------------------------------------------------------

class Terminal:
    """One bash session that the guide's blocks are typed into, one after the other: what a block
    defines or changes (a function, the current folder) stays for the next, as for an operator.
    A command that fails is reported (bash's ERR trap) and the block goes on, as it would."""

    FAILED = "__command_failed__"

    def __init__(self, scratch: Path, env: dict[str, str]):
        import subprocess

        self.scratch = scratch
        self.folder = scratch / "blocks"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shell = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=scratch / "home", env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._send(f"set -E -o pipefail; trap 'echo \"{self.FAILED} $? at: $BASH_COMMAND\"' ERR")

    def _send(self, line: str) -> None:
        self.shell.stdin.write((line + "\n").encode())
        self.shell.stdin.flush()

    def run(self, name: str, block: str, seconds: float = 60.0) -> str:
        """Type ``block`` (its host paths moved into the scratch folder); its output."""
        import os
        import selectors
        import time

        path = self.folder / f"{name}.sh"
        path.write_text(relocate(block, self.scratch) + "\n")
        done = f"__block_done__ {name}\n".encode()
        self._send(f"source {path} </dev/null; echo '{done.decode().strip()}'")
        output, deadline = b"", time.monotonic() + seconds
        with selectors.DefaultSelector() as selector:
            selector.register(self.shell.stdout, selectors.EVENT_READ)
            while not output.endswith(done):
                if not selector.select(max(deadline - time.monotonic(), 0)):
                    raise TimeoutError(f"block {name!r} still running after {seconds} s:\n{output.decode()}")
                chunk = os.read(self.shell.stdout.fileno(), 65536)
                if not chunk:
                    break
                output += chunk
        return output.removesuffix(done).decode(errors="replace")

    def close(self) -> None:
        self.shell.stdin.close()
        self.shell.wait(10)
