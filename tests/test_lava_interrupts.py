"""Interrupting a Lava run with real signals: it stops within seconds and leaves nothing behind.

Each case starts a long ``run_on_lava`` in a subprocess that leads its own session (and so
its own process group, like a shell job), waits until samples are running, sends the signal
(to the whole group, as Ctrl-C in a terminal does, or to the parent only), and then checks
that the run ended within ``EXIT_SECONDS`` and left no process of its session, none of the
``/dev/shm/psm_*`` segments its processes had mapped, and no ``lprnn-lava-*`` temporary
folder (the subprocess gets a TMPDIR of its own).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("lava")

pytestmark = pytest.mark.lava

STARTUP_SECONDS = 180   # Python, torch and Lava imports, compilation, forking (slow when busy)
EXIT_SECONDS = 15
LEFTOVER_SECONDS = 10   # multiprocessing's resource tracker exits shortly after its parent

LONG_RUN = """
import numpy as np, torch
from lprnn.snn.lava import run_on_lava
from lprnn.snn.network import LoihiLayer, LoihiNetwork, LoihiReadout, SigmaDeltaFixedParams

neuron = SigmaDeltaFixedParams(decay_in=409, decay_ip=91, decay_v=4096, decay_fb=409,
                               feedback_weight=-1200, threshold=0)
layer = LoihiLayer("lpff", np.full((2, 2), 100, np.int32), 2, np.array([5, -5], np.int32), 3,
                   neuron, 1.0)
network = LoihiNetwork([layer], LoihiReadout(np.eye(2, dtype=np.int32), np.zeros(2, np.int64)),
                       steps_per_ann_step=2, input_scale=64.0)


def ready(sample):
    if sample == 0:
        print("running", flush=True)


run_on_lava(network, torch.ones(100_000, 2, 2), on_sample=ready)
print("finished", flush=True)
"""


def _session_pids(session: int) -> set[int]:
    """Processes whose session id is ``session`` (field 6 of /proc/PID/stat)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == session:
            pids.add(int(entry.name))
    return pids


def _mapped_segments(pids: set[int]) -> set[str]:
    """The /dev/shm/psm_* segments that any of ``pids`` has mapped."""
    segments = set()
    for pid in pids:
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        segments.update(line.split()[-1] for line in maps.splitlines()
                        if "/dev/shm/psm_" in line)
    return {s for s in segments if s.startswith("/dev/shm/psm_")}


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.parametrize("signum, target", [
    (signal.SIGINT, "group"), (signal.SIGINT, "parent"),
    (signal.SIGTERM, "parent"), (signal.SIGTERM, "group")],
    ids=["sigint-group", "sigint-parent", "sigterm-parent", "sigterm-group"])
def test_signal_stops_the_run_and_leaves_nothing(tmp_path, signum, target):
    env = dict(os.environ, TMPDIR=str(tmp_path), OMP_NUM_THREADS="1",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    child = subprocess.Popen([sys.executable, "-c", LONG_RUN], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env,
                             start_new_session=True)
    segments: set[str] = set()
    try:
        started, _, _ = select.select([child.stdout], [], [], STARTUP_SECONDS)
        assert started and child.stdout.readline().strip() == "running", \
            "the Lava run did not start"
        workers = _session_pids(child.pid) - {child.pid}
        segments = _mapped_segments(workers | {child.pid})
        assert workers and segments, "expected Lava worker processes and shared memory"
        assert list(tmp_path.glob("lprnn-lava-*")), "expected the run's temporary folder"
        if target == "group":
            os.killpg(child.pid, signum)
        else:
            os.kill(child.pid, signum)
        start = time.monotonic()
        stdout, stderr = child.communicate(timeout=EXIT_SECONDS)
        elapsed = time.monotonic() - start
        if signum == signal.SIGINT:     # an uncaught KeyboardInterrupt ends Python by SIGINT
            assert child.returncode == -signal.SIGINT and "KeyboardInterrupt" in stderr, stderr
        else:                           # SystemExit(128 + SIGTERM), the shell's convention
            assert child.returncode == 128 + signal.SIGTERM, stderr
        assert "finished" not in stdout and elapsed < EXIT_SECONDS
        assert _wait_for(lambda: not _session_pids(child.pid), LEFTOVER_SECONDS), \
            f"processes left: {_session_pids(child.pid)}"
        assert _wait_for(lambda: not any(os.path.exists(s) for s in segments),
                         LEFTOVER_SECONDS), \
            f"shared memory left: {[s for s in segments if os.path.exists(s)]}"
        assert list(tmp_path.glob("lprnn-lava-*")) == []
    finally:                            # after a failure, remove what the failure left
        for pid in _session_pids(child.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        child.wait()
        for segment in segments:
            if os.path.exists(segment):
                os.unlink(segment)
