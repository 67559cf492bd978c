"""Read what a grading child left in its folder, as untrusted plain data.

Everything in the child's folder may have been written by student code: a results file may
be a directory, a FIFO, a symlink to a secret, gigabytes long, invalid UTF-8 or JSON nested
a million deep. These readers never follow a symlink, never open anything but a regular
file (so a FIFO cannot block them), read at most a stated number of bytes, and turn every
surprise into ``ChildDataError`` with a reason, which grading reports as that submission's
problem. Arrays are read from ``.npy`` without pickle; text is decoded with replacement.
"""

from __future__ import annotations

import io
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RESULTS_MAX_BYTES = 8 * 1024**2  # every cell's output is capped at 20,000 characters by the runner
OBSERVATION_MAX_BYTES = 64 * 1024**2  # one observed array
OBSERVATIONS_MAX_COUNT = 5_000  # observations of one cell
OBSERVATIONS_MAX_TOTAL_BYTES = 256 * 1024**2  # all observations of one run; the course's take kilobytes
OBSERVED_KINDS = "biufU"  # bool, integers, floats, strings: what observe() records


class ChildDataError(Exception):
    """What the child left is not what the runner writes; the message says how."""


class ChildDataMissing(ChildDataError):
    """The file or folder is not there (the child ended before writing it)."""


@dataclass
class Budget:
    """Bytes that reading one run's observations may still take."""

    bytes_left: int = OBSERVATIONS_MAX_TOTAL_BYTES

    def spend(self, count: int) -> None:
        self.bytes_left -= count
        if self.bytes_left < 0:
            raise ChildDataError(f"the observations hold more than {OBSERVATIONS_MAX_TOTAL_BYTES} bytes in all")


@dataclass(frozen=True)
class Observation:
    """One value a test observed: its label, the array, and the tolerance the test states."""

    label: str
    value: np.ndarray
    rtol: float
    atol: float


def clean(text: str) -> str:
    """``text`` with lone surrogates replaced, so that it can be written as UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _open_regular(folder_fd: int, name: str) -> int:
    """An fd of the regular file ``name`` in ``folder_fd``; ChildDataError for anything else."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder_fd)
    except FileNotFoundError:
        raise ChildDataMissing(f"{name} is missing") from None
    except OSError as error:
        raise ChildDataError(f"{name} cannot be opened ({error.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ChildDataError(f"{name} is not a regular file")
    return fd


def _open_folder(parent_fd: int | None, name: str | Path) -> int:
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
    except FileNotFoundError:
        raise ChildDataMissing(f"{Path(name).name} is missing") from None
    except OSError as error:
        raise ChildDataError(f"{Path(name).name} is not a folder the runner made ({error.strerror})") from None


def read_bytes(folder: Path, *parts: str, limit: int) -> bytes:
    """The bytes of ``folder/parts...``, each folder and the file opened without following links."""
    fd = _open_folder(None, folder)
    try:
        for part in parts[:-1]:
            inner = _open_folder(fd, part)
            os.close(fd)
            fd = inner
        file_fd = _open_regular(fd, parts[-1])
    finally:
        os.close(fd)
    with os.fdopen(file_fd, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ChildDataError(f"{parts[-1]} is larger than {limit} bytes")
    return data


def size_of(path: Path) -> int:
    """The size of ``path`` if it is a regular file, else 0; never opens it (a FIFO cannot block)."""
    try:
        status = os.lstat(path)
    except OSError:
        return 0
    return status.st_size if stat.S_ISREG(status.st_mode) else 0


def read_records(folder: Path, name: str) -> tuple[list[dict[str, object]], str]:
    """The runner's result lines in order, and why reading stopped early ("" if it did not).

    A record is a JSON object with ``index`` (its position), ``output`` (text), ``error``
    (None or an object) and ``tampered`` (a list of text). Anything else ends the reading.
    """
    try:
        data = read_bytes(folder, name, limit=RESULTS_MAX_BYTES)
    except ChildDataMissing:
        return [], ""  # nothing was written: the cells did not run, which the grade says
    except ChildDataError as error:
        return [], str(error)
    records: list[dict[str, object]] = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines()):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            return records, f"result line {number + 1} is not JSON written by the runner"
        if not _is_record(record, number):
            return records, f"result line {number + 1} was not written by the runner"
        records.append(record)
    return records, ""


def _is_record(record: object, index: int) -> bool:
    if not isinstance(record, dict) or record.get("index") != index or type(record.get("index")) is not int:
        return False
    error = record.get("error")
    tampered = record.get("tampered")
    return (
        isinstance(record.get("output"), str)
        and (error is None or (isinstance(error, dict) and all(isinstance(key, str) for key in error)))
        and isinstance(tampered, list)
        and all(isinstance(item, str) for item in tampered)
    )


def read_observations(folder: Path, cell: int, budget: Budget) -> list[Observation]:
    """The observations of cell ``cell``, in the order made: ``observations/<cell>/<k>.json``
    (label and tolerances) and ``<k>.npy`` (the value) for k = 0, 1, ...; ChildDataError if
    any is malformed or the numbering has a gap."""
    try:
        folder_fd = _open_folder(None, folder)
    except ChildDataError:
        return []
    try:
        cell_fd = _open_folder(folder_fd, "observations")
    except ChildDataError:
        return []
    finally:
        os.close(folder_fd)
    try:
        try:
            inner = os.open(str(cell), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=cell_fd)
        except FileNotFoundError:
            return []
        except OSError as error:
            raise ChildDataError(f"observations of cell {cell} are not a folder ({error.strerror})") from None
        names = os.listdir(inner)
        os.close(inner)
    finally:
        os.close(cell_fd)
    if len(names) > 2 * OBSERVATIONS_MAX_COUNT:
        raise ChildDataError(f"cell {cell} made more than {OBSERVATIONS_MAX_COUNT} observations")
    count = len(names) // 2
    if sorted(names) != sorted(f"{k}.{kind}" for k in range(count) for kind in ("json", "npy")):
        raise ChildDataError(f"the observation files of cell {cell} are not the ones observe() writes")
    base = folder / "observations" / str(cell)
    return [_observation(base, k, budget) for k in range(count)]


def _observation(base: Path, number: int, budget: Budget) -> Observation:
    try:
        meta = json.loads(read_bytes(base, f"{number}.json", limit=64 * 1024).decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        raise ChildDataError(f"observation {number} has no readable label") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("label"), str):
        raise ChildDataError(f"observation {number} has no label")
    tolerances = [meta.get("rtol"), meta.get("atol")]
    if not all(type(value) in (int, float) and value >= 0 for value in tolerances):
        raise ChildDataError(f"observation {number} has no valid tolerance")
    label = clean(meta["label"])
    raw = read_bytes(base, f"{number}.npy", limit=OBSERVATION_MAX_BYTES)
    budget.spend(len(raw))
    value = _plain_array(raw)
    if value is None:
        raise ChildDataError(f"observation {number} ({label[:80]}) is not a plain .npy array of numbers or text")
    return Observation(label, value, float(tolerances[0]), float(tolerances[1]))


def _plain_array(raw: bytes) -> np.ndarray | None:
    """The array in ``raw`` (.npy bytes) if it is a plain array of bool, numbers or text, and
    its header claims no more bytes than ``raw`` holds (NumPy would allocate them first)."""
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            return None
        if dtype.kind not in OBSERVED_KINDS or dtype.hasobject or dtype.fields is not None:
            return None
        if int(np.prod(shape, dtype=object)) * dtype.itemsize > len(raw):
            return None
        value = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError, TypeError, RecursionError, OverflowError, MemoryError):
        return None
    return value if isinstance(value, np.ndarray) else None
