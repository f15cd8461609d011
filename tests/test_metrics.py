import pytest

from slimkit.metrics import classification_metrics


def test_binary_f1_is_the_positive_class():
    labels = [1, 1, 1, 0, 0, 0]
    predictions = [1, 1, 0, 0, 0, 1]
    m = classification_metrics(labels, predictions, ["neg", "pos"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["f1"] == pytest.approx(2 / 3)  # precision 2/3, recall 2/3
    assert m["confusion_matrix"] == [[2, 1], [1, 2]]
    assert m["per_class"]["pos"]["support"] == 3


def test_three_labels_use_macro_f1():
    labels = [0, 1, 2, 2]
    predictions = [0, 1, 2, 0]
    m = classification_metrics(labels, predictions, ["a", "b", "c"])
    # per-class F1: a = 2/3, b = 1, c = 2/3
    assert m["f1"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    assert m["f1_average"] == "macro"
    assert m["confusion_matrix"][2] == [1, 0, 1]
