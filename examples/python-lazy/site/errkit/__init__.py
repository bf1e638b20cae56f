"""Error descriptions for people. The renderer loads only when an error is described."""


def describe(exc):
    from . import render

    return render.render(exc)
