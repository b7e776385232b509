"""Custom data: samples read from CSV text (1 or 2 numeric columns), checked line by line."""
from __future__ import annotations

import csv
import io
import math

import torch

from .config import quoted

MIN_ROWS = 20       # fewer points make a kernel density estimate meaningless
MAX_ROWS = 100_000  # the KDE costs O(rows) per grid cell; this keeps a frame under a second
# The trainer draws its batches in float32 (max 3.4e38). With |x| <= 1e15 every square is <= 1e30, so the
# data's mean, variance and second moments stay finite in float32 for up to 1e8 rows, in any summation
# order; past it (e.g. data near 1e150 or 1e308) they overflow and no learning rate can train.
MAX_ABS_VALUE = 1e15
SCALE_LIMIT = f"{MAX_ABS_VALUE:.0e}".replace("+", "")  # '1e15'


class SamplesError(ValueError):
    """A rejected CSV; the message names the line."""


def parse_samples(text: str, max_rows: int = MAX_ROWS) -> torch.Tensor:
    """(n, d) float64 from CSV text. A first line that is not numeric is taken as a header.
    Rejects non-numeric cells, NaN/inf, values beyond ±MAX_ABS_VALUE, a column count other than 1 or 2
    (or one that changes), fewer than MIN_ROWS rows or more than max_rows. A message names the line
    where the offending row starts (where an unclosed quote opens) and quotes at most ~80 characters."""
    rows: list[list[float]] = []
    width = None
    # one line ending for the csv module (a lone \r would be an error of its own)
    reader = csv.reader(io.StringIO(text.replace("\r\n", "\n").replace("\r", "\n")))
    while True:
        line_no = reader.line_num + 1  # where the next row starts; a quoted cell may run over several lines
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:  # e.g. a field over the csv module's size limit
            raise SamplesError(f"line {line_no}: unreadable CSV ({error}: a very long cell, or a quote "
                               f"that opens here and never closes)") from None
        if not cells or all(not c.strip() for c in cells):
            continue
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if line_no == 1 and not rows:
                continue  # header
            raise SamplesError(_not_a_number(line_no, reader.line_num, cells)) from None
        if not all(math.isfinite(v) for v in values):
            raise SamplesError(f"line {line_no}: NaN or infinite value")
        for column, value in enumerate(values, 1):
            if abs(value) > MAX_ABS_VALUE:
                raise SamplesError(f"line {line_no}, column {column}: {quoted(cells[column - 1].strip())} is "
                                   f"beyond the scale limit |x| <= {SCALE_LIMIT}: the trainer works in "
                                   f"float32, where the data's mean and variance would overflow; rescale "
                                   f"the column")
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


def _not_a_number(first_line: int, last_line: int, cells: list[str]) -> str:
    bad = next(c for c in cells if not _is_float(c))
    if "\n" in bad:  # a quoted cell that swallowed line ends
        return (f"line {first_line}: a quoted cell runs from here to line {last_line} (an unclosed quote?): "
                f"{quoted(bad.strip())}")
    return f"line {first_line}: {quoted(bad.strip())} is not a number"


def _is_float(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False
