def fmt(exc):
    return "%s: %s" % (type(exc).__name__, exc)
