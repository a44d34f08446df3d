"""Verification with evidence: checks declared once (``registry.CHECKS``), run concurrently
(``runner.run_checks``), rendered by ``report`` (table, JSON, JUnit, audit report, Prometheus) and
by the dashboard screen. See docs/verification.md.
"""
