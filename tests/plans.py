"""The plan the database the suite runs on (SQLite or PostgreSQL) makes for a statement, as the app
would send it: for tests that a query reads through the index meant for it."""
from __future__ import annotations

from sqlalchemy import text

from vani.extensions import db


def plan(stmt) -> str:
    compiled = stmt.compile(db.engine, compile_kwargs={"render_postcompile": True})  # IN lists spelt out
    params = compiled.params
    conn = db.session.connection()
    if db.engine.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL enable_seqscan = off"))  # a handful of rows: any index it can use, it will
        rows = conn.exec_driver_sql(f"EXPLAIN {compiled}", tuple(params[k] for k in compiled.positiontup or ())
                                    if compiled.positional else params)
    else:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(params[k] for k in compiled.positiontup))
    return "\n".join(str(row) for row in rows)
