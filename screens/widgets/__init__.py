"""Reusable widgets of the wizard (question fields, detected facts, messages)."""
