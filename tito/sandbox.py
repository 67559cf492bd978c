"""Run untrusted code (a student's notebook) in a child process that cannot harm the grader.

What the child gets, in layers (the threat model in README.md says what each defends):

- a fresh folder of its own, outside the course tree, as its only writable place;
- a minimal environment: ``PYTHONPATH`` is the staging folder of that submission alone;
- resource limits: address space (``RLIMIT_AS``), no core files, its own session so that
  tito can kill it and everything it started;
- where bubblewrap (``bwrap``) is installed: a read-only view of the filesystem, an empty
  ``/tmp``, no network, the folders tito names hidden behind empty ones (the course's
  solutions and gradebook, the repository's reference package), and, when tito runs as
  root, an unprivileged user of its own user namespace without capabilities.

Without bubblewrap, a grader running as root runs the child as ``nobody`` when that user
can reach the Python interpreter and its packages (it cannot when they live under a private
``/root``, as with pyenv there); otherwise, and for any other user, the child runs as the
user who runs tito. The limits and the fresh folder hold either way; the read-only view and
the hidden folders need bubblewrap.

tito watches the child from outside: a cell that runs past its limit plus a grace period,
or a notebook past its cap, ends in a kill of the whole process group.
"""

from __future__ import annotations

import os
import pwd
import resource
import shutil
import signal
import site
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

UNPRIVILEGED_USER = "nobody"
_POLL_SECONDS = 0.05
# What the child inherits from tito's environment; everything else is left out.
_PASSED_VARIABLES = (
    "PATH", "LANG", "LC_ALL", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
)


@dataclass(frozen=True)
class Outcome:
    """How the child ended: its exit code (negative: killed by that signal) and why tito killed it."""

    returncode: int
    killed_for: str = ""  # "" when it ended on its own, else a sentence naming the limit
    seconds: float = 0.0


def bubblewrap() -> str | None:
    """The ``bwrap`` program, if installed."""
    return shutil.which("bwrap")


def others_can_reach(paths: list[Path]) -> bool:
    """Whether a user who owns none of ``paths`` can read them and pass through every folder above them."""
    for path in paths:
        path = path.resolve()
        if not os.stat(path).st_mode & stat.S_IROTH:
            return False
        for folder in path.parents:
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return False
    return True


def _unprivileged_user() -> pwd.struct_passwd | None:
    """``nobody``, when tito runs as root and ``nobody`` can run this Python; else None."""
    if os.geteuid() != 0:
        return None
    interpreter = [Path(sys.executable), Path(sys.prefix), Path(sys.base_prefix), *map(Path, site.getsitepackages())]
    return pwd.getpwnam(UNPRIVILEGED_USER) if others_can_reach(interpreter) else None


def _limit_resources(memory_bytes: int, user: pwd.struct_passwd | None) -> Callable[[], None]:
    """The function the child runs between fork and exec: its resource limits, then its user."""

    def prepare() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if user is not None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

    return prepare


def _bubblewrap_command(bwrap: str, workdir: Path, hidden: list[Path], keep: list[Path]) -> list[str]:
    """bwrap arguments: everything read-only, ``hidden`` folders empty, ``keep`` visible
    (read-only) even inside them, ``workdir`` writable, a private /tmp, no network."""
    command = [
        bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session",
    ]  # fmt: skip
    if os.geteuid() == 0:
        # Root inside the sandbox could remount the read-only view; a user namespace of its
        # own, as an unprivileged user, leaves it no capability to do so.
        nobody = pwd.getpwnam(UNPRIVILEGED_USER)
        command += ["--unshare-user", "--uid", str(nobody.pw_uid), "--gid", str(nobody.pw_gid), "--cap-drop", "ALL"]
    for folder in hidden:
        if folder.exists():
            command += ["--tmpfs", str(folder)]
    # Shown again, read-only, whatever hid them: a hidden folder or the private /tmp (a
    # virtual environment may well live under /tmp, e.g. in a CI checkout).
    for path in keep:
        if path.exists():
            command += ["--ro-bind", str(path), str(path)]
    command += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
    return command


def run_sandboxed(
    argv: list[str],
    *,
    workdir: Path,
    stdin: bytes,
    environment: dict[str, str],
    memory_bytes: int,
    hidden: list[Path],
    keep: list[Path],
    deadline: Callable[[float], str],
) -> Outcome:
    """Run ``argv`` in the sandbox with ``workdir`` as its folder and ``stdin`` as its input.

    ``deadline(elapsed)`` is asked repeatedly while the child runs; a non-empty answer (the
    limit it broke, as a sentence) makes tito kill the child's whole process group.
    Standard output and error are discarded: the child reports through its folder.
    """
    env = {name: os.environ[name] for name in _PASSED_VARIABLES if name in os.environ}
    env.update(HOME=str(workdir), TMPDIR=str(workdir), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    env.update(environment)
    bwrap = bubblewrap()
    # The interpreter and its packages stay visible wherever they are.
    interpreter = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    command = [*_bubblewrap_command(bwrap, workdir, hidden, [*interpreter, *keep]), *argv] if bwrap else argv
    user = None if bwrap else _unprivileged_user()
    if user is not None:
        for path in (workdir, *workdir.rglob("*")):
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_limit_resources(memory_bytes, user),  # noqa: PLW1509 (tito starts no threads)
    )
    try:
        assert process.stdin is not None
        process.stdin.write(stdin)
        process.stdin.close()
    except BrokenPipeError:
        pass  # the child ended before reading; its outcome below says how
    killed_for = ""
    try:
        while process.poll() is None:
            reason = deadline(time.monotonic() - started)
            if reason:
                killed_for = reason
                break
            try:
                process.wait(timeout=_POLL_SECONDS)
            except subprocess.TimeoutExpired:
                continue
    finally:
        # A broken limit, or tito itself interrupted: nothing the child started outlives this call.
        if process.poll() is None:
            _kill_group(process)
    returncode = process.wait()
    return Outcome(returncode, killed_for, time.monotonic() - started)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's session: the child and anything it started (it cannot ignore SIGKILL)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # already gone
    process.wait()
