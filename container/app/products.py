"""Product queries. Identifiers come from whitelists; every value is a bound parameter."""

from __future__ import annotations

from typing import Any, NamedTuple

import psycopg
from psycopg import sql

from app.errors import APIError
from app.validation import ListParams, encode_cursor

_COLUMN_LIST = (
    "id, name, description, price, currency, category, sku, stock, created_at, updated_at"
)
COLUMNS = sql.SQL(_COLUMN_LIST)
# Hot, fixed statements as plain strings: composing them per request costs more
# than running them (psycopg prepares them server-side after a few executions).
_GET_ONE = f"SELECT {_COLUMN_LIST} FROM products WHERE id = %s"
_SORT_COLUMNS = {
    "id": "id",
    "name": "name",
    "price": "price",
    "stock": "stock",
    "created_at": "created_at",
    "updated_at": "updated_at",
}


def to_json(row: dict[str, Any]) -> dict[str, Any]:
    """A DB row as the API shows it (price as a JSON number with 2 decimals)."""
    out = dict(row)
    out["price"] = float(row["price"])
    return out


class CatalogState(NamedTuple):
    """One state of the catalog: ``catalog_state``'s counter and random stamp.

    Every statement that changes ``products`` renews both in its own transaction
    (migrations 2 and 4), so two reads that give the same state saw the same rows.
    """

    version: int
    stamp: str


# What a 304 costs, and the first statement of every list and categories request:
#   SELECT version, stamp::text AS stamp FROM catalog_state WHERE id = 1
# One row, by its primary key. The table is one 8 kB page (the bumps are HOT
# updates, pruned in place), so the planner reads that page (1 buffer hit) rather
# than the pkey index (2); either way far less than any list or detail query.
# A prepared statement after a few runs, like the other hot statements here.
_STATE = "SELECT version, stamp::text AS stamp FROM catalog_state WHERE id = 1"
# A product and the state it belongs to, in one statement, hence one snapshot:
# the state names exactly the row returned (or its absence).
_GET_ONE_WITH_STATE = (
    "SELECT s.version AS catalog_version, s.stamp::text AS catalog_stamp, "
    + ", ".join(f"p.{c.strip()}" for c in _COLUMN_LIST.split(","))
    + " FROM catalog_state s LEFT JOIN products p ON p.id = %s WHERE s.id = 1"
)


def catalog_state(conn: psycopg.Connection) -> CatalogState | None:
    """The current state; None if its row is gone (then nothing may be cached)."""
    row = conn.execute(_STATE).fetchone()
    return CatalogState(int(row["version"]), row["stamp"]) if row else None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_products(conn: psycopg.Connection, params: ListParams) -> dict[str, Any]:
    filters: list[sql.Composable] = []
    args: list[Any] = []
    if params.category is not None:
        filters.append(sql.SQL("category = %s"))
        args.append(params.category)
    if params.q is not None:
        filters.append(sql.SQL("name ILIKE %s"))
        args.append(f"%{_escape_like(params.q)}%")
    if params.min_price is not None:
        filters.append(sql.SQL("price >= %s"))
        args.append(params.min_price)
    if params.max_price is not None:
        filters.append(sql.SQL("price <= %s"))
        args.append(params.max_price)

    count_where = sql.SQL(" AND ").join(filters) if filters else sql.SQL("TRUE")
    total = conn.execute(
        sql.SQL("SELECT count(*) AS n FROM products WHERE {}").format(count_where), args
    ).fetchone()

    column = sql.Identifier(_SORT_COLUMNS[params.sort_field])
    direction = sql.SQL("DESC" if params.descending else "ASC")
    page_filters = list(filters)
    page_args = list(args)
    if params.cursor is not None:
        value, last_id = params.cursor
        op = sql.SQL("<" if params.descending else ">")
        if params.sort_field == "id":
            page_filters.append(sql.SQL("id {} %s").format(op))
            page_args.append(last_id)
        else:
            page_filters.append(sql.SQL("({}, id) {} (%s, %s)").format(column, op))
            page_args.extend([value, last_id])
    page_where = sql.SQL(" AND ").join(page_filters) if page_filters else sql.SQL("TRUE")
    order = (
        sql.SQL("id {}").format(direction)
        if params.sort_field == "id"
        else sql.SQL("{} {}, id {}").format(column, direction, direction)
    )
    query = sql.SQL(
        "SELECT {cols} FROM products WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s"
    ).format(cols=COLUMNS, where=page_where, order=order)
    rows = conn.execute(query, [*page_args, params.limit + 1, params.offset or 0]).fetchall()

    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        next_cursor = encode_cursor(params.sort, last[params.sort_field], last["id"])
    return {
        "products": [to_json(r) for r in rows],
        "count": int(total["n"]) if total else 0,
        "limit": params.limit,
        "offset": params.offset,
        "next_cursor": next_cursor,
    }


def get_product(conn: psycopg.Connection, product_id: int) -> dict[str, Any] | None:
    return conn.execute(_GET_ONE, (product_id,)).fetchone()


def get_product_with_state(
    conn: psycopg.Connection, product_id: int
) -> tuple[CatalogState | None, dict[str, Any] | None]:
    """The product (None if there is none) and the catalog state it was read at."""
    row = conn.execute(_GET_ONE_WITH_STATE, (product_id,)).fetchone()
    if row is None:  # no catalog_state row: an unversioned read
        return None, get_product(conn, product_id)
    state = CatalogState(int(row.pop("catalog_version")), row.pop("catalog_stamp"))
    return state, (row if row["id"] is not None else None)


def _integrity(exc: psycopg.IntegrityError, sku: Any) -> APIError:
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return APIError(409, "conflict", f"A product with sku {sku!r} already exists.")
    return APIError(422, "validation_error", "The product violates a database constraint.")


def create_product(conn: psycopg.Connection, data: dict[str, Any]) -> dict[str, Any]:
    fields = list(data)
    query = sql.SQL("INSERT INTO products ({}) VALUES ({}) RETURNING {}").format(
        sql.SQL(", ").join(sql.Identifier(f) for f in fields),
        sql.SQL(", ").join(sql.Placeholder() for _ in fields),
        COLUMNS,
    )
    try:
        row = conn.execute(query, [data[f] for f in fields]).fetchone()
    except psycopg.IntegrityError as exc:
        raise _integrity(exc, data.get("sku")) from None
    assert row is not None
    return row


def update_product(
    conn: psycopg.Connection, product_id: int, data: dict[str, Any]
) -> dict[str, Any] | None:
    if not data:
        return get_product(conn, product_id)
    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(f)) for f in data)
    query = sql.SQL("UPDATE products SET {}, updated_at = now() WHERE id = %s RETURNING {}").format(
        assignments, COLUMNS
    )
    try:
        return conn.execute(query, [*data.values(), product_id]).fetchone()
    except psycopg.IntegrityError as exc:
        raise _integrity(exc, data.get("sku")) from None


def delete_product(conn: psycopg.Connection, product_id: int) -> bool:
    row = conn.execute("DELETE FROM products WHERE id = %s RETURNING id", (product_id,)).fetchone()
    return row is not None


def list_categories(conn: psycopg.Connection) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT category AS name, count(*) AS product_count "
        "FROM products GROUP BY category ORDER BY category"
    ).fetchall()
    return {"categories": rows, "count": len(rows)}
