"""Renders an error in the style the environment names; the style module is found by name."""
import importlib
import os

_style = importlib.import_module(__package__ + ".styles_" + os.environ.get("ERRKIT_STYLE", "plain"))


def render(exc):
    return _style.fmt(exc)
