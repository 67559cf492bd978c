"""The ``tito`` command line: start, test and complete course modules, build, check setup.

Every user mistake is a ``TitoError``; it is caught once, in ``TitoApp.__call__``, and
shown as one red line with exit code 2. Heavy imports (nbformat, nbclient, nbdev) happen
inside the commands that need them, so ``tito --help``, ``list`` and ``status`` stay fast.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tito import progress
from tito.course import (
    ExportState,
    ModuleInfo,
    all_modules,
    check_prerequisites,
    export_state,
    find_repo_root,
    missing_prerequisites,
    present_modules,
    require_present,
    resolve_module,
    test_inputs_digest,
)
from tito.errors import TitoError

if TYPE_CHECKING:
    from tito.runner import CheckResult, Report

USER_ERROR_EXIT_CODE = 2
# Above this many pytest failures with one reason, they share a row in the results table.
MAX_ROWS_PER_REASON = 3

console = Console()
error_console = Console(stderr=True)


class TitoApp(typer.Typer):
    """A Typer app that reports a TitoError as one red line and exit code 2, never a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except TitoError as error:
            # soft_wrap: the terminal wraps the line, rich must not split it into several.
            error_console.print(f"[red]Error: {escape(str(error))}[/red]", soft_wrap=True)
            raise SystemExit(USER_ERROR_EXIT_CODE) from None


app = TitoApp(
    name="tito",
    help="The tinytorch course tool: start, test and complete modules, build the course, "
    "check your setup. Run it inside a tinytorch repository.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
module_app = typer.Typer(
    help="Start, test and complete course modules; list them and show progress.", no_args_is_help=True
)
system_app = typer.Typer(help="Check that this machine can run the course.", no_args_is_help=True)
app.add_typer(module_app, name="module")
app.add_typer(system_app, name="system")

ModuleArg = Annotated[
    str, typer.Argument(help="Module number or name: 17, 017, 17_quantization or quantization.")
]


def _module(text: str) -> ModuleInfo:
    """The module a person named, in the repository around the current folder."""
    return resolve_module(text, find_repo_root())


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _points(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------- module start


def _create_notebook(info: ModuleInfo) -> bool:
    """Write ``info.notebook`` from the module script unless it exists; True if written.

    The file is opened with mode "x", so an existing notebook (a student's work) is never
    overwritten, even if it appears between the check and the write.
    """
    if info.notebook.exists():
        return False
    import nbformat  # slow to import; only needed here

    from tito.notebooks import read_notebook

    nb = read_notebook(info.script)
    with info.notebook.open("x", encoding="utf-8") as handle:
        nbformat.write(nb, handle)
    return True


def _lab_command(info: ModuleInfo) -> list[str]:
    """The Jupyter Lab command for ``info``'s notebook, to run from the repository root.

    Jupyter refuses to start as root unless told; containers and course VMs often run as root.
    """
    command = [sys.executable, "-m", "jupyterlab", _relative(info.notebook, info.root)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command


def _run_jupyter_lab(info: ModuleInfo) -> int:
    """Run Jupyter Lab in the foreground from the repo root and return its exit code.

    Its kernels inherit PYTHONPATH=<root>, so notebooks import this repository's tinytorch/.
    Ctrl-C goes to Jupyter, which asks whether to shut down; tito waits for its answer
    instead of dying first and leaving the server orphaned.
    """
    from tito.runner import repo_environment  # imports nbclient; only needed to launch

    process = subprocess.Popen(_lab_command(info), cwd=info.root, env=repo_environment(info.root))
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


@module_app.command("start")
def module_start(
    module: ModuleArg,
    no_browser: Annotated[
        bool,
        typer.Option(
            "--no-browser", help="Print the notebook path and the command to open it; launch nothing."
        ),
    ] = False,
) -> None:
    """Open the module's notebook in Jupyter Lab, creating it first if needed (never overwritten)."""
    info = require_present(_module(module))
    notebook = _relative(info.notebook, info.root)
    if _create_notebook(info):
        console.print(f"Created {notebook} from {info.script.name}.")
    else:
        console.print(f"Using your existing {notebook} (tito never overwrites it).")
    missing = _missing_prerequisite_names(info)
    if missing:
        console.print(
            f"[yellow]Note: {missing} not exported yet; cells that import it fail until you "
            "finish it and run `tito module test` on it.[/yellow]"
        )
    console.print(f"Notebook: {info.notebook}")
    if no_browser:
        root = shlex.quote(str(info.root))
        command = shlex.join(_lab_command(info))
        console.print(f"Open it with: cd {root} && PYTHONPATH={root} {command}", soft_wrap=True)
        return
    raise typer.Exit(_run_jupyter_lab(info))


def _missing_prerequisite_names(info: ModuleInfo) -> str:
    return ", ".join(earlier.folder_name for earlier in missing_prerequisites(info))


# --------------------------------------------------------------------------- module test


def _status_line(result: CheckResult) -> str:
    return "[green]passed[/green]" if result.passed else f"[red]{escape(result.reason)}[/red]"


def _results_table(report: Report) -> Table:
    """One table: graded notebook tests, failing notebook cells, pytest files and failures."""
    root = report.module.root
    table = Table(title=f"Module {report.module.folder_name}", title_justify="left")
    # Fold long names and reasons onto more lines; never cut them short with an ellipsis.
    table.add_column("Check", overflow="fold")
    table.add_column("Points", justify="right", no_wrap=True)
    table.add_column("Result", overflow="fold")
    for result in report.graded:
        table.add_row(
            escape(result.name), f"{_points(result.earned)}/{_points(result.points)}", _status_line(result)
        )
    if report.cell_errors:
        table.add_section()
        for result in report.cell_errors:
            table.add_row(f"notebook: {escape(result.name)}", "", _status_line(result))
    for path, results in report.pytest.items():
        table.add_section()
        passed = sum(result.passed for result in results)
        colour = "green" if passed == len(results) else "red"
        table.add_row(
            f"pytest {escape(_relative(path, root))}",
            "",
            f"[{colour}]{passed}/{len(results)} passed[/{colour}]",
        )
        for names, result in _failures_by_reason(results):
            table.add_row(f"  {escape(names)}", "", _status_line(result))
    return table


def _failures_by_reason(results: list[CheckResult]) -> list[tuple[str, CheckResult]]:
    """Failed tests as (names, one of them): one row per test, except that many tests
    failing for the same reason (one unwritten stub breaks most tests) share a row."""
    groups: dict[str, list[CheckResult]] = {}
    for result in results:
        if not result.passed:
            groups.setdefault(result.reason, []).append(result)
    rows = []
    for group in groups.values():
        if len(group) <= MAX_ROWS_PER_REASON:
            rows += [(result.name, result) for result in group]
        else:
            rows.append((f"{group[0].name} and {len(group) - 1} more", group[0]))
    return rows


def _print_report(report: Report) -> None:
    console.print(_results_table(report))
    root = report.module.root
    exported = ", ".join(_relative(path, root) for path in report.exported) or "nothing"
    console.print(f"Exported: {escape(exported)}")
    tests = report.pytest_results
    passed_tests = sum(result.passed for result in tests)
    failed_cells = len(report.cell_errors)
    cells_note = f", {failed_cells} other notebook cell(s) failed" if failed_cells else ""
    pytest_note = f"pytest {passed_tests}/{len(tests)} passed" if tests else "no pytest files"
    console.print(
        f"Total: {_points(report.points)}/{_points(report.possible)} points; "
        f"{pytest_note}{cells_note} ({report.seconds:.1f} s)"
    )
    grade = report.grade
    for note in grade.notes:
        console.print(f"[yellow]Note: {escape(note)}[/yellow]")
    for finding in grade.findings:
        console.print(f"[yellow]Flagged for your instructor to review: {escape(finding)}[/yellow]")
    if grade.verdict.value != "graded":
        console.print(f"[red]The notebook was not fully graded: {escape(grade.reason)}[/red]")
    verdict = "[green]PASSED[/green]" if report.passed else "[red]FAILED[/red]"
    console.print(f"Module {report.module.folder_name}: {verdict}")


def _print_details(report: Report) -> None:
    """Each failure's whole message, under its name (the table shows the first sentence)."""
    failures = [r for r in [*report.graded, *report.cell_errors, *report.pytest_results] if not r.passed]
    for result in failures:
        console.print(f"[bold]{escape(result.name)}[/bold]")
        console.print(escape(result.detail or result.reason), soft_wrap=True)


def _test_and_record(module: str, verbose: bool = False) -> tuple[ModuleInfo, Report]:
    """Run ``tito module test`` for ``module``, print the table, store the last result.

    The module's presence and its prerequisites are checked here, once, before the slow imports.
    """
    info = require_present(_module(module))
    check_prerequisites(info)
    return info, _test_and_record_checked(info, verbose)


def _test_and_record_checked(info: ModuleInfo, verbose: bool = False) -> Report:
    """Test ``info`` (present, prerequisites exported), print the table, store the last result."""
    from tito.runner import run_module_test  # imports nbformat/nbclient: seconds

    inputs = test_inputs_digest(info)  # before the run: the run rewrites the module's own package file
    with console.status(f"Testing {info.folder_name}") as status:
        report = run_module_test(info, lambda text: status.update(f"{info.folder_name}: {text}"))
    _print_report(report)
    if verbose:
        _print_details(report)
    tests = report.pytest_results
    summary = progress.RunSummary(
        passed=report.passed,
        points=report.points,
        possible=report.possible,
        tests_passed=sum(result.passed for result in tests),
        tests_total=len(tests),
        at=progress.now(),
        inputs=inputs,
    )
    progress.record_test(info.root, info, summary)
    return report


@module_app.command("test")
def module_test(
    module: ModuleArg,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print each failure's whole message.")] = False,
) -> None:
    """Grade the notebook as the autograder does, export it to tinytorch/, run the module's pytest files.

    Exits with code 1 if anything fails.
    """
    _, report = _test_and_record(module, verbose)
    if not report.passed:
        raise typer.Exit(1)


@module_app.command("complete")
def module_complete(module: ModuleArg) -> None:
    """Record the module as completed in .tito/progress.json once its test passes.

    A test that passed with nothing changed since (notebook, tests, earlier modules) counts;
    otherwise the module is tested first.
    """
    info = require_present(_module(module))
    check_prerequisites(info)
    last = progress.last_test(progress.load(info.root).get(info.folder_name, {}))
    if last is not None and last.passed and last.inputs == test_inputs_digest(info):
        console.print(
            f"Module {info.folder_name} passed its test at {_local_time(last.at)} "
            f"({_points(last.points)}/{_points(last.possible)} points) and nothing it reads has changed since."
        )
    elif not _test_and_record_checked(info).passed:
        console.print("[red]Not recorded as completed: fix the failures above and run it again.[/red]")
        raise typer.Exit(1)
    progress.record_completion(info.root, info, progress.now())
    console.print(f"[green]Module {info.folder_name} completed.[/green]")


# --------------------------------------------------------------------------- list, status


def _export_cell(info: ModuleInfo) -> str:
    state = export_state(info)
    colour = {
        ExportState.EXPORTED: "green",
        ExportState.STUBS: "yellow",
        ExportState.MISSING: "red",
    }[state]
    return f"[{colour}]{state.value}[/{colour}]"


@module_app.command("list")
def module_list() -> None:
    """List the modules in this repository and whether their package files are exported."""
    root = find_repo_root()
    table = Table(title="Modules in this repository", title_justify="left")
    for column in ("#", "Module", "Title", "Package file", "Export"):
        table.add_column(column)
    for info in present_modules(root):
        files = ", ".join(_relative(path, root) for path in info.exported_files())
        table.add_row(f"{info.number:02d}", info.folder_name, info.title, escape(files), _export_cell(info))
    console.print(table)


def _last_test_cell(record: dict[str, Any]) -> str:
    summary = progress.last_test(record)
    if summary is None:
        return ""
    colour, word = ("green", "passed") if summary.passed else ("red", "failed")
    tests = f", {summary.tests_passed}/{summary.tests_total} tests" if summary.tests_total else ""
    return (
        f"[{colour}]{word}[/{colour}] {_points(summary.points)}/{_points(summary.possible)} pts"
        f"{tests} ({_local_time(summary.at)})"
    )


def _local_time(iso: str) -> str:
    """A stored UTC timestamp in the person's own time zone, to the minute."""
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")


@module_app.command("status")
def module_status() -> None:
    """Show all 20 modules: in this repository, exported, last test result, completed."""
    root = find_repo_root()
    records = progress.load(root)
    table = Table(title="Course progress", title_justify="left")
    for column in ("#", "Module", "In repo", "Export", "Last test", "Completed"):
        table.add_column(column)
    completed = 0
    for info in all_modules(root):
        record = records.get(info.folder_name, {})
        done_at = record.get("completed_at")
        completed += bool(done_at)
        table.add_row(
            f"{info.number:02d}",
            info.folder_name,
            "yes" if info.present else "[dim]no[/dim]",
            _export_cell(info),
            _last_test_cell(record),
            f"[green]{_local_time(done_at)}[/green]" if done_at else "",
        )
    console.print(table)
    console.print(f"Completed {completed} of {len(all_modules(root))} modules.")


# --------------------------------------------------------------------------- export, doctor


@app.command("export")
def export() -> None:
    """Build every present module: notebooks, tinytorch/ package files, nbgrader release."""
    root = find_repo_root()
    from tito.build import build  # imports jupytext/nbdev/nbgrader: seconds

    with console.status("Building the course"):
        report = build(root)
    for built in report.modules:
        package = ", ".join(_relative(path, root) for path in built.exported) or "no package file"
        console.print(
            f"{built.info.folder_name}: {len(built.files)} files, exported {escape(package)} "
            f"({built.seconds:.1f} s)"
        )
    console.print(
        f"Wrote {len(report.files)} files for {len(report.modules)} modules into "
        f"{_relative(report.build_dir, root)}/ and {_relative(report.package_dir, root)}/ "
        f"in {report.seconds:.1f} s."
    )


@system_app.command("doctor")
def system_doctor() -> None:
    """Check Python, packages, the Jupyter kernel, loopback and writable folders."""
    root = find_repo_root()
    from tito.doctor import run_checks  # imports jupyter_client; the checks import the rest

    with console.status("Checking this machine"):
        checks = run_checks(root)
    table = Table(title="tito system doctor", title_justify="left")
    for column in ("Check", "", "Found", "Fix"):
        table.add_column(column)
    for check in checks:
        verdict = "[green]ok[/green]" if check.ok else "[red]FAIL[/red]"
        table.add_row(escape(check.name), verdict, escape(check.detail), escape(check.fix))
    console.print(table)
    failed = [check for check in checks if not check.ok]
    if failed:
        console.print(f"[red]{len(failed)} of {len(checks)} checks failed.[/red]")
        raise typer.Exit(1)
    console.print(f"[green]All {len(checks)} checks passed.[/green]")
