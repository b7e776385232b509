"""Bad configs and bad CSVs give messages naming the field (or line) and the bound."""
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
