"""RunConfig: the one typed, bounded config. The CLI file, the socket's start/set messages, the URL
hash, /api/schema and RESULT.json all use these names and these bounds.

Each default carries the reason it was chosen.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .data import CUSTOM, DATA_PRESETS
from .energy import MODEL_KINDS
from .fixed_sample import MAX_FIXED_NOISE
from .methods import METHODS
from .noise import NOISE_FAMILIES

MethodName = Literal[tuple(METHODS)]  # type: ignore[valid-type]
DataName = Literal[tuple([*DATA_PRESETS, CUSTOM])]  # type: ignore[valid-type]
NoiseName = Literal[tuple(NOISE_FAMILIES)]  # type: ignore[valid-type]
ModelName = Literal[tuple(MODEL_KINDS)]  # type: ignore[valid-type]
DeviceName = Literal["auto", "cpu", "cuda", "mps"]


class RunConfig(BaseModel):
    # strict: a number is a JSON number and a switch a JSON boolean. "10", true, 1 for a switch and 64.0
    # for an integer knob are refused by name, not read as 10, 1, true and 64 (the page and the URL hash
    # send typed values; a JSON int stays valid for a float knob)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    method: MethodName = Field("nce", description="Objective. NCE is the point of the lab.")
    data: DataName = Field("bimodal", description="Data preset, or 'custom' for uploaded samples. "
                                                  "Bimodal: 1-D, fast, and not Gaussian.")
    data_file: Optional[str] = Field(None, max_length=4096,
                                     description="CSV of 1 or 2 numeric columns (CLI path, or a web upload handle). "
                                                 "Only read when data is 'custom'.")
    model: ModelName = Field("mlp", description="Energy network: the seed's MLP, or a Gaussian for closed-form checks.")
    hidden: int = Field(64, ge=4, le=256, description="Hidden width: 64 fits every preset and trains fast on a CPU.")
    depth: int = Field(2, ge=1, le=4, description="Hidden layers: two are enough for rings and spirals.")
    noise: NoiseName = Field("gaussian", description="Noise family q. A Gaussian fitted to the data is the classic choice.")
    noise_fit: bool = Field(True, description="Fit q's mean and (co)variance to the data; "
                                              "off: use noise_loc and noise_scale.")
    noise_loc: float = Field(0.0, ge=-20.0, le=20.0, description="Centre of q on every axis (when noise_fit is off).")
    noise_scale: float = Field(1.0, ge=0.05, le=50.0,
                               description="Standard deviation of q on every axis (when noise_fit is off).")
    learn_log_z: bool = Field(True, description="Learn log Z as a free parameter (NCE's c). Off: held at 0, "
                                                "the seed's Z = 1 self-normalisation.")
    nr: float = Field(10.0, ge=0.1, le=1000.0, description="N_r = noise samples per data sample. 10 is well into "
                                                            "the regime where NCE tracks MLE.")
    k: int = Field(16, ge=1, le=1024, description="InfoNCE negatives per positive.")
    mi: float = Field(1.0, ge=0.0, le=6.0, description="CPC: true mutual information of the pairs, in nats; "
                                                       "1 nat sits well under the log(batch) cap.")
    batch_size: int = Field(256, ge=8, le=4096, description="Data samples per step; log(256) = 5.5 nats is the CPC cap.")
    lr: float = Field(1e-2, gt=0.0, le=10.0, description="Adam learning rate: 1e-2 with the decay learns every "
                                                       "preset in a few thousand steps and stays stable.")
    lr_decay: bool = Field(True, description="Cosine-decay the learning rate to 5% over `steps`, so a fixed-length "
                                             "run ends with its most accurate numbers.")
    ema_decay: float = Field(0.95, ge=0.0, le=0.999,
                             description="Frames and results show a moving average of θ over about 1/(1 − ema_decay) "
                                         "steps (Polyak averaging; training never reads it). Adam's step noise made "
                                         "log Z jitter 0.03–0.06 per 10 steps on bimodal NCE; 0.95 cuts that ~10× and "
                                         "lags by ~20 steps. A live change restarts the average. 0 shows θ itself.")
    steps: int = Field(3000, ge=1, le=1_000_000, description="Length of the run; 3000 steps learn Z to 0.05 on bimodal.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds the model, the data and the noise draws.")
    sample_size: Optional[int] = Field(None, ge=16, le=100_000,
                                       description="T_d: null draws fresh data and noise every step (the population "
                                                   "loss); a number fits T_d data points and round(nr·T_d) noise "
                                                   "points (InfoNCE: k per data point) drawn once per seed, the "
                                                   "finite-sample setting where N_r changes the estimate.")
    grid: int = Field(128, ge=16, le=512, description="Quadrature cells per axis. At 128 every preset integrates to 1 "
                                                      "within 1e-3 (Laplace's cusp; 1e-5 for the smooth ones).")
    device: DeviceName = Field("auto", description="auto: CUDA, then MPS, then CPU.")

    @model_validator(mode="after")
    def _custom_needs_file(self) -> "RunConfig":
        if self.data == CUSTOM and not self.data_file:
            raise ValueError("data_file: required when data is 'custom' (a CSV path or an upload handle)")
        if self.sample_size is not None:
            method = METHODS[self.method]
            needed = method.fixed_noise_count(self.sample_size, self.nr, self.k)
            if needed > MAX_FIXED_NOISE:
                what = method.fixed_noise_knob
                raise ValueError(f"sample_size: with {what} = {getattr(self, what):g} a fixed sample needs {needed:,} "
                                 f"noise points; the limit is {MAX_FIXED_NOISE:,} (lower sample_size or {what})")
        return self

    @property
    def dim(self) -> Optional[int]:
        """Dimension of the data, or None for custom data (known once the CSV is read)."""
        data = METHODS[self.method].data_preset or self.data  # CPC's pairs, whatever `data` says
        return DATA_PRESETS[data].dim if data in DATA_PRESETS else None

    def patched(self, patch: Any) -> "RunConfig":
        """A new config with `patch` applied, validated as a whole; raises ConfigError, changes nothing."""
        if not isinstance(patch, dict):
            raise ConfigError(["config: must be an object of knob names to values"])
        return parse_config({**self.model_dump(), **patch})


class ConfigError(ValueError):
    """A rejected config: one message per problem, each naming the field and the bound."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


QUOTE_CHARS = 80     # the most of a client's value an error message repeats
NAMED_UNKNOWN = 5    # unknown knobs named in an error; the others are counted
PROBLEM_CHARS = 400  # the longest single problem message (pydantic's own texts are far shorter)
MAX_PROBLEMS = 24    # problems listed one by one (RunConfig has 22 knobs); a list knob can fail per item
TYPE_MESSAGES = {    # strict type errors, said the way the page and the CLI file write values
    "int_type": "must be an integer", "float_type": "must be a number", "bool_type": "must be true or false",
    "string_type": "must be a string",
}


def quoted(value: Any, limit: int = QUOTE_CHARS) -> str:
    """repr(value) cut to `limit` characters, saying how long it was: an error message quotes what
    was sent without echoing a 100 KB value back (reply size stays bounded, whatever the input)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def describe(error: ValidationError, model: type[BaseModel] | None = None) -> list[str]:
    """One message per problem of a failed validation of `model` (default RunConfig), each naming its
    field; all unknown knobs share one message that names NAMED_UNKNOWN of them and counts the rest,
    and past MAX_PROBLEMS the others are counted: a few KB at most, whatever a client sends."""
    model = model or RunConfig
    messages, unknown = [], []
    for item in error.errors():
        field = _field_name(item["loc"])
        if item["type"] == "extra_forbidden":
            unknown.append(field)
            continue
        message = TYPE_MESSAGES.get(item["type"]) or item["msg"].removeprefix("Value error, ")[:PROBLEM_CHARS]
        named = message.split(":", 1)[0]
        if named in model.model_fields or named in RunConfig.model_fields:  # validators that name their field
            messages.append(message)
            continue
        got = item.get("input")
        suffix = f" (got {quoted(got)})" if not isinstance(got, dict) else ""
        messages.append(f"{field}: {message}{suffix}")
    if unknown:
        names = ", ".join(unknown[:NAMED_UNKNOWN])
        more = f" and {len(unknown) - NAMED_UNKNOWN:,} more" if len(unknown) > NAMED_UNKNOWN else ""
        noun = "unknown knob" if len(unknown) == 1 else f"{len(unknown):,} unknown knobs"
        messages.append(f"{names}{more}: {noun} (known: {', '.join(model.model_fields)})")
    if len(messages) > MAX_PROBLEMS:
        messages = messages[:MAX_PROBLEMS - 1] + [f"and {len(messages) - MAX_PROBLEMS + 1:,} more problems"]
    return messages


def _field_name(loc: tuple) -> str:
    """'nr', 'nr.0'; a client's own key is cut to 40 characters."""
    name = ".".join(str(part) for part in loc) or "config"
    return name if len(name) <= 40 else name[:37] + "..."


def parse_config(raw: Any) -> RunConfig:
    """Validate a JSON-like mapping into a RunConfig; raises ConfigError naming every bad field."""
    if not isinstance(raw, dict):
        raise ConfigError(["config: must be an object of knob names to values"])
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(describe(error)) from None


def knob_schema() -> dict[str, dict[str, Any]]:
    """Every knob with its type, default, bounds or choices and description (for /api/schema and the page)."""
    schema = RunConfig.model_json_schema()
    knobs: dict[str, dict[str, Any]] = {}
    for name, spec in schema["properties"].items():
        spec = dict(spec)
        if "anyOf" in spec:  # Optional[...] -> the non-null branch
            branch = next(b for b in spec.pop("anyOf") if b.get("type") != "null")
            spec.update(branch)
            spec["nullable"] = True
        spec.pop("title", None)
        knobs[name] = spec
    return knobs
