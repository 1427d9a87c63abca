"""The real server (`palette-bench study serve`, waitress): raw paths that a browser would normalise are
still 404, and answers given before a SIGKILL are all there after a restart."""

import http.client
import json
import sqlite3
from urllib.parse import urlsplit

import pytest

from palette_bench.study.browser import free_port, served
from palette_bench.study.create import create_study
from palette_bench.study.spec import load_study
from studyfolders import write_runs


@pytest.fixture
def study(tmp_path):
    runs = write_runs(tmp_path / "runs", ("palette", "regression"), n=50)
    (tmp_path / "secret.txt").write_text("not for raters")
    return create_study(runs, "uncropping", ["palette", "regression"], 6, 3.0, tmp_path / "study")


def request(url, method, path, body=None, cookie=None):
    """One HTTP request with the path sent exactly as given (http.client does not normalise it)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if cookie:
        headers["Cookie"] = cookie
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = conn.getresponse()
    data, set_cookie = r.read(), r.getheader("Set-Cookie")
    conn.close()
    return r.status, data, set_cookie


def test_raw_traversal_paths_are_404_on_the_real_server(study):
    with served(study) as (_, url):
        for path in ("/image/../study.json", "/image/../../secret.txt", "/image/%2e%2e/%2e%2e/secret.txt", "/image//etc/passwd", "/image/..%2F..%2Fsecret.txt", "/../secret.txt"):
            status, data, _ = request(url, "GET", path)
            assert status == 404, path
            assert b"not for raters" not in data and b"root:" not in data and b"trials" not in data
        name = load_study(study).trials[0].right
        status, data, _ = request(url, "GET", f"/image/{name}")
        assert status == 200 and data == (study / "images" / name).read_bytes()


def test_answers_survive_a_sigkill_of_the_server(study):
    trials = load_study(study).trials
    port = free_port()
    given = []
    with served(study, port) as (proc, url):
        _, _, set_cookie = request(url, "GET", "/")
        cookie = set_cookie.split(";")[0]
        for k, t in enumerate(trials[:5]):
            choice = "left" if k % 2 else "right"
            status, _, _ = request(url, "POST", "/api/answer", {"trial": t.id, "choice": choice, "response_ms": 100 + k}, cookie)
            assert status == 200
            given.append((t.id, choice, float(100 + k)))
        proc.kill()  # SIGKILL: no shutdown handler runs
        assert proc.wait() == -9
    with served(study, port) as (_, url):
        status, data, _ = request(url, "GET", "/api/next", cookie=cookie)
        state = json.loads(data)
        assert status == 200 and state["answered"] == 5 and state["trial"]["id"] == trials[5].id
        status, _, _ = request(url, "POST", "/api/answer", {"trial": trials[0].id, "choice": "left", "response_ms": 1}, cookie)
        assert status == 400  # still answered after the restart
    with sqlite3.connect(study / "answers.db") as db:
        assert db.execute("SELECT trial, choice, response_ms FROM answers ORDER BY trial").fetchall() == given
