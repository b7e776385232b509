"""Bad configs and bad CSVs give messages naming the field (or line) and the bound."""
import json

import pytest

from models.config import ConfigError, RunConfig, knob_schema, parse_config
from models.samples import MAX_ROWS, SamplesError, parse_samples


@pytest.mark.parametrize("raw, field, bound", [
    ({"nr": 5000}, "nr", "1000"),
    ({"nr": 0.01}, "nr", "0.1"),
    ({"hidden": 1000}, "hidden", "256"),
    ({"batch_size": 2}, "batch_size", "8"),
    ({"lr": 0}, "lr", "greater than 0"),
    ({"method": "gan"}, "method", "'nce'"),
    ({"data": "moons"}, "data", "two_moons"),
    ({"k": "many"}, "k", "integer"),
    ({"bogus": 1}, "bogus", "unknown knob"),
    ({"data": "custom"}, "data_file", "required"),
])
def test_bad_config_names_field_and_bound(raw, field, bound):
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    message = str(error.value)
    assert message.startswith(f"{field}:") and bound in message


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        parse_config({"nr": -1, "k": 0})
    assert len(error.value.errors) == 2


def test_config_must_be_an_object():
    with pytest.raises(ConfigError, match="object"):
        parse_config([1, 2])
    with pytest.raises(ConfigError, match="object"):
        RunConfig().patched("nr=3")


def test_schema_has_bounds_and_defaults_for_every_knob():
    schema = knob_schema()
    assert set(schema) == set(RunConfig.model_fields)
    assert schema["nr"]["minimum"] == 0.1 and schema["nr"]["maximum"] == 1000.0 and schema["nr"]["default"] == 10.0
    assert "two_moons" in schema["data"]["enum"] and schema["data_file"]["nullable"]
    assert all(spec.get("description") for spec in schema.values())


NUMERIC_KNOBS = [name for name, spec in knob_schema().items() if spec["type"] in ("integer", "number")]
SWITCHES = [name for name, spec in knob_schema().items() if spec["type"] == "boolean"]


def test_the_knob_lists_cover_the_schema():
    assert {"nr", "lr", "hidden", "k", "steps", "sample_size", "seed", "grid"} <= set(NUMERIC_KNOBS)
    assert set(SWITCHES) == {"noise_fit", "learn_log_z", "lr_decay"}


@pytest.mark.parametrize("name", NUMERIC_KNOBS)
@pytest.mark.parametrize("bad", ["10", True, False, "1e2", None, [3], {"v": 3}])
def test_every_numeric_knob_refuses_text_booleans_and_the_rest_by_name(name, bad):
    default = RunConfig.model_fields[name].default
    if bad is None and default is None:  # sample_size: null means "fresh draws", a valid choice
        assert parse_config({name: None}).sample_size is None
        return
    kind = "an integer" if knob_schema()[name]["type"] == "integer" else "a number"
    with pytest.raises(ConfigError) as error:
        parse_config({name: bad})
    got = "" if isinstance(bad, dict) else f" (got {bad!r})"  # an object is never quoted back
    assert error.value.errors == [f"{name}: must be {kind}{got}"]


@pytest.mark.parametrize("name", [n for n in NUMERIC_KNOBS if knob_schema()[n]["type"] == "integer"])
def test_an_integer_knob_refuses_a_float_even_a_whole_one(name):
    value = float(RunConfig.model_fields[name].default or 16)  # 64.0: JSON from the page sends 64
    with pytest.raises(ConfigError, match=rf"^{name}: must be an integer \(got {value!r}\)$"):
        parse_config({name: value})


@pytest.mark.parametrize("name", [n for n in NUMERIC_KNOBS if knob_schema()[n]["type"] == "number"])
def test_a_json_int_stays_valid_for_a_float_knob(name):
    spec = knob_schema()[name]
    value = next(v for v in range(-20, 1001) if spec.get("minimum", -1e9) <= v <= spec.get("maximum", 1e9)
                 and v > spec.get("exclusiveMinimum", -1e9))  # the first int within the knob's bounds
    parsed = getattr(parse_config({name: value}), name)
    assert parsed == value and type(parsed) is float


@pytest.mark.parametrize("name", SWITCHES)
@pytest.mark.parametrize("bad", [1, 0, "true", "false", None])
def test_a_switch_takes_only_json_booleans(name, bad):
    with pytest.raises(ConfigError) as error:
        parse_config({name: bad})
    assert error.value.errors == [f"{name}: must be true or false (got {bad!r})"]
    assert getattr(parse_config({name: False}), name) is False


def test_a_live_patch_is_as_strict_as_a_start():
    with pytest.raises(ConfigError, match=r"^nr: must be a number \(got '3'\)$"):
        RunConfig().patched({"nr": "3"})
    assert RunConfig().patched({"nr": 3}).nr == 3.0


def test_a_config_file_is_read_as_json_and_as_strictly():
    # the CLI's `run --config` path: json.loads, then parse_config
    with pytest.raises(ConfigError) as error:
        parse_config(json.loads('{"nr": "10", "hidden": 64.0, "lr_decay": 1, "steps": 5}'))
    assert sorted(error.value.errors) == ["hidden: must be an integer (got 64.0)",
                                          "lr_decay: must be true or false (got 1)", "nr: must be a number (got '10')"]
    assert parse_config(json.loads('{"nr": 10, "lr": 1, "hidden": 64}')).nr == 10.0


def _csv(rows):
    return "\n".join(",".join(str(v) for v in row) for row in rows) + "\n"


def test_good_csv_with_header_parses():
    text = "x,y\n" + _csv([(i * 0.1, (i % 7) * 0.3) for i in range(30)])
    samples = parse_samples(text)
    assert samples.shape == (30, 2) and samples[3, 0].item() == pytest.approx(0.3)


@pytest.mark.parametrize("text, message", [
    ("x\n" + _csv([(i,) for i in range(25)]) + "abc\n", "line 27: 'abc' is not a number"),
    (_csv([(i, i) for i in range(5)]) + "1,nan\n" + _csv([(i, -i) for i in range(20)]), "line 6: NaN or infinite"),
    (_csv([(i, i) for i in range(5)]) + "1,inf\n", "line 6: NaN or infinite"),
    (_csv([(i, i, i) for i in range(25)]), "line 1: 3 columns"),
    (_csv([(i, i) for i in range(5)]) + "1\n", "line 6: 1 columns, expected 2"),
    (_csv([(i,) for i in range(5)]), "only 5 data rows"),
    (_csv([(1.0,) for _ in range(50)]), "no spread"),
])
def test_bad_csv_names_the_line(text, message):
    with pytest.raises(SamplesError, match=message.replace("(", r"\(")):
        parse_samples(text)


def test_csv_row_cap():
    with pytest.raises(SamplesError, match=f"more than {100}"):
        parse_samples(_csv([(i,) for i in range(150)]), max_rows=100)
    assert MAX_ROWS >= 10_000
