"""Starts the real engram binary for the Python client tests."""

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "gen"))


@pytest.fixture(scope="module")
def engram_addr():
    binary = os.environ.get("ENGRAM_BIN", str(HERE.parents[1] / "target" / "debug" / "engram"))
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
            stdout=subprocess.PIPE,
            text=True,
        )
        found = threading.Event()
        addr = {}

        def read():
            # Keep draining the log so that engram never blocks on the pipe.
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("message") == "listening":
                    addr["value"] = event["addr"]
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(30):
            proc.kill()
            pytest.fail("engram did not report its address")
        try:
            yield addr["value"]
        finally:
            proc.terminate()
            assert proc.wait(timeout=30) == 0, "engram did not stop cleanly on SIGTERM"
