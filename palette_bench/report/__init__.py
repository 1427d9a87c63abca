"""`palette-bench report`: the paper's tables and figures, built only from run folders.

collect.py reads the run folders, group.py decides which evaluations share a table and what their
rows are called, tables.py and best.py make the numbers' DataFrames, footer.py says how they were
measured, render.py writes CSV, Markdown and LaTeX, multitask.py makes the multi-task table (Table 7
layout), build.py ties them together, command.py is the CLI.
"""

FORMATS = ("csv", "tex", "md", "png")  # png: the sample figure of each task table
