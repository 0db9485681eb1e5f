"""What the tests and the benchmarks share: real processes on loopback ports, one way to wait,
raw Socket.IO peers, widget look-ups, a browser, and the published test vectors.

Only helpers live here; fixtures live in the conftest.py files, tests in test_*.py files.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]   # the repository
