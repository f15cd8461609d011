import math

import numpy as np
import pytest

from slimkit.parity import AgreementError, ShapeError, ToleranceError, check_parity


def test_parity_passes_within_tolerance_and_reports_numbers():
    reference = np.array([[0.1, 0.9], [0.8, 0.2]])
    parity = check_parity(reference, reference + 1e-4, atol=1e-3)
    assert parity.rows == 2 and parity.argmax_agreement == 1.0
    assert math.isclose(parity.max_abs_diff, 1e-4, rel_tol=1e-6)


@pytest.mark.parametrize("exported, error", [
    (np.array([[0.1, 0.9]]), ShapeError),
    (np.array([[0.1, 0.95], [0.8, 0.2]]), ToleranceError),
    (np.array([[0.1, np.nan], [0.8, 0.2]]), ToleranceError),
])
def test_parity_raises_typed_errors(exported, error):
    with pytest.raises(error):
        check_parity(np.array([[0.1, 0.9], [0.8, 0.2]]), exported, atol=1e-3)


def test_agreement_below_threshold_fails_even_within_a_loose_tolerance():
    reference = np.array([[0.4, 0.6], [0.8, 0.2]])
    flipped = np.array([[0.6, 0.4], [0.8, 0.2]])
    with pytest.raises(AgreementError, match="50.0%"):
        check_parity(reference, flipped, atol=1.0, min_agreement=0.99)
