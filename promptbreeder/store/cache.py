"""SQLite cache of model calls and fitness results, so nothing is computed twice in a run.

A call's key covers everything that decides its answer: model, query text, inputs, decoder and seed.
Writes commit at once (WAL journal), so a killed run keeps every answer it had already paid for.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY, model TEXT NOT NULL, name TEXT NOT NULL, variables TEXT NOT NULL,
    prompt TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, generated_tokens INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fitness (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def fitness_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class CallCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def get_call(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT variables, prompt, prompt_tokens, generated_tokens FROM calls WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return {"variables": json.loads(row[0]), "prompt": row[1], "prompt_tokens": row[2], "generated_tokens": row[3]}

    def put_call(self, key: str, model: str, name: str, variables: dict[str, str], prompt: str,
                 prompt_tokens: int, generated_tokens: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (key, model, name, json.dumps(variables), prompt, prompt_tokens, generated_tokens))

    def get_fitness(self, key: str) -> Any | None:
        row = self._db.execute("SELECT value FROM fitness WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_fitness(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO fitness VALUES (?, ?)", (key, json.dumps(value)))

    def count(self, table: str = "calls") -> int:
        if table not in ("calls", "fitness"):
            raise ValueError(f"unknown table {table!r}")
        return self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def close(self) -> None:
        self._db.close()
