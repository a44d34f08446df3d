"""Tiny app factories for snap_compare: the wizard at a given screen, with fixed facts."""
