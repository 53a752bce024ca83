"""Array-built text cells against Python's own formatting, cell by cell."""
from __future__ import annotations

import numpy as np
import pytest

from vib.io.text_columns import float_cells, join_cells, key_cells


def texts(cells: np.ndarray) -> list[str]:
    return [row[row != 0].tobytes().decode() for row in cells]


def awkward_values() -> np.ndarray:
    """Zeros, powers of ten and their neighbours, rounding ties, the %g notation boundaries."""
    tens = 10.0 ** np.arange(-12, 13)
    edges = np.concatenate([tens, np.nextafter(tens, 0), np.nextafter(tens, np.inf), tens * 0.99999995,
                            tens * 0.999999949, 9999999.5 * tens / 1e6, 1234567.5 * tens / 1e6])
    specials = [0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, 1234567.5, 1234568.5, 0.0001, 0.00009999999, 1e-5,
                9999999.0, 10000000.0, 99999995.0, 1e100, -1e-100, 1e-99, 1.7976931348623157e308, 5e-324, 1e-308,
                0.1 + 0.2, float(np.float32(0.1)), np.inf, -np.inf, np.nan]
    return np.concatenate([edges, -edges, specials])


def test_float_cells_equal_python_format():
    rng = np.random.default_rng(0)
    values = np.concatenate([
        awkward_values(),
        rng.standard_normal(100_000) * 10.0 ** rng.integers(-120, 120, 100_000),
        rng.standard_normal(100_000).astype(np.float32) * 30,  # scores as the tools write them
        np.round(rng.standard_normal(10_000), 3),  # short decimals: trailing zeros dropped
        rng.integers(-10 ** 9, 10 ** 9, 10_000).astype(np.float64),
    ])
    assert texts(float_cells(values)) == ["%.7g" % v for v in values.tolist()]


def test_key_cells_and_joined_lines():
    keys = ["a", "spk1-utt2", "é-unicode", "id10270/5r0dWxy17C8/00001.wav"]
    assert texts(key_cells(keys)) == keys and texts(key_cells(keys[:2])) == keys[:2]
    cells = key_cells(keys)
    text = join_cells([cells, cells[::-1], float_cells(np.array([1.5, -2, 3e-7, 0]))])
    assert text.decode() == ("a id10270/5r0dWxy17C8/00001.wav 1.5\nspk1-utt2 é-unicode -2\n"
                             "é-unicode spk1-utt2 3e-07\nid10270/5r0dWxy17C8/00001.wav a 0\n")
    assert join_cells([key_cells([]), float_cells(np.array([]))]) == b""
