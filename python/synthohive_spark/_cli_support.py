"""What every ``synthohive`` subcommand needs: table arguments, the session, exit codes, progress.

Exit codes: 0 ok, 1 a quality gate failed, 2 bad input (arguments, missing files or tables,
metadata, an existing output), 3 any other failure. Errors are one line on stderr; ``--verbose``
adds the traceback.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import traceback
import warnings
from typing import Any, Optional

from synthohive_spark.errors import (OutputExistsError, ParamError, QualityGateError,
                                     SynthohiveError)

EXIT_OK, EXIT_GATE, EXIT_INPUT, EXIT_FAILED = 0, 1, 2, 3

logger = logging.getLogger("synthohive_spark.cli")


# ------------------------------------------------------------------ arguments
def split_pair(item: str, what: str = "NAME=LOCATION") -> tuple[str, str]:
    """``name=value`` -> (name, value); ParamError naming the argument otherwise."""
    name, sep, value = item.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise ParamError(f"expected {what}, got {item!r}")
    return name, value


#: The name under which a bare JDBC URL stands for every table of --jdbc-schema
ALL_TABLES = "*"


def is_jdbc(location: Any) -> bool:
    return isinstance(location, str) and location.strip().lower().startswith("jdbc:")


def table_locations(items: list[str], what: str = "table") -> dict[str, str]:
    """``name=location`` arguments -> {name: location}, refusing duplicates; a bare JDBC URL is
    every table of its schema (name :data:`ALL_TABLES`)."""
    out: dict[str, str] = {}
    for item in items:
        name, location = (ALL_TABLES, item.strip()) if is_jdbc(item) else split_pair(item)
        if name in out:
            raise ParamError(f"{what} {name!r} is given twice ({out[name]!r} and {location!r})")
        out[name] = location
    jdbc = {loc for loc in out.values() if is_jdbc(loc)}
    if jdbc and (len(jdbc) > 1 or not all(map(is_jdbc, out.values()))
                 or (ALL_TABLES in out and len(out) > 1)):
        raise ParamError(f"{what}s from a database: every one from the same database, as "
                         f"NAME=URL with the same JDBC URL or one bare URL for every table of "
                         f"--jdbc-schema, not mixed with paths or catalog tables")
    return out


def jdbc_properties(args: Any) -> dict[str, str]:
    """The JDBC connection properties of ``--jdbc-user``, ``--jdbc-password-env`` (the password
    is read from that environment variable, never from the command line) and ``--jdbc-property``."""
    props = dict(split_pair(p, "KEY=VALUE") for p in getattr(args, "jdbc_property", None) or [])
    if getattr(args, "jdbc_user", None):
        props["user"] = args.jdbc_user
    env = getattr(args, "jdbc_password_env", None)
    if env:
        if env not in os.environ:
            raise ParamError(f"--jdbc-password-env {env}: the environment variable {env} is not "
                             f"set")
        props["password"] = os.environ[env]
    return props


def read_inputs(spark, locations: dict[str, str], fmt: Optional[str], args: Any
                ) -> tuple[dict[str, Any], Any]:
    """The tables, and the metadata of their keys when they come from a database: JDBC inputs
    (tables of ``--jdbc-schema`` of one database: ``NAME=URL`` each, or a bare URL for all of
    them) are read with their primary and foreign keys from its catalog
    (:func:`synthohive_spark.io.read_jdbc_schema`); others as :func:`read_tables` reads them,
    with no metadata (None)."""
    jdbc = {n: loc for n, loc in locations.items() if is_jdbc(loc)}
    if not jdbc:
        return read_tables(spark, locations, fmt), None
    urls = set(jdbc.values())  # one database: table_locations checked it
    from synthohive_spark.io import read_jdbc_schema

    names = None if ALL_TABLES in jdbc else list(jdbc)
    return read_jdbc_schema(spark, urls.pop(), getattr(args, "jdbc_schema", "public"), names,
                            jdbc_properties(args))


def _is_path(location: str) -> bool:
    from synthohive_spark.io import is_path

    return is_path(location)


def resolve_location(location: str) -> str:
    """A location as io reads it: ``db.table`` and other names without a path separator are
    catalog tables, unless a local file or folder of that name exists (then its absolute path)."""
    if location.lower().startswith("delta.`") or _is_path(location):
        return location
    if os.path.exists(location):
        return os.path.abspath(location)
    return location


def needs_delta(locations: list[str], *formats: Optional[str]) -> bool:
    """Whether the session must carry Delta Lake: a Delta format asked for, or an input that is a
    Delta table (``delta.`path```, or a local folder with a ``_delta_log``)."""
    if any(f == "delta" for f in formats):
        return True
    for loc in locations:
        if loc.lower().startswith("delta.`"):
            return True
        local = loc[len("file:"):] if loc.startswith("file:") else loc
        if os.path.isdir(os.path.join(local, "_delta_log")):
            return True
    return False


def session(args: Any, app: str, delta: bool = False, jdbc: bool = False):
    """The active Spark session (a Databricks job's, a test's) or a new local one on
    ``--master`` with the ``--conf`` settings, with Delta Lake when ``delta`` and the
    PostgreSQL JDBC driver when ``jdbc``."""
    from synthohive_spark.session import get_or_create_session

    conf = dict(split_pair(c, "KEY=VALUE") for c in (getattr(args, "conf", None) or []))
    return get_or_create_session(app_name=app, master=args.master, conf=conf or None,
                                 log_level="WARN" if args.verbose else "ERROR", delta=delta,
                                 jdbc=jdbc)


def read_tables(spark, locations: dict[str, str], fmt: Optional[str] = None) -> dict[str, Any]:
    """{name: location} -> {name: DataFrame} (io.read_table: paths, Delta, catalog tables)."""
    from synthohive_spark.io import read_table

    jdbc = [name for name, loc in locations.items() if is_jdbc(loc)]
    if jdbc:
        raise ParamError(f"table(s) {jdbc}: JDBC inputs are read by detect, fit and sample "
                         f"(with --jdbc-* options); give a path or a catalog table here")
    return {name: read_table(resolve_location(loc), spark, name=name, fmt=fmt)
            for name, loc in locations.items()}


def tables_of_output(output: str, names: list[str]) -> dict[str, str]:
    """The tables ``names`` of a database written by ``sample --output``: ``output/<name>`` for a
    folder, ``output.<name>`` for a catalog database."""
    base = resolve_location(output)
    if _is_path(base):
        return {n: base.rstrip("/") + "/" + n for n in names}
    return {n: f"{output}.{n}" for n in names}


def output_location(spark, output: str, args: Any = None) -> Any:
    """``--output`` as the writers take it: a JDBC URL as a JdbcOutput (schema ``--jdbc-schema``),
    a path as it is; a bare name is a catalog database when one of that name exists, otherwise a
    folder under the working directory."""
    if is_jdbc(output):
        from synthohive_spark.io import JdbcOutput

        return JdbcOutput(output.strip(), getattr(args, "jdbc_schema", None) or "public",
                          jdbc_properties(args))
    if _is_path(output):
        return output
    if spark.catalog.databaseExists(output):
        return output
    return os.path.abspath(output)


def load_metadata(path: str):
    from synthohive_spark.metadata import Metadata

    if not os.path.isfile(path):
        raise ParamError(f"metadata file {path!r} does not exist")
    if path.lower().endswith(".json"):
        return Metadata.from_json(path)
    return Metadata.from_yaml(path)


def write_text(path: str, text: str) -> str:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return os.path.abspath(path)


# ------------------------------------------------------------------ errors and exit codes
def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    line = "; ".join(lines)
    # a Py4J / Spark error drags the JVM stack along: keep its first line
    if "\tat " in str(text) or "py4j" in line.lower():
        line = lines[0] if lines else line
    return line if len(line) <= 2000 else line[:2000] + " ..."


def exit_code(exc: BaseException) -> int:
    if isinstance(exc, QualityGateError):
        return EXIT_GATE
    if isinstance(exc, (SynthohiveError, ValueError, KeyError, FileNotFoundError,
                        FileExistsError, NotADirectoryError, IsADirectoryError,
                        PermissionError)):
        return EXIT_INPUT
    try:
        from pyspark.errors import AnalysisException
    except ImportError:  # pragma: no cover
        return EXIT_FAILED
    if isinstance(exc, AnalysisException):
        return EXIT_INPUT
    return EXIT_FAILED


def describe(exc: BaseException) -> str:
    """One line: what was wrong."""
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    msg = _one_line(msg) or type(exc).__name__
    if isinstance(exc, OutputExistsError):
        msg = msg.replace("use mode='overwrite'", "pass --overwrite")
    if not isinstance(exc, SynthohiveError):  # a plain ValueError, a Spark error: say which
        msg = f"{type(exc).__name__}: {msg}"
    return msg


def report_error(prog: str, exc: BaseException, verbose: bool) -> int:
    code = exit_code(exc)
    if verbose:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    hint = "" if verbose else " (--verbose shows the traceback)" if code == EXIT_FAILED else ""
    print(f"{prog}: error: {describe(exc)}{hint}", file=sys.stderr)
    return code


_PANDAS_NOTICE = "PySpark does not yet fully support pandas"


def quiet_warnings(verbose: bool) -> None:
    """pyspark's own pandas-3 notice is not the user's concern on a command line: hidden here and,
    through PYTHONWARNINGS (inherited by the Python workers of a session started by this
    process), on the workers, unless ``--verbose`` or PYTHONWARNINGS is set already."""
    if verbose:
        return
    warnings.filterwarnings("ignore", message=".*" + _PANDAS_NOTICE)
    os.environ.setdefault("PYTHONWARNINGS", f"ignore:{_PANDAS_NOTICE}:FutureWarning")


# ------------------------------------------------------------------ progress
_FITTING = re.compile(r"^fitting table (.+)$")
_FITTED = re.compile(r"^table (.+?): (fitted in|reference table,)")
_EPOCH = re.compile(r"^epoch (\d+)/(\d+)")
_GENERATED = re.compile(r"^generated table (.+?): (\d+) rows")
_WROTE = re.compile(r"^wrote table (.+?) to (.+?)(?: as Delta version \d+)?$")


class Progress(logging.Handler):
    """tqdm bars on stderr fed by the library's log records: tables and epochs while fitting,
    tables and rows written while sampling. Off unless ``enabled``; records at the user's log
    level still reach the root handlers (written above the bars)."""

    def __init__(self, enabled: bool, user_level: int, tables: int = 0, kind: str = "fit") -> None:
        super().__init__(logging.DEBUG)
        self.enabled, self.user_level, self.total, self.kind = enabled, user_level, tables, kind
        self.bar = None
        self.epochs = None
        self.rows: dict[str, int] = {}
        self.written = 0
        self._saved: Optional[tuple[int, bool]] = None

    def __enter__(self) -> "Progress":
        if not self.enabled:
            return self
        from tqdm.auto import tqdm

        lib = logging.getLogger("synthohive_spark")
        self._saved = (lib.level, lib.propagate)
        lib.setLevel(min(logging.INFO, self.user_level))
        lib.propagate = False
        lib.addHandler(self)
        desc = "fit: tables" if self.kind == "fit" else "sample: tables"
        self.bar = tqdm(total=self.total or None, desc=desc, unit="table", file=sys.stderr,
                        dynamic_ncols=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._saved is None:
            return
        lib = logging.getLogger("synthohive_spark")
        lib.removeHandler(self)
        lib.setLevel(self._saved[0])
        lib.propagate = self._saved[1]
        self._saved = None
        self._close_epochs()
        if self.bar is not None:
            self.bar.close()

    def _close_epochs(self) -> None:
        if self.epochs is not None:
            self.epochs.close()
            self.epochs = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._advance(record.getMessage())
        except Exception:  # a bar must never break the job
            pass
        if record.levelno >= self.user_level:
            from tqdm.auto import tqdm

            root = logging.getLogger()
            if root.handlers:
                with tqdm.external_write_mode(file=sys.stderr):
                    root.handle(record)

    def _advance(self, msg: str) -> None:
        from tqdm.auto import tqdm

        bar = self.bar
        if bar is None:
            return
        m = _FITTING.match(msg)
        if m:
            self._close_epochs()
            bar.set_postfix_str(m.group(1))
            return
        m = _EPOCH.match(msg)
        if m:
            done, total = int(m.group(1)), int(m.group(2))
            if self.epochs is None or self.epochs.total != total or done < self.epochs.n:
                self._close_epochs()
                self.epochs = tqdm(total=total, desc="  epochs", unit="epoch", file=sys.stderr,
                                   leave=False, dynamic_ncols=True)
            self.epochs.update(done - self.epochs.n)
            return
        m = _FITTED.match(msg)
        if m:
            self._close_epochs()
            bar.set_postfix_str(m.group(1))
            bar.update(1)
            return
        m = _GENERATED.match(msg)
        if m:
            self.rows[m.group(1)] = int(m.group(2))
            bar.set_postfix_str(f"{m.group(1)}: {int(m.group(2)):,} rows generated")
            return
        m = _WROTE.match(msg)
        if m:
            self.written += self.rows.get(m.group(1), 0)
            bar.update(1)
            bar.set_postfix_str(f"{self.written:,} rows written")


def progress_enabled(args: Any) -> bool:
    flag = getattr(args, "progress", None)
    if flag is not None:
        return bool(flag)
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def user_log_level(args: Any) -> int:
    level = getattr(logging, str(getattr(args, "log_level", None) or "WARNING").upper(), None)
    return level if isinstance(level, int) else logging.WARNING
