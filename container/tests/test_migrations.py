"""Migrations: versioned, idempotent, safe when many processes and threads start at once."""

from __future__ import annotations

import multiprocessing
import secrets
import threading

import psycopg
import pytest
from psycopg import sql

from app import migrations
from tests.conftest import (
    APP_ROLE,
    PG_HOST,
    PG_PORT,
    PG_USER,
    create_database,
    create_role,
    drop_database,
    forget_role,
    new_db_name,
)

ALL = [m.version for m in migrations.MIGRATIONS]


def _connect(dbname: str) -> psycopg.Connection:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True)


def _migrate_in_process(dbname: str, barrier, results, app_user: str) -> None:
    with _connect(dbname) as conn:
        barrier.wait(timeout=30)
        results.put(migrations.migrate(conn, app_user=app_user))


def _applied(dbname: str) -> list[tuple[int, str]]:
    with _connect(dbname) as conn:
        return conn.execute(
            "SELECT version, name FROM schema_migrations ORDER BY version"
        ).fetchall()


def test_fresh_database_gets_every_migration_once(scratch_database):
    with _connect(scratch_database) as conn:
        assert migrations.current_version(conn) == 0
        assert migrations.migrate(conn, app_user=APP_ROLE) == ALL
        assert migrations.migrate(conn, app_user=APP_ROLE) == []  # idempotent
        assert migrations.current_version(conn) == migrations.LATEST_VERSION
    assert _applied(scratch_database) == [(m.version, m.name) for m in migrations.MIGRATIONS]


def test_concurrent_processes_migrate_once(scratch_database):
    ctx = multiprocessing.get_context("spawn")
    n = 6
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [
        ctx.Process(target=_migrate_in_process, args=(scratch_database, barrier, results, APP_ROLE))
        for _ in range(n)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    applied = [results.get(timeout=5) for _ in range(n)]
    # Exactly one process applied everything; the others found nothing to do.
    assert sorted(applied, key=len) == [[]] * (n - 1) + [ALL]
    assert [v for v, _ in _applied(scratch_database)] == ALL


def test_concurrent_threads_migrate_once(scratch_database):
    n = 8
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run() -> None:
        try:
            with _connect(scratch_database) as conn:
                barrier.wait(timeout=30)
                results.append(migrations.migrate(conn, app_user=APP_ROLE))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(results, key=len) == [[]] * (n - 1) + [ALL]
    assert [v for v, _ in _applied(scratch_database)] == ALL


def test_several_servers_starting_together_migrate_once(scratch_database, start_server):
    servers = [start_server(scratch_database) for _ in range(3)]  # 3 x 2 workers
    for server in servers:
        server.wait_health("/health/ready")
    assert [v for v, _ in _applied(scratch_database)] == ALL
    for server in servers:
        assert server.stop() == 0


# -- the least-privilege application role -------------------------------------------
def _connect_as(dbname: str, role: str) -> psycopg.Connection:
    # The local server trusts 127.0.0.1: any role logs in without a password.
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=role, dbname=dbname, autocommit=True)


TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def _table_privileges(conn: psycopg.Connection, role: str) -> dict[str, set[str]]:
    tables = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    ).fetchall()
    result = {}
    for (table,) in tables:
        result[table] = {
            p
            for p in TABLE_PRIVILEGES
            if conn.execute("SELECT has_table_privilege(%s, %s, %s)", (role, table, p)).fetchone()[
                0
            ]
        }
    return result


def test_app_role_has_exactly_the_privileges_the_api_needs(scratch_database):
    with _connect(scratch_database) as conn:
        migrations.migrate(conn, app_user=APP_ROLE)
        attrs = conn.execute(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication,"
            " rolbypassrls FROM pg_roles WHERE rolname = %s",
            (APP_ROLE,),
        ).fetchone()
        assert attrs == (True, False, False, False, False, False)
        dml = {"SELECT", "INSERT", "UPDATE", "DELETE"}
        assert _table_privileges(conn, APP_ROLE) == {
            "catalog_state": dml,
            "products": dml,
            "schema_migrations": {"SELECT"},
        }
        # Exactly these grants, nothing more (role_table_grants lists direct grants).
        grants = conn.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
            " WHERE grantee = %s ORDER BY 1, 2",
            (APP_ROLE,),
        ).fetchall()
        assert grants == sorted(
            [("catalog_state", p) for p in dml]
            + [("products", p) for p in dml]
            + [("schema_migrations", "SELECT")]
        )
        seq = conn.execute(
            "SELECT has_sequence_privilege(%(r)s, 'products_id_seq', 'USAGE'),"
            " has_sequence_privilege(%(r)s, 'products_id_seq', 'SELECT'),"
            " has_sequence_privilege(%(r)s, 'products_id_seq', 'UPDATE'),"
            " has_schema_privilege(%(r)s, 'public', 'USAGE'),"
            " has_schema_privilege(%(r)s, 'public', 'CREATE'),"
            " has_database_privilege(%(r)s, current_database(), 'CONNECT'),"
            " has_database_privilege(%(r)s, current_database(), 'CREATE')",
            {"r": APP_ROLE},
        ).fetchone()
        assert seq == (True, True, False, True, False, True, False)
        # Not granted rds_iam: the local server has no such role.
        assert not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'").fetchone()


def test_app_role_can_use_the_catalog_but_not_change_the_schema(scratch_database):
    with _connect(scratch_database) as conn:
        migrations.migrate(conn, app_user=APP_ROLE)
    with _connect_as(scratch_database, APP_ROLE) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (APP_ROLE,)
        (pid,) = conn.execute(
            "INSERT INTO products (name, price, sku) VALUES ('n', 1, 'S-1') RETURNING id"
        ).fetchone()
        conn.execute("UPDATE products SET stock = 3 WHERE id = %s", (pid,))
        assert conn.execute("SELECT stock FROM products WHERE id = %s", (pid,)).fetchone() == (3,)
        # The cache-version trigger runs as the app role: it may bump the counter.
        assert conn.execute("SELECT version FROM catalog_state").fetchone()[0] == 2
        conn.execute("DELETE FROM products WHERE id = %s", (pid,))
        assert migrations.current_version(conn) == migrations.LATEST_VERSION
        for statement in (
            "CREATE TABLE intruder (id int)",
            "DROP TABLE products",
            "ALTER TABLE products ADD COLUMN x int",
            "TRUNCATE products",
            "CREATE INDEX ON products (stock)",
            "DROP TRIGGER products_bump_version ON products",
            "INSERT INTO schema_migrations (version, name) VALUES (99, 'x')",
            "DELETE FROM schema_migrations",
            "CREATE SCHEMA intruder",
            "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "CREATE SEQUENCE intruder_seq",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with _connect(scratch_database) as conn:
        assert migrations.current_version(conn) == migrations.LATEST_VERSION
        assert conn.execute("SELECT to_regclass('intruder')").fetchone() == (None,)


def test_tables_created_by_later_migrations_are_granted_by_default(scratch_database):
    with _connect(scratch_database) as conn:
        migrations.migrate(conn, app_user=APP_ROLE)
        # What a future migration would do, as the same admin user.
        conn.execute("CREATE TABLE later (id bigint GENERATED ALWAYS AS IDENTITY, v text)")
    with _connect_as(scratch_database, APP_ROLE) as conn:
        conn.execute("INSERT INTO later (v) VALUES ('x')")
        assert conn.execute("SELECT v FROM later").fetchall() == [("x",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TABLE later")


def test_app_role_is_put_back_when_dropped_or_renamed(scratch_database):
    renamed = "catalog_app_renamed_" + secrets.token_hex(4)
    forget_role(renamed)
    with _connect(scratch_database) as conn:
        assert migrations.migrate(conn, app_user=APP_ROLE) == ALL
        # DB_APP_USER changed after migration 3 was applied: the new role is made.
        assert migrations.migrate(conn, app_user=renamed) == []
        assert _table_privileges(conn, renamed)["products"] == {
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
        }
        # Dropped by hand: the next start makes it again.
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(renamed)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(renamed)))
        assert migrations.migrate(conn, app_user=renamed) == []
        assert migrations.app_role_in_place(conn.cursor(), renamed)
        # A role that exists without LOGIN gets it.
        conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(renamed)))
        assert not migrations.app_role_in_place(conn.cursor(), renamed)
        migrations.migrate(conn, app_user=renamed)
        assert conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (renamed,)
        ).fetchone() == (True,)
    with _connect_as(scratch_database, renamed) as conn:
        assert conn.execute("SELECT count(*) FROM products").fetchone() == (0,)


def test_role_that_allows_iam_login_is_granted_where_it_exists(scratch_database):
    # Aurora's rds_iam stands in under a name of this run's own (roles are per cluster).
    iam_role = create_role("rds_iam_standin")
    with _connect(scratch_database) as conn:
        migrations.migrate(conn, app_user=APP_ROLE)
        cur = conn.cursor()
        assert migrations.app_role_in_place(cur, APP_ROLE, iam_role=iam_role) is False
        with conn.transaction():
            migrations.ensure_app_role(cur, APP_ROLE, iam_role=iam_role)
        with conn.transaction():
            migrations.ensure_app_role(cur, APP_ROLE, iam_role=iam_role)  # idempotent
        assert conn.execute(
            "SELECT pg_has_role(%s, %s, 'MEMBER')", (APP_ROLE, iam_role)
        ).fetchone() == (True,)
        assert migrations.app_role_in_place(cur, APP_ROLE, iam_role=iam_role) is True


def test_databases_migrating_at_once_share_one_new_role():
    # The advisory lock is per database, the role per cluster: several databases
    # (of one cluster) creating the same role at the same instant must all succeed.
    role = "catalog_app_shared_" + secrets.token_hex(4)
    forget_role(role)
    names = [new_db_name("r") for _ in range(3)]
    for name in names:
        create_database(name)
    try:
        barrier = threading.Barrier(len(names))
        results, errors = [], []

        def run(dbname: str) -> None:
            try:
                with _connect(dbname) as conn:
                    barrier.wait(timeout=30)
                    results.append(migrations.migrate(conn, app_user=role))
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(name,)) for name in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert results == [ALL] * len(names)
        for name in names:
            with _connect_as(name, role) as conn:
                assert conn.execute("SELECT count(*) FROM products").fetchone() == (0,)
    finally:
        for name in names:
            drop_database(name)
