"""``tito system doctor``: check that this machine can run the course tools.

Each check returns a verdict and, when it fails, a fix a person can follow.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

MIN_PYTHON = (3, 10)
REQUIRED_PACKAGES = (
    "numpy", "jupytext", "nbformat", "nbclient", "ipykernel",
    "nbdev", "nbgrader", "pytest", "typer", "rich",
    "matplotlib", "psutil", "threadpoolctl",  # charts, module 15's memory, module 16's threads
)  # fmt: skip
KERNEL_NAME = "python3"
# Folders tito writes into: the exported package, build products, progress records.
WRITABLE_FOLDERS = ("tinytorch", "build", ".tito")
LOOPBACK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Check:
    """One verdict: what was checked, whether it is fine, what was found, how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def _install_hint(package: str) -> str:
    pip = Path(sys.executable).parent / "pip"
    return f"{pip} install '{package}' (or reinstall the course: {pip} install -e .)"


def check_python() -> Check:
    """Python is recent enough for tinytorch (``requires-python`` in pyproject.toml)."""
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info[:2] >= MIN_PYTHON
    wanted = ".".join(map(str, MIN_PYTHON))
    return Check("Python", ok, f"{version} at {sys.executable}", "" if ok else f"install Python >= {wanted}")


def check_package(name: str) -> Check:
    """``name`` imports, and report its installed version."""
    try:
        importlib.import_module(name)
    # A doctor reports every way an import can break (a missing or broken dependency
    # raises more than ImportError); nothing is hidden, the error is shown as the detail.
    except Exception as error:  # noqa: BLE001
        return Check(f"package {name}", False, f"{type(error).__name__}: {error}", _install_hint(name))
    return Check(f"package {name}", True, importlib.metadata.version(name))


def check_kernel() -> Check:
    """The Jupyter kernel that notebooks and nbgrader run in is installed."""
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        return Check(
            f"Jupyter kernel {KERNEL_NAME}",
            False,
            "not found",
            f"{sys.executable} -m ipykernel install --user --name {KERNEL_NAME}",
        )
    return Check(f"Jupyter kernel {KERNEL_NAME}", True, f"{spec.display_name}: {spec.argv[0]}")


def check_loopback() -> Check:
    """A TCP connection to 127.0.0.1 works: Jupyter kernels talk to tito over it."""
    name = "loopback network (127.0.0.1)"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            with socket.create_connection(server.getsockname(), LOOPBACK_TIMEOUT_SECONDS):
                connection, _ = server.accept()
                connection.close()
    except OSError as error:
        return Check(
            name,
            False,
            str(error),
            "allow local TCP connections to 127.0.0.1 (firewall or sandbox settings)",
        )
    return Check(name, True, "connect works")


def check_writable(root: Path, folder: str) -> Check:
    """``root/folder`` can be written; if it does not exist yet, ``root`` can be."""
    path = root / folder
    target = path if path.exists() else root
    name = f"writable {folder}/"
    if path.exists() and not path.is_dir():
        return Check(name, False, f"{path} is a file, not a folder", f"move {path} out of the way")
    try:
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as error:
        return Check(name, False, str(error), f"make {target} writable for your user")
    return Check(name, True, str(path) if path.exists() else f"{path} (will be created)")


def run_checks(root: Path) -> list[Check]:
    """All checks, in the order a person would fix them."""
    return [
        check_python(),
        *(check_package(name) for name in REQUIRED_PACKAGES),
        check_kernel(),
        check_loopback(),
        *(check_writable(root, folder) for folder in WRITABLE_FOLDERS),
    ]
