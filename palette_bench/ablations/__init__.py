"""The studies of `palette-bench ablate`: each evaluates variants on the same inputs and tabulates them.

steps.py: samplers x step schedules x step counts of one trained checkpoint (`ablate steps`).
"""
