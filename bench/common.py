"""Helpers shared by benchmarks (`bench/<name>.py`) and evaluations (`bench/eval_<name>.py`).

A run measures, shows its figures with `print_table`, and ends with `append_results`, which
adds a dated section to `bench/RESULTS.md` (machine, database, table, JSON summary) and prints
the summary as one JSON line: always the last line on stdout, so scripts can parse it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"

Row = Mapping[str, object]


def machine_info() -> dict[str, object]:
    """Describes the machine a figure was measured on."""
    return {
        "cores": os.cpu_count() or 1,
        "ram_gb": _ram_gb(),
        "cpu": _cpu_model(),
        "int8": _int8_instructions(),
        "python": platform.python_version(),
        "os": platform.system(),
    }


def _ram_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    kib = int(line.split()[1])
                    return round(kib / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cpuinfo_value(key: str) -> str | None:
    """The value of the first ``key`` line of /proc/cpuinfo (None off Linux or without it)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    return _cpuinfo_value("model name") or platform.processor() or platform.machine()


def _int8_instructions() -> str:
    """The widest integer dot-product instructions the CPU offers, read from its flags.

    The int8 sentence encoders run about twice as fast with VNNI (one instruction
    multiplies and sums four byte pairs) as on AVX2 alone, so latency figures are
    only comparable between machines of the same kind.
    """
    found = _cpuinfo_value("flags")
    if found is None:
        return "unknown"
    flags = set(found.split())
    for flag, label in (
        ("avx512_vnni", "AVX-512 VNNI"),
        ("avx_vnni", "AVX-VNNI"),
        ("avx2", "AVX2 without VNNI"),
    ):
        if flag in flags:
            return label
    return "no AVX2"


def database_label() -> str:
    """Names the database the run used: "SQLite 3.x" or "PostgreSQL <server version>".

    Uses Django's connection when Django is already set up (the database the code really
    talked to), otherwise reads DATABASE_URL the way the settings do (unset means SQLite).
    """
    label = _database_label_from_django()
    if label is not None:
        return label
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"SQLite {sqlite3.sqlite_version}"
    scheme = urlsplit(url).scheme.split("+", 1)[0].lower()
    if scheme.startswith("sqlite"):
        return f"SQLite {sqlite3.sqlite_version}"
    if scheme in {"postgres", "postgresql", "pgsql"}:
        version = _postgres_server_version(url)
        return f"PostgreSQL {version}" if version else "PostgreSQL"
    return scheme or "unknown"


def _database_label_from_django() -> str | None:
    if "django" not in sys.modules:
        return None
    try:
        from django.apps import apps
        from django.db import connection

        if not apps.ready:
            return None
        if connection.vendor == "sqlite":
            return f"SQLite {sqlite3.sqlite_version}"
        if connection.vendor == "postgresql":
            version = int(getattr(connection, "pg_version", 0))  # e.g. 150020 for 15.20
            if not version:
                return "PostgreSQL"
            return f"PostgreSQL {version // 10000}.{version % 10000}"
        return str(connection.vendor)
    except Exception:  # a label must never break a finished run
        return None


def _postgres_server_version(url: str) -> str | None:
    try:
        import psycopg

        _, rest = url.split("://", 1)
        dsn = "postgresql://" + rest  # libpq knows no "postgres+driver://" schemes
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]).split()[0] if row else None
    except Exception:  # unreachable server or missing driver: fall back to the bare name
        return None


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    return percentile(values, 50)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0 <= p <= 100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    lower = math.floor(position)
    upper = math.ceil(position)
    if lower == upper:
        return float(ordered[lower])
    fraction = position - lower
    return float(ordered[lower] + (ordered[upper] - ordered[lower]) * fraction)


def format_value(value: object) -> str:
    """Short human form of a cell: floats to three significant-ish digits, thousands split."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:.1f}"
        if magnitude >= 1 or magnitude == 0:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def _columns(rows: Sequence[Row]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    return columns


def _is_numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def print_table(title: str, rows: Sequence[Row]) -> None:
    """Prints rows as a fixed-width table: numbers right-aligned, text left-aligned."""
    print(f"\n{title}")
    if not rows:
        print("  (no rows)")
        return
    columns = _columns(rows)
    cells = [[format_value(row.get(column)) for column in columns] for row in rows]
    widths = [
        max(len(column), *(len(line[index]) for line in cells))
        for index, column in enumerate(columns)
    ]
    numeric = [
        all(_is_numeric(row.get(column)) or row.get(column) is None for row in rows)
        for column in columns
    ]

    def render(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(values, widths, numeric, strict=True)
        ]
        return "  " + "  ".join(parts).rstrip()

    print(render(columns))
    print("  " + "  ".join("-" * width for width in widths))
    for line in cells:
        print(render(line))


def _markdown_table(rows: Sequence[Row]) -> str:
    if not rows:
        return "_(no rows)_"
    columns = _columns(rows)

    def cell(value: object) -> str:
        return format_value(value).replace("|", "\\|").replace("\n", " ")

    numeric = [
        all(_is_numeric(row.get(column)) or row.get(column) is None for row in rows)
        for column in columns
    ]
    lines = [
        "| " + " | ".join(cell(column) for column in columns) + " |",
        "|" + "|".join("---:" if is_number else "---" for is_number in numeric) + "|",
    ]
    lines += ["| " + " | ".join(cell(row.get(column)) for column in columns) + " |" for row in rows]
    return "\n".join(lines)


def append_results(name: str, rows: Sequence[Row], summary: Mapping[str, object]) -> None:
    """Appends a section for this run to bench/RESULTS.md, then prints the JSON summary line.

    The JSON line is the last thing written to stdout: nothing may be printed after this call.
    """
    now = dt.datetime.now(dt.UTC)
    machine = machine_info()
    ram = f"{machine['ram_gb']} GB RAM" if machine["ram_gb"] is not None else "RAM unknown"
    summary_line = json.dumps(summary, default=str, sort_keys=False)
    arguments = " ".join(sys.argv[1:])
    command = f"python -m {_module_name()}" + (f" {arguments}" if arguments else "")
    section = "\n".join(
        [
            "",
            f"## {name} — {now:%Y-%m-%d %H:%M} UTC",
            "",
            f"- machine: {machine['cores']} cores, {ram}, {machine['cpu']} "
            f"(int8: {machine['int8']}), Python {machine['python']}",
            f"- database: {database_label()}",
            f"- command: `{command}`",
            "",
            _markdown_table(rows),
            "",
            "```json",
            summary_line,
            "```",
            "",
        ]
    )
    with RESULTS_PATH.open("a", encoding="utf-8") as results:
        results.write(section)
    print(f"results appended to {RESULTS_PATH.name}", file=sys.stderr)
    sys.stdout.flush()
    print(summary_line, flush=True)


def _module_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return str(spec.name)
    return Path(sys.argv[0]).stem


# --- one child process per database -------------------------------------------------------
#
# A benchmark's parent process runs each database's pass in a fresh child
# (`python -m bench.NAME ... --child sqlite|postgresql`) so the two passes share
# no Django state; PostgreSQL passes get a scratch database created and dropped here.


def is_postgres_url(url: str) -> bool:
    return urlsplit(url).scheme.split("+", 1)[0] in {"postgres", "postgresql", "pgsql"}


def with_database_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def libpq_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def recreate_postgres_database(url: str, name: str, *, drop_only: bool = False) -> None:
    """Drops (and unless ``drop_only`` creates) database ``name`` on the server of ``url``."""
    import psycopg
    from psycopg import sql

    maintenance = libpq_url(with_database_name(url, "postgres"))
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
        identifier = sql.Identifier(name)
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier))
        if not drop_only:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(identifier))


def databases_to_run(choice: str) -> list[str] | None:
    """The passes for ``--database all|sqlite|postgresql``; None when PostgreSQL is impossible."""
    databases = ["sqlite"] if choice in {"all", "sqlite"} else []
    if choice in {"all", "postgresql"}:
        if is_postgres_url(os.environ.get("DATABASE_URL", "")):
            databases.append("postgresql")
        elif choice == "postgresql":
            print("--database postgresql needs DATABASE_URL=postgres://...", file=sys.stderr)
            return None
        else:
            print("DATABASE_URL is not PostgreSQL: SQLite pass only.", file=sys.stderr)
    return databases


def run_child_pass(
    *,
    module: str,
    database: str,
    argv: list[str],
    scratch_database: str,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any] | None:
    """Runs ``python -m module ... --child database``; streams its output, returns its JSON line.

    The child gets a scratch folder (``BENCH_SCRATCH``, also its SQLite file and
    media root) and, for PostgreSQL, a scratch database, both removed afterwards.
    """
    root = Path(__file__).resolve().parent.parent
    scratch = Path(tempfile.mkdtemp(prefix=f"concierge-{module.replace('.', '-')}-"))
    given_url = os.environ.get("DATABASE_URL", "")
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "TASK_BACKEND"}}
    env.update(
        PYTHONPATH=os.pathsep.join([str(root / "src"), str(root)]),
        DJANGO_SETTINGS_MODULE="concierge.settings",
        MEDIA_ROOT=str(scratch / "media"),
        STATIC_ROOT=str(scratch / "static"),
        BENCH_SCRATCH=str(scratch),
        DEBUG="0",
    )
    env.update(extra_env or {})
    if database == "sqlite":
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(scratch / "bench.sqlite3")
    else:
        recreate_postgres_database(given_url, scratch_database)
        env["DATABASE_URL"] = with_database_name(given_url, scratch_database)
    command = [sys.executable, "-m", module, *argv, "--child", database]
    summary: dict[str, Any] | None = None
    try:
        with subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, cwd=root, env=env, stdout=subprocess.PIPE, text=True, bufsize=1
        ) as child:
            last = ""
            for line in child.stdout or ():
                if last:
                    print(last, end="", flush=True)
                last = line
            code = child.wait()
        try:
            summary = json.loads(last)
        except json.JSONDecodeError:
            print(last, end="", flush=True)
        if code != 0:
            print(f"{database} pass failed (exit {code})", file=sys.stderr)
    finally:
        if database == "postgresql":
            recreate_postgres_database(given_url, scratch_database, drop_only=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return summary
