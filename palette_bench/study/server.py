"""`study serve`: the rating web app (Flask, served by waitress).

Routes: `/` the page, `/api/next` the rater's next trial and progress, `/api/answer` one answer,
`/image/<name>` the study's images. Images are looked up in the set of names study.json lists and
sent from the path recorded at start-up, so no request can name a file outside the study, however
the path is spelled (`../`, `%2e%2e/`, absolute): anything else is 404 and nothing is read.
Raters are anonymous: a random id in a cookie, which is also what lets a rater resume after a reload.
"""

from __future__ import annotations

import math
import re
import secrets
from importlib import resources

from flask import Flask, abort, jsonify, make_response, render_template_string, request, send_file

from palette_bench.study import ANSWERS_FILE
from palette_bench.study.answers import AnswerStore, DuplicateAnswer
from palette_bench.study.spec import SIDES, load_study

COOKIE = "palette_bench_rater"
RATER_ID = re.compile(r"^[0-9a-f]{32}$")
ANSWER_FIELDS = {"trial", "choice", "response_ms"}
MAX_RESPONSE_MS = 3_600_000  # an hour: anything longer is not a response to this page


def _bad(message: str):
    return make_response(jsonify(error=message), 400)


def _rater() -> str | None:
    rater = request.cookies.get(COOKIE, "")
    return rater if RATER_ID.match(rater) else None


def create_app(study_dir) -> Flask:
    study = load_study(study_dir)
    trials, images = study.by_id, study.image_paths()
    store = AnswerStore(study.folder / ANSWERS_FILE)
    page = resources.files("palette_bench.study").joinpath("page.html").read_text()

    app = Flask(__name__, static_folder=None)  # no static route: the study's images are the only files served
    app.url_map.merge_slashes = False  # "//etc/passwd" is a name to refuse with 404, not a path to redirect to

    @app.get("/")
    def index():
        response = make_response(render_template_string(page, study=study.data, total=len(study.trials)))
        if _rater() is None:
            response.set_cookie(COOKIE, secrets.token_hex(16), max_age=365 * 24 * 3600, httponly=True, samesite="Strict")
        return response

    @app.get("/api/next")
    def next_trial():
        rater = _rater()
        if rater is None:
            return _bad("no rater id: open the study's page first")
        done = store.answered(rater)
        pending = [t for t in study.trials if t.id not in done]
        body = {"answered": len(done), "total": len(study.trials), "seconds": study.seconds, "question": study.question, "done": not pending}
        if pending:
            t = pending[0]
            body["trial"] = {"id": t.id, "left": f"/image/{t.left}", "right": f"/image/{t.right}"}
        return jsonify(body)

    @app.post("/api/answer")
    def answer():
        rater = _rater()
        if rater is None:
            return _bad("no rater id: open the study's page first")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _bad("the answer must be a JSON object")
        if set(body) != ANSWER_FIELDS:
            return _bad(f"the answer must have exactly the fields {', '.join(sorted(ANSWER_FIELDS))}")
        trial, choice, ms = body["trial"], body["choice"], body["response_ms"]
        if not isinstance(trial, str) or trial not in trials:
            return _bad("no such trial in this study")
        if choice not in SIDES:
            return _bad("choice must be 'left' or 'right'")
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms) or not 0 <= ms <= MAX_RESPONSE_MS:
            return _bad(f"response_ms must be a number of milliseconds between 0 and {MAX_RESPONSE_MS}")
        try:
            store.add(rater, trial, choice, ms)
        except DuplicateAnswer:
            return _bad(f"trial {trial} is already answered by this rater")
        return jsonify(stored=True, answered=len(store.answered(rater)), total=len(study.trials))

    @app.after_request
    def no_store(response):
        if not request.path.startswith("/image/"):  # the page and the rater's state must never come from a cache
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/image/<path:name>")
    def image(name: str):
        path = images.get(name)
        if path is None:
            abort(404)
        return send_file(path, mimetype="image/png", max_age=3600)

    return app


def serve(study_dir, host: str = "127.0.0.1", port: int = 8000, threads: int = 8) -> None:
    """Serve the study until interrupted (waitress: a production WSGI server, several raters at once)."""
    from waitress import serve as waitress_serve

    app = create_app(study_dir)
    waitress_serve(app, host=host, port=port, threads=threads, ident="palette-bench")
