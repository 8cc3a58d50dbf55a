"""Shared test set-up: every test imports the package (registers modules, applies compat)."""
import mmtad_ext  # noqa: F401
