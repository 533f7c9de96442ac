"""Lean checks: reading the goal at a suggestion point and verifying candidates in shadow documents."""
