"""End to end in real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium):
a rater starts, sees each pair for the set time, answers by key and by button, reloads and resumes,
finishes; then the stored answers and the score are exactly what was clicked.

The page's time is the test's: it sets the page's clock hook (window.__pbClock, page.html) to a
clock it advances itself, so a pair stays on screen until the test says the time has passed,
however slow the machine. One short test keeps the browser's own timers, as raters have them."""

import json
import sqlite3

import pytest
from click.testing import CliRunner

from palette_bench.cli import main
from palette_bench.study.browser import chromium, missing, served
from palette_bench.study.create import create_study
from palette_bench.study.spec import load_study
from studyfolders import other_side, write_runs

pytestmark = pytest.mark.skipif(missing() is not None, reason=f"headless Chromium unavailable: {missing()}")

SECONDS = 3.0  # the paper's shorter display time: the test advances the page's clock, so it costs no wall time

# A clock that moves only when the test calls advance(ms): the callbacks due by then run, in order.
MANUAL_CLOCK = """
window.__pbClock = {
  t: 0, due: [],
  now() { return this.t; },
  after(ms, fn) { this.due.push([this.t + ms, fn]); },
  advance(ms) {
    this.t += ms;
    const ready = this.due.filter((d) => d[0] <= this.t);
    this.due = this.due.filter((d) => d[0] > this.t);
    ready.forEach((d) => d[1]());
  },
};
"""


def advance(driver, ms):
    driver.execute_script("window.__pbClock.advance(arguments[0]);", ms)


def test_a_rater_answers_a_study_in_headless_chromium(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    runs = write_runs(tmp_path / "runs", ("palette", "regression"), n=50)
    study = create_study(runs, "uncropping", ["palette", "regression"], 4, SECONDS, tmp_path / "study")
    trials = load_study(study).trials
    assert len(trials) == 9
    # the rater picks the original on catch trials, is fooled by palette on its first two trials, never by regression
    fooled = [t.id for t in trials if t.method == "palette"][:2]
    want = {t.id: other_side(t.original) if t.id in fooled else t.original for t in trials}
    clicked, response_ms = {}, {}

    with served(study) as (_, url), chromium() as driver:
        wait = WebDriverWait(driver, 60)  # a bound for a page that never gets there; each wait ends when it does
        driver.get(url)
        driver.execute_script(MANUAL_CLOCK)
        wait.until(lambda d: d.find_element(By.ID, "progress").text == "1 / 9")  # the page asks the server for it once loaded
        driver.find_element(By.ID, "start").click()
        body = driver.find_element(By.TAG_NAME, "body")
        for k, t in enumerate(trials):
            if k == 4:  # reload mid-study: the page offers to resume at the fifth trial
                wait.until(EC.visibility_of_element_located((By.ID, "left-img")))  # the fourth answer is stored, not cut off by the reload
                driver.refresh()
                driver.execute_script(MANUAL_CLOCK)  # a new page: its clock is the browser's until the test sets it again
                resume = wait.until(EC.element_to_be_clickable((By.ID, "start")))
                wait.until(lambda d: d.find_element(By.ID, "progress").text == "5 / 9")
                assert resume.text == "Resume"
                resume.click()
                body = driver.find_element(By.TAG_NAME, "body")
            left = wait.until(EC.visibility_of_element_located((By.ID, "left-img")))
            assert left.get_attribute("src").endswith(f"/image/{t.left}")
            assert driver.find_element(By.ID, "right-img").get_attribute("src").endswith(f"/image/{t.right}")
            assert driver.find_element(By.ID, "progress").text == f"{k + 1} / 9"
            # while the pair is shown, up to its last millisecond, the question is hidden and a key answers nothing
            advance(driver, SECONDS * 1000 - 1)
            assert left.is_displayed() and not driver.find_element(By.ID, "question").is_displayed()
            assert not driver.find_element(By.ID, f"btn-{want[t.id]}").is_enabled()
            body.send_keys("j" if want[t.id] == "left" else "f")  # the wrong side: stored, it would show in the answers below
            advance(driver, 1)
            # asked: the pair is gone
            assert driver.find_element(By.ID, "question").is_displayed()
            assert not left.is_displayed() and not driver.find_element(By.ID, "right-img").is_displayed()
            button = driver.find_element(By.ID, f"btn-{want[t.id]}")
            assert button.is_enabled()
            response_ms[t.id] = 700 + 10 * k
            advance(driver, response_ms[t.id])
            if k % 2:
                button.click()
            else:
                body.send_keys("f" if want[t.id] == "left" else Keys.ARROW_RIGHT)
            clicked[t.id] = want[t.id]
        wait.until(EC.visibility_of_element_located((By.ID, "done")))
        assert driver.find_element(By.ID, "progress").text == "9 / 9"
        rater = driver.get_cookie("palette_bench_rater")["value"]

    with sqlite3.connect(study / "answers.db") as db:
        rows = db.execute("SELECT rater, trial, choice, response_ms FROM answers").fetchall()
    assert {r[1]: r[2] for r in rows} == clicked and {r[0] for r in rows} == {rater}
    assert {r[1]: r[3] for r in rows} == response_ms  # the time from the question to the answer, on the page's clock
    res = CliRunner().invoke(main, ["study", "score", str(study), "--json"])
    assert res.exit_code == 0, res.output
    scores = json.loads(res.output)
    assert scores["raters"] == {"total": 1, "kept": 1, "failed_catch": 0, "no_catch_answered": 0}
    assert scores["methods"]["palette"]["fool_rate"] == 0.5 and scores["methods"]["regression"]["fool_rate"] == 0.0
    assert scores["methods"]["palette"]["interval"] == "Wilson (one rater)"


# Records, on the page's own clock, when the pair first appears and when the question first does.
WATCH = """
window.__seen = {};
const visible = (id) => !document.getElementById(id).classList.contains("hidden");
new MutationObserver(() => {
  const t = performance.now();
  if (!("pair" in __seen) && visible("stage") && visible("left-img")) __seen.pair = t;
  if (!("question" in __seen) && visible("question")) __seen.question = t;
}).observe(document.body, { attributes: true, subtree: true, attributeFilter: ["class"] });
"""


def test_with_the_browsers_own_clock_the_pair_stays_for_the_set_time(tmp_path):
    """As raters have it: no test clock. A slow machine can only make the pair stay longer, so the
    lower bound holds however loaded the machine is (the margin is for the observer's own delay)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    seconds = 0.6
    runs = write_runs(tmp_path / "runs", ("palette",), n=50)
    study = create_study(runs, "uncropping", ["palette"], 1, seconds, tmp_path / "study")
    first = load_study(study).trials[0]
    with served(study) as (_, url), chromium() as driver:
        driver.get(url)
        assert driver.execute_script("return window.__pbClock") is None
        driver.execute_script(WATCH)
        driver.find_element(By.ID, "start").click()
        WebDriverWait(driver, 60).until(EC.element_to_be_clickable((By.ID, f"btn-{first.original}"))).click()
        WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "progress").text == "2 / 2")
        seen = driver.execute_script("return window.__seen")
    assert seen["question"] - seen["pair"] >= seconds * 1000 - 50
    with sqlite3.connect(study / "answers.db") as db:
        assert db.execute("SELECT trial, choice FROM answers").fetchall() == [(first.id, first.original)]
