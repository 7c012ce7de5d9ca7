"""What the tools count as a number in the JSON that DVC and the stages write (`dvc exp show
--json`, metrics files): one that arithmetic on it means something."""

import math


def is_number(value: object) -> bool:
    """A JSON number that is not NaN (json reads NaN; a bool is an int to Python)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
