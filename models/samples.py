"""Custom data: samples read from CSV text (1 or 2 numeric columns), checked line by line."""
from __future__ import annotations

import csv
import io
import math

import torch

MIN_ROWS = 20       # fewer points make a kernel density estimate meaningless
MAX_ROWS = 100_000  # the KDE costs O(rows) per grid cell; this keeps a frame under a second


class SamplesError(ValueError):
    """A rejected CSV; the message names the line."""


def parse_samples(text: str, max_rows: int = MAX_ROWS) -> torch.Tensor:
    """(n, d) float64 from CSV text. A first line that is not numeric is taken as a header.
    Rejects non-numeric cells, NaN/inf, a column count other than 1 or 2 (or one that changes),
    fewer than MIN_ROWS rows or more than max_rows."""
    rows: list[list[float]] = []
    width = None
    # one line ending for the csv module (a lone \r would be an error of its own)
    reader = csv.reader(io.StringIO(text.replace("\r\n", "\n").replace("\r", "\n")))
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:  # e.g. a field over the csv module's size limit
            raise SamplesError(f"line {reader.line_num}: unreadable CSV ({error})") from None
        line_no = reader.line_num
        if not cells or all(not c.strip() for c in cells):
            continue
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if line_no == 1 and not rows:
                continue  # header
            bad = next(c for c in cells if not _is_float(c))
            raise SamplesError(f"line {line_no}: {bad.strip()!r} is not a number") from None
        if not all(math.isfinite(v) for v in values):
            raise SamplesError(f"line {line_no}: NaN or infinite value")
        if width is None:
            if len(values) not in (1, 2):
                raise SamplesError(f"line {line_no}: {len(values)} columns; the data must have 1 or 2")
            width = len(values)
        elif len(values) != width:
            raise SamplesError(f"line {line_no}: {len(values)} columns, expected {width} like the lines above")
        rows.append(values)
        if len(rows) > max_rows:
            raise SamplesError(f"line {line_no}: more than {max_rows} rows (the limit)")
    if len(rows) < MIN_ROWS:
        raise SamplesError(f"only {len(rows)} data rows; at least {MIN_ROWS} are needed")
    samples = torch.tensor(rows, dtype=torch.float64)
    if (samples.std(0) < 1e-9).any():
        raise SamplesError("a column has (almost) no spread: every value is the same")
    return samples


def _is_float(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False
