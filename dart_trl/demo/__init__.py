"""The CPU demo (``dart-trl demo``) and its helpers: tiny local models and a synthetic arithmetic pool."""
