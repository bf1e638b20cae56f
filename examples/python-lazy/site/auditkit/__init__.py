"""An audit trail's pieces, named in logging configuration rather than imported."""
