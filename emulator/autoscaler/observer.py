"""What the autoscaler's policy observes: queued + running task instances (the metadata
database) and the length of Celery's queue (the broker)."""

from __future__ import annotations

from typing import Any

from emulator.environment import database

BUSY_QUERY = "select count(*) from task_instance where state in ('queued', 'running')"


class Observer:
    def __init__(self, db_url: str, broker_url: str):
        self.db_url = db_url
        self.broker_url = broker_url
        self._conn: Any = None
        self._redis: Any = None

    def busy(self) -> int:
        import psycopg2

        if self._conn is None or self._conn.closed:
            self._conn = database.connect(self.db_url)
            self._conn.autocommit = True
        try:
            with self._conn.cursor() as cur:
                cur.execute(BUSY_QUERY)
                return int(cur.fetchone()[0])
        except psycopg2.Error:
            self._conn.close()
            raise

    def queue_depth(self, queue: str) -> int:
        import redis

        if self._redis is None:
            self._redis = redis.Redis.from_url(self.broker_url, socket_timeout=3)
        return int(self._redis.llen(queue))
