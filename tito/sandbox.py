"""Run untrusted code (a student's notebook) in a child process that cannot harm the grader.

What the child gets, in layers (the threat model in README.md says what each defends):

- a fresh folder of its own, outside the course tree, as its only writable place;
- a minimal environment: ``PYTHONPATH`` is the staging folder of that submission alone;
- resource limits: address space (``RLIMIT_AS``), files of at most 1 GiB (``RLIMIT_FSIZE``:
  the child's folder is on the grader's disk), no core files, its own session so that
  tito can kill it and everything it started;
- where bubblewrap (``bwrap``) is installed, a filesystem built from an allow-list: the
  system's ``/usr`` (and the ``/lib``, ``/bin`` links into it), the Python interpreter and
  its packages, the folders the caller names (the bundled data), read-only, and the child's
  own folder; an empty ``/tmp``, a private ``/proc``, no network. Another checkout, a home
  folder, ``/var``, the course folder and the repository do not exist in that view. When
  tito runs as root, bubblewrap builds the view as root and then runs the child through
  ``setpriv`` as the real ``nobody`` user, with no capabilities and ``no_new_privs``: it is
  ``nobody`` outside the sandbox too, so no root-only file or socket is within its reach.
  (bubblewrap run as ``nobody`` could not mount an interpreter that lives under root's
  private home, as pyenv's does.)

Without bubblewrap, a grader running as root runs the child as ``nobody`` when that user
can reach the Python interpreter and its packages (it cannot when they live under a private
``/root``, as with pyenv there); otherwise, and for any other user, the child runs as the
user who runs tito. The limits and the fresh folder hold either way; the allow-listed view
needs bubblewrap.

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

from tito.errors import TitoError

UNPRIVILEGED_USER = "nobody"
FILE_MAX_BYTES = 1024**3  # the largest file the child may write: it shares the grader's disk
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
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_MAX_BYTES, FILE_MAX_BYTES))
        if user is not None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

    return prepare


# The system's own programs and libraries; on merged-/usr systems the others are links into /usr.
_SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SYSTEM_FILES = ("/etc/ld.so.cache",)  # where the dynamic loader finds shared libraries


def interpreter_paths() -> list[Path]:
    """The Python interpreter and its packages: what the child must see to run at all."""
    paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    paths.update(Path(folder).resolve() for folder in site.getsitepackages())
    return sorted(path for path in paths if path.exists())


def _bubblewrap_command(bwrap: str, workdir: Path, visible: list[Path]) -> list[str]:
    """bwrap arguments: a view holding only the system, ``visible`` (read-only) and
    ``workdir`` (writable), with an empty /tmp, a private /proc and no network."""
    command = [
        bwrap, "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
    ]  # fmt: skip
    for folder in _SYSTEM_FOLDERS:
        if os.path.islink(folder):
            command += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            command += ["--ro-bind", folder, folder]
    for file in _SYSTEM_FILES:
        command += ["--ro-bind-try", file, file]
    made: set[Path] = set()
    for path, option in [*((path, "--ro-bind") for path in visible if path.exists()), (workdir, "--bind")]:
        # bwrap makes the folders above a mount private (0700); the child must pass through them.
        for folder in reversed(path.parents[:-1]):
            if folder not in made:
                made.add(folder)
                command += ["--perms", "0755", "--dir", str(folder)]
        command += [option, str(path), str(path)]
    command += ["--chdir", str(workdir)]
    if os.geteuid() == 0:
        # bwrap ran as root to build the view; the child itself runs as the real nobody.
        nobody = pwd.getpwnam(UNPRIVILEGED_USER)
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise TitoError("Grading as root needs setpriv (util-linux) to run the sandbox as nobody: apt-get install util-linux")
        command += [
            setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
        ]  # fmt: skip
    return command


def _child_user() -> pwd.struct_passwd | None:
    """The user the child runs as when that is not tito's own user, or None."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam(UNPRIVILEGED_USER) if bubblewrap() else _unprivileged_user()


def prepare_folder(workdir: Path) -> None:
    """Give ``workdir`` and what is in it to the user the child will run as."""
    user = _child_user()
    if user is not None:
        for path in (workdir, *workdir.rglob("*")):
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)


def run_sandboxed(
    argv: list[str],
    *,
    workdir: Path,
    environment: dict[str, str],
    memory_bytes: int,
    visible: list[Path],
    deadline: Callable[[float], str],
) -> Outcome:
    """Run ``argv`` in the sandbox with ``workdir`` (prepared by ``prepare_folder``) as its
    folder; ``visible`` folders are shown read-only. The child's input is a file there: a
    pipe it never read could block tito.

    ``deadline(elapsed)`` is asked repeatedly while the child runs; a non-empty answer (the
    limit it broke, as a sentence) makes tito kill the child's whole process group.
    Standard output and error are discarded: the child reports through its folder.
    """
    env = {name: os.environ[name] for name in _PASSED_VARIABLES if name in os.environ}
    env.update(HOME=str(workdir), TMPDIR=str(workdir), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    env.update(environment)
    bwrap = bubblewrap()
    command = [*_bubblewrap_command(bwrap, workdir, [*interpreter_paths(), *visible]), *argv] if bwrap else argv
    user = None if bwrap else _unprivileged_user()
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_limit_resources(memory_bytes, user),  # noqa: PLW1509 (tito starts no threads)
    )
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
