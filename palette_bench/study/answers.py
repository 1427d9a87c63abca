"""The answers of a study in SQLite, one row per (rater, trial), committed as each arrives.

SQLite is the store because a study is one folder on one machine: every answer is durable the moment
the server replies (a SIGKILL or a power cut loses nothing answered), several raters may answer at
once (WAL lets readers and one writer proceed together), and `study score` can read it while the
study is still running. The primary key refuses a second answer by the same rater to the same trial.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    rater TEXT NOT NULL,
    trial TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('left', 'right')),
    response_ms REAL NOT NULL CHECK (response_ms >= 0),
    answered_at TEXT NOT NULL,
    PRIMARY KEY (rater, trial)
)
"""


class DuplicateAnswer(Exception):
    """The rater has already answered this trial."""


@dataclass(frozen=True)
class Answer:
    rater: str
    trial: str
    choice: str
    response_ms: float
    answered_at: str


class AnswerStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        with closing(self._connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA synchronous=FULL")  # durable at each commit, not only at checkpoints
        return db

    def add(self, rater: str, trial: str, choice: str, response_ms: float) -> None:
        """Store one answer and commit it; DuplicateAnswer when (rater, trial) is already stored."""
        stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        with closing(self._connect()) as db:
            try:
                with db:
                    db.execute("INSERT INTO answers VALUES (?, ?, ?, ?, ?)", (rater, trial, choice, float(response_ms), stamp))
            except sqlite3.IntegrityError:
                raise DuplicateAnswer(f"rater has already answered trial {trial}") from None

    def answered(self, rater: str) -> set[str]:
        with closing(self._connect()) as db:
            return {row[0] for row in db.execute("SELECT trial FROM answers WHERE rater = ?", (rater,))}


def read_answers(path: str | Path) -> list[Answer]:
    """Every stored answer, read without writing to the file (score may run while the study does)."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)) as db:
            return [Answer(*row) for row in db.execute("SELECT rater, trial, choice, response_ms, answered_at FROM answers ORDER BY answered_at, rater, trial")]
    except sqlite3.DatabaseError as e:
        raise ValueError(f"{path}: not a study's answer database ({e})") from None
