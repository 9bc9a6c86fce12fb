"""Environment state and tokens, kept in the metadata database so they survive restarts and
every process that needs them (API, web server plugin, `mwaa-local`) sees the same."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.extras

from emulator.environment import database

SCHEMA = """
create table if not exists mwaa_local_environment (
    name text primary key,
    spec jsonb not null,
    status text not null,
    created_at double precision not null,
    last_update jsonb,
    tags jsonb not null default '{}'::jsonb,
    generation integer not null default 1
);
create table if not exists mwaa_local_component (
    component text primary key,
    environment text not null,
    generation integer not null,
    seen_at double precision not null
);
create table if not exists mwaa_local_token (
    digest text primary key,
    kind text not null,
    environment text not null,
    identity text,
    role text,
    expires_at double precision not null,
    used boolean not null default false
);
"""


@dataclass
class EnvironmentRecord:
    name: str
    spec: dict[str, Any]
    status: str
    created_at: float
    last_update: dict[str, Any] | None
    tags: dict[str, str]
    generation: int


@dataclass
class TokenGrant:
    environment: str
    identity: str | None
    role: str | None


def _digest(token: str) -> str:
    # Only a hash is stored: a leaked table gives no usable token.
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    """The state's tables. Each call opens a connection of its own, unless `keep_open`: then
    one connection serves every call (one at a time) and is opened again after the server
    went away. The services that poll (the supervisors, the watcher, the autoscaler) keep
    theirs: a new PostgreSQL connection per poll (a backend forked, authenticated and its
    caches filled) was most of an idle environment's database CPU."""

    def __init__(self, db_url: str, keep_open: bool = False):
        self.db_url = db_url
        self.keep_open = keep_open
        self._conn: Any = None
        self._lock = threading.Lock()

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if not self.keep_open:
            conn = database.connect(self.db_url)
            try:
                with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                    yield cur
            finally:
                conn.close()
            return
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = database.connect(self.db_url)
            try:
                with (
                    self._conn,
                    self._conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur,
                ):
                    yield cur
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                # The server went away (or restarted): a new connection next time.
                self.close()
                raise

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def ensure_schema(self) -> None:
        with self._cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(7242)")  # one creator at a time
            cur.execute(SCHEMA)

    # -- environments ---------------------------------------------------------------------
    @staticmethod
    def _record(row: dict[str, Any]) -> EnvironmentRecord:
        return EnvironmentRecord(**row)

    def get(self, name: str) -> EnvironmentRecord | None:
        with self._cursor() as cur:
            cur.execute("select * from mwaa_local_environment where name = %s", (name,))
            row = cur.fetchone()
        return self._record(row) if row else None

    def names(self) -> list[str]:
        with self._cursor() as cur:
            cur.execute("select name from mwaa_local_environment order by name")
            return [r["name"] for r in cur.fetchall()]

    def create(self, name: str, spec: dict[str, Any], status: str, generation: int = 1) -> bool:
        """Add an environment; False when one of that name exists already."""
        tags = spec.get("Tags") or {}
        with self._cursor() as cur:
            cur.execute(
                "insert into mwaa_local_environment "
                "(name, spec, status, created_at, tags, generation) "
                "values (%s, %s, %s, %s, %s, %s) on conflict (name) do nothing",
                (name, json.dumps(spec), status, time.time(), json.dumps(tags), generation),
            )
            return cur.rowcount == 1

    def update(self, name: str, **fields: Any) -> None:
        columns = {
            k: json.dumps(v) if k in ("spec", "last_update", "tags") else v
            for k, v in fields.items()
        }
        assignments = ", ".join(f"{k} = %s" for k in columns)
        with self._cursor() as cur:
            cur.execute(
                f"update mwaa_local_environment set {assignments} where name = %s",
                (*columns.values(), name),
            )

    def generation(self, name: str) -> int | None:
        with self._cursor() as cur:
            cur.execute("select generation from mwaa_local_environment where name = %s", (name,))
            row = cur.fetchone()
        return row["generation"] if row else None

    # -- components: which definition each running service has applied --------------------
    def report_component(self, component: str, environment: str, generation: int) -> None:
        with self._cursor() as cur:
            cur.execute(
                "insert into mwaa_local_component values (%s, %s, %s, %s) on conflict "
                "(component) do update set environment = excluded.environment, "
                "generation = excluded.generation, seen_at = excluded.seen_at",
                (component, environment, generation, time.time()),
            )

    def poll(self, component: str, environment: str, generation: int) -> int | None:
        """A running service's round in one statement: it reports the generation it runs
        (report_component) and learns the environment's latest (None once deleted)."""
        with self._cursor() as cur:
            cur.execute(
                "with seen as (insert into mwaa_local_component values (%s, %s, %s, %s) on "
                "conflict (component) do update set environment = excluded.environment, "
                "generation = excluded.generation, seen_at = excluded.seen_at) "
                "select generation from mwaa_local_environment where name = %s",
                (component, environment, generation, time.time(), environment),
            )
            row = cur.fetchone()
        return row["generation"] if row else None

    def live_components(self, environment: str, within_s: float = 15) -> dict[str, int]:
        """Components seen lately, with the generation each runs."""
        with self._cursor() as cur:
            cur.execute(
                "select component, generation from mwaa_local_component where environment = %s "
                "and seen_at > %s",
                (environment, time.time() - within_s),
            )
            return {r["component"]: r["generation"] for r in cur.fetchall()}

    def delete(self, name: str) -> None:
        with self._cursor() as cur:
            cur.execute("delete from mwaa_local_environment where name = %s", (name,))

    # -- tokens ---------------------------------------------------------------------------
    def issue_token(
        self,
        kind: str,
        environment: str,
        ttl_s: float,
        identity: str | None = None,
        role: str | None = None,
    ) -> str:
        token = secrets.token_urlsafe(32)
        with self._cursor() as cur:
            cur.execute("delete from mwaa_local_token where expires_at < %s", (time.time() - 60,))
            cur.execute(
                "insert into mwaa_local_token (digest, kind, environment, identity, role, "
                "expires_at) values (%s, %s, %s, %s, %s, %s)",
                (_digest(token), kind, environment, identity, role, time.time() + ttl_s),
            )
        return token

    def check_token(self, kind: str, token: str, single_use: bool) -> TokenGrant | None:
        """The grant behind a live token of that kind, else None; a single-use one is spent."""
        with self._cursor() as cur:
            if single_use:
                cur.execute(
                    "update mwaa_local_token set used = true where digest = %s and kind = %s "
                    "and not used and expires_at > %s returning environment, identity, role",
                    (_digest(token), kind, time.time()),
                )
            else:
                cur.execute(
                    "select environment, identity, role from mwaa_local_token where digest = %s "
                    "and kind = %s and expires_at > %s",
                    (_digest(token), kind, time.time()),
                )
            row = cur.fetchone()
        return TokenGrant(**row) if row else None
