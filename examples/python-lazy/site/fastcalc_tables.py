"""fastcalc's weights: loaded by its C extension, named in no Python source."""
WEIGHTS = (1.0, 2.0, 0.5)
