"""Counter series in generated promtool tests never step down where promtool's expansion drifts."""

import itertools
from fractions import Fraction

import pytest

from compiler.targets.promtool.testfiles import encode


def expand(notation: str) -> list[float]:
    """promtool 2.x's expansion of 'a+bxn' runs: a, then b added n times in float64."""
    values = []
    for run in notation.split():
        start, _, rest = run.partition("+")
        step, _, count = rest.partition("x")
        value = float(start)
        values.append(value)
        for _ in range(int(count)):
            value += float(step)
            values.append(value)
    return values


@pytest.mark.parametrize("per_minute", ["15.84", "6.16", "1.584", "73.92", "0.1"])
def test_counter_runs_never_step_down(per_minute):
    runs = [
        (Fraction(0), 60),
        (Fraction(per_minute), 59),
        (Fraction(0), 7),
        (Fraction(per_minute), 30),
    ]
    values, total = [Fraction(0)], Fraction(0)
    for inc, n in runs:
        for _ in range(n):
            total += inc
            values.append(total)
    expanded = expand(encode(runs))
    assert len(expanded) == len(values)
    assert all(later >= earlier for earlier, later in itertools.pairwise(expanded)), (
        "a step down is a counter reset to rate()"
    )
    assert all(
        abs(got - float(exact)) <= 1e-9 * max(1.0, float(exact))
        for got, exact in zip(expanded, values)
    )


def test_the_drift_is_real():
    """Why the guard exists: 15.84 added 59 times is not 934.56 in float64."""
    total = 15.84
    for _ in range(58):
        total += 15.84
    assert total > 934.56
