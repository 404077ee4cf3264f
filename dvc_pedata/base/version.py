"""pedata's own version: recorded in warm-cache memos and in the TROs it emits."""

__version__ = "0.1.0"
