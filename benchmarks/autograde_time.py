"""Autograde time per notebook: every module's reference and blank release, through
``tito.grading.autograde``, serially and with two workers grading at once.

Each module is one batch of four submissions (the reference typed into the release twice,
the blank release twice), graded into a fresh copy of the built course. The time of a batch
includes what autograding does once per batch (generating the assignment, and running the
reference solution on the batch's seed); "per notebook" divides the batch by its four
submissions. With two workers, the modules are split between two processes that grade at
the same time, and the wall time of the whole run is divided by all notebooks graded.

Run after ``tito export`` (it grades the course in build/course)::

    python -m benchmarks.autograde_time [--workers 1 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat

from tito.course import find_repo_root, present_modules, resolve_module
from tito.grading import autograde, staging_package
from tito.submission import assemble

SUBMISSIONS_PER_BATCH = 4


def grade_module(folder: str) -> float:
    """Seconds to autograde one batch of ``folder``'s reference and blank release (2 each)."""
    root = find_repo_root()
    info = resolve_module(folder, root)
    with tempfile.TemporaryDirectory(prefix="tito-autograde-time-") as scratch:
        course = Path(scratch) / "course"
        shutil.copytree(root / "build" / "course", course)
        source = nbformat.read(course / "source" / folder / f"{info.slug}.ipynb", as_version=4)
        release = nbformat.read(course / "release" / folder / f"{info.slug}.ipynb", as_version=4)
        solved = assemble(release, source).notebook
        submissions = {}
        for number in range(SUBMISSIONS_PER_BATCH):
            path = Path(scratch) / "submitted" / f"student-{number}" / f"{info.slug}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(solved if number % 2 == 0 else release, path)
            submissions[f"student-{number}"] = path
        staging = staging_package(root, info, Path(scratch) / "staging")
        started = time.perf_counter()
        autograde(course, info, submissions, staging)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    workers_list = parser.parse_args().workers
    folders = [info.folder_name for info in present_modules(find_repo_root())]
    for workers in workers_list:
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            batches = dict(zip(folders, pool.map(grade_module, folders)))
        wall = time.perf_counter() - started
        notebooks = SUBMISSIONS_PER_BATCH * len(folders)
        print(f"{workers} worker(s): {notebooks} notebooks of {len(folders)} modules in {wall:.1f} s, "
              f"{wall / notebooks:.2f} s per notebook")
        if workers == 1:
            for folder, seconds in batches.items():
                print(f"  {folder:<18} batch {seconds:5.1f} s, {seconds / SUBMISSIONS_PER_BATCH:.2f} s per notebook")


if __name__ == "__main__":
    main()
