"""Migrations: versioned, idempotent, safe when many processes and threads start at once."""

from __future__ import annotations

import multiprocessing
import threading

import psycopg

from app import migrations
from tests.conftest import PG_HOST, PG_PORT, PG_USER


def _connect(dbname: str) -> psycopg.Connection:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True)


def _migrate_in_process(dbname: str, barrier, results) -> None:
    with _connect(dbname) as conn:
        barrier.wait(timeout=30)
        results.put(migrations.migrate(conn))


def _applied(dbname: str) -> list[tuple[int, str]]:
    with _connect(dbname) as conn:
        return conn.execute(
            "SELECT version, name FROM schema_migrations ORDER BY version"
        ).fetchall()


def test_fresh_database_gets_every_migration_once(scratch_database):
    with _connect(scratch_database) as conn:
        assert migrations.current_version(conn) == 0
        assert migrations.migrate(conn) == [m.version for m in migrations.MIGRATIONS]
        assert migrations.migrate(conn) == []  # idempotent
        assert migrations.current_version(conn) == migrations.LATEST_VERSION
    assert _applied(scratch_database) == [(m.version, m.name) for m in migrations.MIGRATIONS]


def test_concurrent_processes_migrate_once(scratch_database):
    ctx = multiprocessing.get_context("spawn")
    n = 6
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [
        ctx.Process(target=_migrate_in_process, args=(scratch_database, barrier, results))
        for _ in range(n)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    applied = [results.get(timeout=5) for _ in range(n)]
    # Exactly one process applied everything; the others found nothing to do.
    assert sorted(applied, key=len) == [[]] * (n - 1) + [[1, 2]]
    assert [v for v, _ in _applied(scratch_database)] == [1, 2]


def test_concurrent_threads_migrate_once(scratch_database):
    n = 8
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run() -> None:
        try:
            with _connect(scratch_database) as conn:
                barrier.wait(timeout=30)
                results.append(migrations.migrate(conn))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(results, key=len) == [[]] * (n - 1) + [[1, 2]]
    assert [v for v, _ in _applied(scratch_database)] == [1, 2]


def test_several_servers_starting_together_migrate_once(scratch_database, start_server):
    servers = [start_server(scratch_database) for _ in range(3)]  # 3 x 2 workers
    for server in servers:
        server.wait_health("/health/ready")
    assert [v for v, _ in _applied(scratch_database)] == [1, 2]
    for server in servers:
        assert server.stop() == 0
