"""`palette-bench study`: the paper's human fool-rate study, self-hosted.

Raters see a method's output and its original side by side for 3 or 5 seconds, then answer "Which
image would you guess is from a camera?" (two-alternative forced choice). The fool rate is the
share of trials in which they pick the output; 50% is the ideal. About one trial in ten is a catch
trial (an original against a heavily degraded copy of itself) that screens out inattentive raters.

spec.py reads and checks study.json, create.py builds a study folder from run folders, answers.py
stores answers in SQLite, server.py is the web app, score.py computes fool rates, browser.py drives
headless Chromium (the end-to-end test and the README's screenshot), command.py is the CLI.
"""

QUESTION = "Which image would you guess is from a camera?"
STUDY_FILE = "study.json"
ANSWERS_FILE = "answers.db"
SCORES_FILE = "scores.json"
IMAGES_DIR = "images"
