"""The Textual wizard (``stackseal`` / ``stackseal wizard``).

Why a package apart from ``wizard/``: the core must work (and import fast) without Textual; the
screens only render :mod:`wizard.questions`, :mod:`wizard.detect` and :mod:`wizard.review` and
hold no domain logic. ``app.py`` wires the flow; each screen is one small module.
"""
