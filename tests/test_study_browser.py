"""End to end in real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium):
a rater starts, sees each pair for the set time, answers by key and by button, reloads and resumes,
finishes; then the stored answers and the score are exactly what was clicked."""

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

SECONDS = 0.6  # study create's CLI offers the paper's 3 or 5 s; the page takes any time, and the test should be quick


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
    clicked = {}

    with served(study) as (_, url), chromium() as driver:
        wait = WebDriverWait(driver, 15)
        driver.get(url)
        assert driver.find_element(By.ID, "progress").text == "1 / 9"
        driver.find_element(By.ID, "start").click()
        for k, t in enumerate(trials):
            if k == 4:  # reload mid-study: the page offers to resume at the fifth trial
                driver.refresh()
                resume = wait.until(EC.element_to_be_clickable((By.ID, "start")))
                wait.until(lambda d: d.find_element(By.ID, "progress").text == "5 / 9")
                assert resume.text == "Resume"
                resume.click()
            left = wait.until(EC.visibility_of_element_located((By.ID, "left-img")))
            assert left.get_attribute("src").endswith(f"/image/{t.left}")
            assert driver.find_element(By.ID, "right-img").get_attribute("src").endswith(f"/image/{t.right}")
            assert driver.find_element(By.ID, "progress").text == f"{k + 1} / 9"
            # while the pair is shown the question is hidden and cannot be answered
            assert not driver.find_element(By.ID, "question").is_displayed()
            button = wait.until(EC.element_to_be_clickable((By.ID, f"btn-{want[t.id]}")))
            # asked: the pair is gone
            assert not driver.find_element(By.ID, "left-img").is_displayed() and not driver.find_element(By.ID, "right-img").is_displayed()
            if k % 2:
                button.click()
            else:
                driver.find_element(By.TAG_NAME, "body").send_keys("f" if want[t.id] == "left" else Keys.ARROW_RIGHT)
            clicked[t.id] = want[t.id]
        wait.until(EC.visibility_of_element_located((By.ID, "done")))
        assert driver.find_element(By.ID, "progress").text == "9 / 9"
        rater = driver.get_cookie("palette_bench_rater")["value"]

    with sqlite3.connect(study / "answers.db") as db:
        rows = db.execute("SELECT rater, trial, choice, response_ms FROM answers").fetchall()
    assert {r[1]: r[2] for r in rows} == clicked and {r[0] for r in rows} == {rater}
    assert all(0 < r[3] < 15000 for r in rows)
    res = CliRunner().invoke(main, ["study", "score", str(study), "--json"])
    assert res.exit_code == 0, res.output
    scores = json.loads(res.output)
    assert scores["raters"] == {"total": 1, "kept": 1, "failed_catch": 0, "no_catch_answered": 0}
    assert scores["methods"]["palette"]["fool_rate"] == 0.5 and scores["methods"]["regression"]["fool_rate"] == 0.0
    assert scores["methods"]["palette"]["interval"] == "Wilson (one rater)"
