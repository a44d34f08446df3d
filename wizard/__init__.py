"""stackseal core: answers (plan), rendering, provisioning steps, verification.

This package never imports Textual; the TUI lives in ``screens/``. A test enforces it.
"""

__version__ = "0.1.0"
