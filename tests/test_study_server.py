"""`palette-bench study serve`: only the study's images are served, every answer is checked before it is stored, raters resume."""

import json
import os
import sqlite3
import sys

import pytest

from palette_bench.study.create import create_study
from palette_bench.study.server import COOKIE, create_app
from palette_bench.study.spec import load_study
from studyfolders import write_runs

# every file opened while this is a list is recorded: requests must not read files they may not serve
_opened = None


def _audit(event, args):
    if event == "open" and _opened is not None and isinstance(args[0], (str, bytes, os.PathLike)):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def study(tmp_path):
    runs = write_runs(tmp_path / "runs", ("palette", "regression"), n=50)
    (tmp_path / "secret.txt").write_text("not for raters")
    return create_study(runs, "uncropping", ["palette", "regression"], 5, 3.0, tmp_path / "study")


@pytest.fixture
def client(study):
    c = create_app(study).test_client()
    assert c.get("/").status_code == 200  # the page gives the rater an id
    return c


def stored(study):
    with sqlite3.connect(study / "answers.db") as db:
        return db.execute("SELECT rater, trial, choice, response_ms FROM answers ORDER BY trial").fetchall()


TRAVERSALS = [
    "/image/../study.json",
    "/image/%2e%2e/study.json",
    "/image/%2E%2E%2Fstudy.json",
    "/image/..%2f..%2fsecret.txt",
    "/image/%2e%2e/%2e%2e/secret.txt",
    "/image//etc/passwd",
    "/image/%2Fetc%2Fpasswd",
    "/image/images/0001-left.png",
    "/image/./0001-left.png",
    "/image/0001-left.png/../../study.json",
    "/image/0001-left.png%00",
    "/study.json",
    "/answers.db",
    "/images/0001-left.png",
    "/static/../study.json",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_paths_outside_the_study_images_are_404_and_read_nothing(client, study, tmp_path, path):
    global _opened
    _opened = []
    try:
        response = client.get(path)
    finally:
        opened, _opened = _opened, None
    assert response.status_code == 404
    assert b"not for raters" not in response.data and b"trials" not in response.data and b"root:" not in response.data
    assert not [p for p in opened if p.startswith(str(tmp_path))], opened


def test_a_study_image_is_served_and_the_audit_sees_it(client, study):
    """The check above can fail: reading a file in the study folder is what the audit records."""
    global _opened
    name = load_study(study).trials[0].left
    _opened = []
    try:
        with client.get(f"/image/{name}") as response:
            data = response.data
    finally:
        opened, _opened = _opened, None
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert data == (study / "images" / name).read_bytes()
    assert str(study / "images" / name) in opened


def test_the_rater_gets_the_trials_in_order_and_resumes_where_they_stopped(client, study):
    trials = load_study(study).trials
    first = client.get("/api/next").get_json()
    assert first["answered"] == 0 and first["total"] == len(trials) == 11 and first["trial"]["id"] == trials[0].id
    assert first["trial"]["left"] == f"/image/{trials[0].left}" and first["seconds"] == 3
    for t in trials[:3]:
        r = client.post("/api/answer", json={"trial": t.id, "choice": "left", "response_ms": 700})
        assert r.status_code == 200 and r.get_json()["stored"] is True
    reload = client.get("/api/next")  # a reload asks the server, which remembers (and no cache answers for it)
    assert reload.headers["Cache-Control"] == "no-store"
    again = reload.get_json()
    assert again["answered"] == 3 and again["trial"]["id"] == trials[3].id
    other = create_app(study).test_client()  # another browser: a new rater from the first trial
    other.get("/")
    assert other.get("/api/next").get_json()["trial"]["id"] == trials[0].id
    assert client.get_cookie(COOKIE).value != other.get_cookie(COOKIE).value


BAD_ANSWERS = [
    ("not json", "the answer must be a JSON object"),
    (json.dumps([1, 2]), "the answer must be a JSON object"),
    (json.dumps({"trial": "0001", "choice": "left"}), "exactly the fields"),
    (json.dumps({"trial": "0001", "choice": "left", "response_ms": 5, "rater": "x"}), "exactly the fields"),
    (json.dumps({"trial": "9999", "choice": "left", "response_ms": 5}), "no such trial"),
    (json.dumps({"trial": 1, "choice": "left", "response_ms": 5}), "no such trial"),
    (json.dumps({"trial": "../study.json", "choice": "left", "response_ms": 5}), "no such trial"),
    (json.dumps({"trial": "0001", "choice": "up", "response_ms": 5}), "choice must be"),
    (json.dumps({"trial": "0001", "choice": None, "response_ms": 5}), "choice must be"),
    (json.dumps({"trial": "0001", "choice": "left", "response_ms": -1}), "response_ms"),
    (json.dumps({"trial": "0001", "choice": "left", "response_ms": "800"}), "response_ms"),
    (json.dumps({"trial": "0001", "choice": "left", "response_ms": True}), "response_ms"),
    ('{"trial": "0001", "choice": "left", "response_ms": NaN}', "response_ms"),
    (json.dumps({"trial": "0001", "choice": "left", "response_ms": 1e12}), "response_ms"),
]


@pytest.mark.parametrize("body, message", BAD_ANSWERS)
def test_a_malformed_answer_is_400_and_stores_nothing(client, study, body, message):
    r = client.post("/api/answer", data=body, content_type="application/json")
    assert r.status_code == 400 and message in r.get_json()["error"]
    assert stored(study) == []


@pytest.mark.parametrize("cookie", [None, "", "zz" * 16, "a" * 31, "a" * 32 + "'; DROP TABLE answers; --"])
def test_an_answer_without_a_valid_rater_id_is_400_and_stores_nothing(study, cookie):
    c = create_app(study).test_client()
    if cookie is not None:
        c.set_cookie(COOKIE, cookie)
    r = c.post("/api/answer", json={"trial": "0001", "choice": "left", "response_ms": 5})
    assert r.status_code == 400 and "no rater id" in r.get_json()["error"]
    assert c.get("/api/next").status_code == 400
    assert stored(study) == []


def test_a_second_answer_to_the_same_trial_is_400_and_the_first_stays(client, study):
    assert client.post("/api/answer", json={"trial": "0002", "choice": "right", "response_ms": 640.5}).status_code == 200
    r = client.post("/api/answer", json={"trial": "0002", "choice": "left", "response_ms": 100})
    assert r.status_code == 400 and "already answered" in r.get_json()["error"]
    rater = client.get_cookie(COOKIE).value
    assert stored(study) == [(rater, "0002", "right", 640.5)]
