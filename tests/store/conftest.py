"""Store fixtures: every store test runs on SQLite and on a throwaway PostgreSQL cluster on 127.0.0.1."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from checker.store import Store, open_store

PG_BINDIR_ENV = "BLOCKAUDIT_PG_BINDIR"
"""Overrides where initdb and pg_ctl are looked for (default: Debian's /usr/lib/postgresql/*/bin, then PATH)."""


def unavailable(message: str) -> NoReturn:
    """Skip, except in CI (CI=true), where a missing tool fails: CI must never silently skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must never skip the PostgreSQL store tests", pytrace=False)
    pytest.skip(message)


def need_psycopg() -> Any:
    """The psycopg module, or skip (fail on CI)."""
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg 3 is not installed (pip install -e '.[postgres]')")
    return psycopg


def pg_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl, newest PostgreSQL first."""
    if os.environ.get(PG_BINDIR_ENV):
        return Path(os.environ[PG_BINDIR_ENV])

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    debian = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "initdb").is_file()]
    if debian:
        return max(debian, key=version)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PgCluster:
    """A running throwaway cluster; ``url`` is its ``blockaudit`` database, trust auth on 127.0.0.1."""

    def __init__(self, bindir: Path, port: int) -> None:
        self.bindir = bindir
        self.port = port
        self.url = self.database_url("blockaudit")

    def database_url(self, name: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{name}"

    def admin(self, sql: str) -> None:
        """Run one statement in the ``postgres`` database, outside a transaction."""
        psycopg = need_psycopg()
        with psycopg.connect(self.database_url("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def fresh_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        self.admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """initdb + pg_ctl start in a temp dir (as the ``postgres`` user when run as root); stopped at the end."""
    need_psycopg()
    bindir = pg_bindir()
    if bindir is None or not (bindir / "initdb").is_file() or not (bindir / "pg_ctl").is_file():
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found (apt-get install postgresql)")
    as_user: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root but there is no 'postgres' user to run the server as")
        if shutil.which("runuser") is None:
            unavailable("running as root needs runuser (util-linux) to start the server as 'postgres'")
        as_user = ["runuser", "-u", "postgres", "--"]
    # Not under pytest's basetemp: that is mode 0700 root's, which the postgres user cannot enter.
    root = Path(tempfile.mkdtemp(prefix="blockaudit-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, log = root / "data", root / "server.log"

    def run(*argv: str | Path) -> None:
        done = subprocess.run([*as_user, *map(str, argv)], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stdout}{done.stderr}{detail}")

    started = False
    try:
        run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale",
            "--no-sync")
        for attempt in range(3):  # a free port may be taken between probing and binding
            port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
            try:
                run(bindir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o", options, "start")
            except RuntimeError:
                if attempt == 2:
                    raise
                continue
            started = True
            break
        cluster = PgCluster(bindir, port)
        cluster.admin("CREATE DATABASE blockaudit")
        yield cluster
    finally:
        if started:
            subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A fresh, empty database of the cluster for one test."""
    name = pg_cluster.fresh_database()
    yield pg_cluster.database_url(name)
    pg_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh store lives: a SQLite path, or a ``postgresql://`` URL of a fresh database."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open, migrated, empty store on each backend."""
    opened = open_store(store_url)
    yield opened
    opened.close()
