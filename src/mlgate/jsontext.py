"""JSON text read strictly, for values that will be stored: what JSON cannot hold is refused.

Python's ``json`` reads ``NaN`` and ``Infinity`` (JSON has neither: PostgreSQL refuses them and
SQLite stores null in their place), reads ``1e999`` as infinity, and raises a bare ValueError
for an integer longer than ``sys.get_int_max_str_digits()``. Each is an ``Invalid`` naming
``field`` here, as is text that is not JSON or is nested too deeply to parse.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from mlgate.errors import Invalid

__all__ = ["load_json"]


def load_json(text: str, field: str) -> Any:
    def not_a_number(constant: str) -> float:
        raise Invalid.field(field, f"holds {constant}, which is not a JSON number")

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):
            raise Invalid.field(field, f"holds {number}, a number too large for a double")
        return value

    try:
        return json.loads(text, parse_constant=not_a_number, parse_float=finite)
    except json.JSONDecodeError as error:
        raise Invalid.field(field, f"is not valid JSON: {error.msg}") from error
    except RecursionError as error:
        raise Invalid.field(field, "is nested deeper than can be read") from error
    except ValueError as error:  # Python converts integers of at most this many digits
        raise Invalid.field(
            field, f"holds an integer longer than {sys.get_int_max_str_digits()} digits"
        ) from error
