"""`nce-playground run`: RESULT.json has docs/design.md §3's keys and shows Z learned by NCE."""
import json
import subprocess
import sys

import pytest

HISTORY_KEYS = {"step", "loss", "log_z_est", "log_z_true", "kl", "grad_cos", "grad_norm_ratio", "mi_estimate", "mi_true"}


def _main(tmp_path, capsys, config: dict, command: str = "run", *extra) -> tuple[int, str, object]:
    """server.cli.main in this process (`python -m server.cli` is `sys.exit(main())`, and the first test
    below goes through it): the exit code, stderr and the --out path, without a 4-7 s start per call."""
    from server.cli import main
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(config))
    out = tmp_path / "out.json"
    capsys.readouterr()
    code = main([command, "--config", str(cfg), "--out", str(out), *extra])
    return code, capsys.readouterr().err, out


def _run(tmp_path, config: dict, *extra):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(config))
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, "-m", "server.cli", "run", "--config", str(cfg), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=240)
    return proc, out


def test_run_writes_result_json_with_z_learned(tmp_path):
    """600 steps (the lr decays over them) take bimodal NCE from |log Ẑ − log Z| ≈ 1.6 to ≤ 0.006 and
    KL ≤ 0.003 (seeds 0–2, measured with models.trainer.Trainer): well inside the bounds below."""
    proc, out = _run(tmp_path, {"method": "nce", "data": "bimodal", "steps": 600, "grid": 128})
    assert proc.returncode == 0, proc.stderr
    assert "600/600 steps" in proc.stderr  # the progress bar
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["steps_per_s"] > 0
    assert result["config"]["nr"] == 10.0 and result["config"]["steps"] == 600  # the effective config
    history = result["history"]
    assert set(history[0]) == HISTORY_KEYS
    assert history[0]["step"] == 0 and history[-1]["step"] == 600
    assert [row["step"] for row in history] == sorted({row["step"] for row in history})
    assert history[0]["mi_estimate"] is None and history[0]["log_z_est"] == 0.0
    final = result["final"]
    assert abs(final["log_z_est"] - final["log_z_true"]) < 0.05 and final["kl"] < 0.02
    assert len(final["grid"]["axes"]) == 1 and len(final["grid"]["log_p"]) == 128
    grad = final["grad"]
    assert grad["nr"][0] == pytest.approx(0.1) and grad["nr"][-1] == pytest.approx(1000.0)
    assert len(grad["cos"]) == len(grad["nr"]) == len(grad["norm_ratio"])
    assert grad["cos"][-1] > grad["cos"][0]


def test_run_on_a_custom_csv_2d(tmp_path, capsys):
    import torch
    xs = torch.randn(300, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 0.5])
    (tmp_path / "points.csv").write_text("x,y\n" + "\n".join(f"{a:.5f},{b:.5f}" for a, b in xs.tolist()))
    # 10 steps: what is checked is the 2-D custom-data path, not the fit
    code, stderr, out = _main(tmp_path, capsys, {"method": "mle", "data": "custom", "data_file": "points.csv",
                                                 "steps": 10, "grid": 32}, "run", "--quiet")
    assert code == 0, stderr
    assert "10/10 steps" not in stderr  # --quiet: no progress bar
    result = json.loads(out.read_text())
    assert result["p_d"] == "kde" and len(result["final"]["grid"]["axes"]) == 2
    assert len(result["final"]["grid"]["log_p"]) == 32 * 32  # row-major flat


def test_bad_config_exits_2_naming_the_field(tmp_path, capsys):
    code, stderr, out = _main(tmp_path, capsys, {"nr": 5000, "steps": 10})
    assert code == 2 and not out.exists()
    assert "nr: Input should be less than or equal to 1000" in stderr


def test_bad_csv_exits_2_naming_the_line(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("x\n" + "\n".join(str(i) for i in range(30)) + "\noops\n")
    code, stderr, out = _main(tmp_path, capsys, {"data": "custom", "data_file": "bad.csv", "steps": 10})
    assert code == 2 and "line 32: 'oops' is not a number" in stderr and not out.exists()


def test_sweep_writes_sweep_result_json(tmp_path, capsys):
    code, stderr, out = _main(tmp_path, capsys, {"experiment": "efficiency", "reps": 30, "sample_size": 200,
                                                 "nr": [1, 5], "noises": [{"noise": "data"}]}, "sweep")
    assert code == 0, stderr
    assert "60/60 models" in stderr  # the progress bar
    result = json.loads(out.read_text())
    assert set(result) >= {"experiment", "config", "device", "seconds", "models", "points", "theory_curves"}
    assert result["config"]["reps"] == 30 and result["config"]["seed"] == 0  # effective, defaults filled in
    assert [p["nr"] for p in result["points"]] == [1.0, 5.0]
    assert [p["theory"] for p in result["points"]] == pytest.approx([2.0, 1.2])
    assert all(p["noise"] == {"noise": "data"} and p["ci"][0] < p["ci"][1] for p in result["points"])


def test_a_bad_sweep_exits_2_naming_the_fields(tmp_path, capsys):
    code, stderr, out = _main(tmp_path, capsys, {"experiment": "ranking", "k": [0, 4], "reps": "many"}, "sweep")
    assert code == 2
    assert "reps: must be an integer (got 'many')" in stderr and "k.0: Input should be greater than or equal to 1" \
        in stderr
    assert not out.exists()


def test_a_sweep_prints_its_predicted_cost_and_max_memory_mb_refuses_by_knob(tmp_path, capsys):
    big = {"experiment": "efficiency", "reps": 2, "sample_size": 100_000, "nr": [100.0], "noises": [{"noise": "data"}]}
    code, stderr, out = _main(tmp_path, capsys, big, "sweep", "--max-memory-mb", "256")
    assert code == 2 and not out.exists()
    assert "efficiency: predicted: ~660 MB peak memory" in stderr and "2 model-steps" in stderr
    assert ("error: sample_size × (1 + nr) = 1.0e7 points in one repetition's fit (fitted at once) need ~660 MB" in stderr
            and "--max-memory-mb allows 256 MB: lower sample_size or nr" in stderr), stderr
    small = {"experiment": "efficiency", "reps": 5, "sample_size": 100, "nr": [1.0], "noises": [{"noise": "data"}]}
    code, stderr, out = _main(tmp_path, capsys, small, "sweep", "--max-memory-mb", "256", "--quiet")
    assert code == 0 and out.exists() and "predicted" not in stderr  # in bounds; --quiet prints no prediction


def test_help_does_not_import_torch():
    """`nce-playground --help` must be instant: torch (seconds to import) loads only for a command that trains."""
    probe = ("import sys\nfrom server.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded')")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "usage: nce-playground" in proc.stdout and proc.stdout.strip().endswith("torch not loaded")
