"""Known-answer vectors typed in from the standards, and the small loader that reads them.

The files use the layout of NIST's .rsp files: ``[section]`` headers, ``name = value`` lines,
records separated by blank lines, ``#`` comments.  Values stay strings; ``hexbytes`` turns
one into bytes (an empty value is the empty string).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_vectors(filename: str) -> list[dict[str, str]]:
    """Records of one vector file; each carries its ``section``.  A key repeated within a
    record starts a new record (so a list of single values needs no blank lines)."""
    records: list[dict[str, str]] = []
    section = ""
    current: dict[str, str] = {}

    def flush() -> None:
        nonlocal current
        if current:
            records.append({"section": section, **current})
        current = {}

    for lineno, raw in enumerate((HERE / filename).read_text().splitlines(), 1):
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("#"):
            continue
        elif line.startswith("[") and line.endswith("]"):
            flush()
            section = line[1:-1]
        elif "=" in line:
            key, _, value = line.partition("=")
            key = key.strip()
            if key in current:
                flush()
            current[key] = value.strip()
        else:
            raise ValueError(f"{filename}:{lineno}: cannot parse {raw!r}")
    flush()
    if not records:
        raise ValueError(f"{filename} holds no vectors")
    return records


def hexbytes(value: str) -> bytes:
    return bytes.fromhex(value)
