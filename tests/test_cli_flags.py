"""`slimkit bench` and `slimkit compare` flags come from the pydantic settings: a new field is a
new flag with no second edit, and a flag's value is validated by the model like the YAML block."""

from __future__ import annotations

import pytest
from pydantic import Field

from slimkit.cli import _parser
from slimkit.cli_flags import add_model_flags, model_flags
from slimkit.settings import BenchmarkConfig, Tolerances, _Strict


def test_every_setting_is_a_flag_of_its_command():
    bench = _parser().parse_args(["bench", "runs/x", "--batch-sizes", "1", "8", "--pick-batch", "8",
                                  "--min-seconds", "0.5", "--backends", "openvino", "--peers", "p"])
    given = model_flags(bench, BenchmarkConfig)
    assert given == {"batch_sizes": [1, 8], "pick_batch": 8, "min_seconds": 0.5,
                     "backends": ["openvino"], "peers": ["p"]}
    assert BenchmarkConfig(**given).pick_shape == (8, 64)
    compare = _parser().parse_args(["compare", "new", "old", "--latency-shape", "0.2", "--size", "0.1"])
    assert model_flags(compare, Tolerances) == {"latency_shape": 0.2, "size": 0.1}
    for field in BenchmarkConfig.model_fields:
        if field != "publish":  # where the recipe copies its report, not a measurement setting
            assert hasattr(bench, field), field
    assert all(hasattr(compare, field) for field in Tolerances.model_fields)


def test_a_new_field_is_a_new_flag_with_its_type_and_help():
    import argparse

    class Settings(_Strict):
        warm_calls: int = Field(3, description="untimed calls")
        shapes: list[int] | None = None

    parser = argparse.ArgumentParser()
    add_model_flags(parser, Settings)
    args = parser.parse_args(["--warm-calls", "7", "--shapes", "1", "2"])
    assert model_flags(args, Settings) == {"warm_calls": 7, "shapes": [1, 2]}
    assert "untimed calls (default 3)" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["--warm-calls", "x"])


def test_a_bad_flag_value_fails_in_the_recipe_line_format(capsys):
    from slimkit.cli import main

    assert main(["bench", "runs/nowhere", "--metric", "speed"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: slimkit bench: metric: input should be 'accuracy' or 'f1', got 'speed' "
                   "(use one of the listed values)\n")
