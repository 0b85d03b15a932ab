"""make deploy: the emulated deployment end to end, and a board that is missing or does not answer."""
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, compile_python
from driver import deploy
from driver.deploy import BoardUnreachable, Target
from loopback import free_port


def test_emulated_deployment_agrees_with_the_software_model_frame_by_frame(fixture_run, tiny_build, tmp_path, capsys):
    out = tmp_path / "deploy"
    rc = deploy.main([str(fixture_run), "--board", "emulate", "--build", str(tiny_build), "--out", str(out),
                      "--compile-python", compile_python(), "--batch-size", "5", "--bench-batch-sizes", "1,4",
                      "--latency-repeats", "2"])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    # it says what it would do on a board, and that this is emulation
    assert "ssh -o BatchMode=yes -o ConnectTimeout=10" in printed.out and "run.sh" in printed.out
    assert "no bitfile" in printed.out and "make bitstream" in printed.out
    assert "EMULATED deployment" in printed.out
    rep = json.loads((out / "report.json").read_text())
    sw = np.load(fixture_run / "predictions.npz")
    c = rep["comparison"]
    assert rep["emulation"] is True and rep["backend"] == "emulation"
    assert c["frames"] == len(sw["index"]) == 48
    assert c["agreement"] == 1.0 and c["agreeing_frames"] == 48 and c["consistent"]
    assert c["max_abs_logit_diff"] < 1e-4
    hw = np.load(out / "results" / "frames.npz")
    assert np.array_equal(hw["index"], sw["index"]) and np.array_equal(hw["predicted"], sw["predicted"])
    assert set(c["per_snr"]) == {"0", "30"} and len(c["per_class"]) == 24
    assert [r["batch_size"] for r in rep["performance"]["throughput"]] == [1, 4]
    assert rep["performance"]["estimate"]["frames_per_s"] > 0 and rep["cost"]["total_bops"] > 0
    md = (out / "report.md").read_text()
    assert md.startswith("# Deploy report: tiny_vgg-zcu104 (EMULATION)")
    assert "**48/48 = 100.00%**" in md and "EMULATION, not hardware" in md and "n/a (emulation)" in md
    for p in rep["plots"]:
        assert (out / p).stat().st_size > 1000
    # the host rewrites the report from the results folder alone (as after fetching it from a board)
    from driver import report

    assert report.main([str(out / "results"), "--run", str(fixture_run), "--build", str(tiny_build),
                        "--out", str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again" / "report.json").read_text())["comparison"] == c
    # the package is what a board gets: metadata, frames, the driver's code, the launcher
    pkg = out / "package"
    for f in ("meta/io.json", "meta/accelerator.json", "meta/report.json", "meta/frames.npz", "run.sh",
              "code/driver/run.py", "code/driver/board.py"):
        assert (pkg / f).is_file(), f


def test_a_disagreeing_accelerator_fails_the_deployment(fixture_run, tiny_build, tmp_path):
    """The same run with a software reference that differs on one frame: reported, exit status 1."""
    bad_run = tmp_path / "run"
    shutil.copytree(fixture_run, bad_run)
    d = dict(np.load(bad_run / "predictions.npz"))
    d["logits"][5] = 0
    d["logits"][5][(d["predicted"][5] + 1) % 24] = 10.0
    d["predicted"][5] = (d["predicted"][5] + 1) % 24
    np.savez(bad_run / "predictions.npz", **d)
    rc = deploy.main([str(bad_run), "--board", "emulate", "--build", str(tiny_build), "--out", str(tmp_path / "o"),
                      "--compile-python", compile_python(), "--snrs", "30", "--bench-batch-sizes", "",
                      "--latency-repeats", "0", "--batch-size", "8"])
    assert rc == 1
    md = (tmp_path / "o" / "report.md").read_text()
    assert "NOT 100%" in md and "| NO |" in md


def test_ties_in_the_software_logits_are_named_not_hidden():
    from driver.report import compare

    idx = np.arange(3)
    sw = {"index": idx, "label": np.array([0, 1, 2]), "snr_db": np.zeros(3, int), "predicted": np.array([0, 1, 2]),
          "logits": np.array([[2.0, 2.0, 0.0], [0.0, 3.0, 1.0], [0.0, 1.0, 3.0]], np.float32)}
    hw = {**sw, "predicted": np.array([1, 1, 2]), "logits": sw["logits"]}
    c = compare(hw, sw, ["a", "b", "c"])
    assert c["agreement"] == pytest.approx(2 / 3) and c["ties"] == 1 and c["consistent"]
    assert c["disagreements"][0]["tie"] is True
    hw["predicted"] = np.array([2, 1, 2])  # not one of the tied classes
    c = compare(hw, sw, ["a", "b", "c"])
    assert c["ties"] == 0 and not c["consistent"]


def test_board_target_parsing():
    assert Target.parse("emulate").emulated and Target.parse("").emulated
    rtl = Target.parse("rtlsim")
    assert rtl.emulated and rtl.rtlsim and rtl.backend == "rtlsim" and str(rtl) == "rtlsim"
    assert Target.parse("emulate").backend == "emulation"
    t = Target.parse("zcu104")  # compile's BOARD: a board type, not a host
    assert t.emulated and t.board_type == "zcu104"
    t = Target.parse("xilinx@192.0.2.7:2222")
    assert (t.host, t.port, t.emulated) == ("xilinx@192.0.2.7", 2222, False)
    with pytest.raises(Exception, match="not \\[user@\\]host"):
        Target.parse("a b")


def test_board_deployment_without_a_bitfile_stops_before_any_ssh(fixture_run, tiny_build, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(deploy, "_run_remote", lambda *a, **k: pytest.fail("ssh must not run"))
    rc = deploy.main([str(fixture_run), "--board", "xilinx@127.0.0.1", "--build", str(tiny_build),
                      "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 3 and "no bitfile" in err and "make bitstream" in err


@pytest.fixture(scope="module")
def build_with_bitfile(tiny_build, tmp_path_factory):
    """A copy of the build with stand-in finn-plus outputs (bitfile, hwh, settings.json)."""
    b = tmp_path_factory.mktemp("bb") / tiny_build.name
    shutil.copytree(tiny_build, b, ignore=shutil.ignore_patterns("codegen", "steps"))
    fo = b / "bitstream" / "finn_output"
    (fo / "bitfile").mkdir(parents=True)
    (fo / "bitfile" / "finn-accel.bit").write_bytes(b"\0" * 16)
    (fo / "bitfile" / "finn-accel.hwh").write_text("<hwh/>")
    (fo / "driver").mkdir()
    (fo / "driver" / "settings.json").write_text(json.dumps({"driver_information": {
        "driver_type": "FINNDMAOverlay", "platform": "zynq-iodma", "io_shape_dict": {}}}))
    return b


def test_a_refused_connection_is_reported_at_once(fixture_run, build_with_bitfile, tmp_path, capsys):
    if shutil.which("ssh") is None:
        pytest.skip("no ssh client on this machine")
    port = free_port()  # nothing listens: the connection is refused
    t0 = time.monotonic()
    rc = deploy.main([str(fixture_run), "--board", f"xilinx@127.0.0.1:{port}", "--build", str(build_with_bitfile),
                      "--out", str(tmp_path / "o"), "--connect-timeout", "2"])
    err = capsys.readouterr().err
    assert rc == 5 and "check the board answers failed" in err and "refused" in err.lower()
    assert time.monotonic() - t0 < 15
    assert (tmp_path / "o" / "package" / "bitfile" / "finn-accel.bit").is_file()  # packaged before the attempt


def test_a_board_that_accepts_but_never_speaks_times_out(fixture_run, build_with_bitfile, tmp_path):
    if shutil.which("ssh") is None:
        pytest.skip("no ssh client on this machine")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    stop = threading.Event()
    conns = []

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])  # hold the connection open, say nothing
            except OSError:
                pass

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    try:
        plan = deploy.make_plan(str(fixture_run), Target(host="xilinx@127.0.0.1"), str(build_with_bitfile), None,
                                str(tmp_path / "o"))
        deploy.assemble_package(plan)
        t0 = time.monotonic()
        with pytest.raises(BoardUnreachable, match="check the board answers"):
            deploy.deploy_board(Target(host="xilinx@127.0.0.1", port=srv.getsockname()[1]), plan, [], "/tmp/x",
                                connect_timeout=2, run_timeout=5, sudo=False, log=lambda m: None)
        assert time.monotonic() - t0 < 14
    finally:
        stop.set()
        th.join(2)
        for c in conns:
            c.close()
        srv.close()


def test_make_deploy_without_board_prints_the_plan_and_runs_emulated(fixture_run, tiny_build, tmp_path):
    """The Makefile's entry as CI would call it (no BOARD given: emulation)."""
    r = subprocess.run(["make", "-s", "-C", str(ROOT), "deploy", f"MODEL={fixture_run}", f"BUILD={tiny_build}",
                        f"OUT={tmp_path / 'o'}", "SNRS=30", f"VENV={Path(compile_python()).parent.parent}",
                        f"DRIVER_VENV={Path(sys.executable).parent.parent}", "-o",
                        str(Path(compile_python()).parent.parent / ".installed"), "-o",
                        str(Path(sys.executable).parent.parent / ".installed")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "On a board this would run" in r.stdout and "EMULATION" in r.stdout
    assert (tmp_path / "o" / "report.md").is_file()


def test_deployment_on_the_simulated_rtl_agrees_on_every_frame(fixture_run, tiny_build, tmp_path, capsys):
    """BOARD=rtlsim: the same driver path, the accelerator's stitched RTL in Verilator behind it."""
    out = tmp_path / "deploy-rtl"
    rc = deploy.main([str(fixture_run), "--board", "rtlsim", "--build", str(tiny_build), "--out", str(out),
                      "--compile-python", compile_python(), "--batch-size", "16", "--bench-batch-sizes", "1,8",
                      "--latency-repeats", "1"])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert "RTL-SIMULATED deployment" in printed.out
    rep = json.loads((out / "report.json").read_text())
    c = rep["comparison"]
    assert rep["backend"] == "rtlsim" and rep["emulation"] is True
    assert c["frames"] == 48 and c["agreement"] == 1.0
    sw = np.load(fixture_run / "predictions.npz")
    hw = np.load(out / "results" / "frames.npz")
    assert np.array_equal(hw["predicted"], sw["predicted"])
    perf = rep["performance"]
    est = perf["estimate"]["cycles_per_frame"]
    at_clock = {r["batch_size"]: r for r in perf["throughput"]}
    # 8 frames back to back, through FIFOs not sized (no make rtlsim here): at least 8 x the estimated
    # cycles per frame, at most that plus FINN's no-overlap latency
    fill = perf["estimate"]["latency_us"] * perf["estimate"]["clock_mhz"]
    assert 8 * est * 0.98 < at_clock[8]["simulated_cycles"] < 8 * est * 1.6 + fill
    assert at_clock[8]["frames_per_s_at_clock"] > at_clock[1]["frames_per_s_at_clock"]
    assert perf["latency"]["simulated_cycles"] == at_clock[1]["simulated_cycles"]
    # the accuracy pass alone: 3 batches of 16, without the benchmarks' batches
    assert 48 * est * 0.98 < perf["simulation"]["cycles"] < 3 * at_clock[8]["simulated_cycles"] * 2 + 3 * fill
    md = (out / "report.md").read_text()
    assert md.startswith("# Deploy report: tiny_vgg-zcu104 (RTL SIMULATION)")
    assert "RTL SIMULATION, not hardware" in md and "frames/s at clock" in md
