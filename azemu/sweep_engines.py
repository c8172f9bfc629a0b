"""Where a sweep's points run: a local pool, or a Dask cluster.

Both engines run the same thing for a point — `azemu sweep --point -` with
the point's JSON on stdin (azemu/sweep_point.py), one process per point —
and yield (payload, record) as points finish, in any order.

* LocalPool: as many points at a time as the host has CPUs (or --workers),
  each its own process.  Nothing to set up.
* DaskCluster: an existing Dask distributed cluster (`--cluster ADDRESS`,
  `pip install azemu[cluster]`).  One task per point; the task is
  `subprocess.run` of the worker's own `azemu` (the scheduler need not import
  azemu, only the workers run it), so every worker needs azemu installed and
  on its PATH (or --worker-command).  A program that is a file on this host
  travels with its point (the bytes, in the payload) unless --shared-files
  says the workers see the same paths.  Why Dask and not Ray: docs/sweeps.md.

On Ctrl-C both stop giving out points: the local pool kills the points
running; a cluster's running points finish on their own, and their records
are dropped (the rerun measures them again).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait


class PointFailed(Exception):
    """A point's runner itself failed (not the program it measured)."""


def _record(out: str, err: str, rc: int) -> dict:
    """The record a point's runner printed last on its stdout."""
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise PointFailed(f"the point runner ended with status {rc}: {err.strip()[-300:]}") from None


class LocalPool:
    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def _one(self, payload: dict) -> dict:
        proc = subprocess.Popen([sys.executable, "-m", "azemu", "sweep", "--point", "-"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        with self._lock:
            self._running.add(proc)
        try:
            out, err = proc.communicate(json.dumps(payload))
        finally:
            with self._lock:
                self._running.discard(proc)
        return _record(out, err, proc.returncode)

    def run(self, payloads):
        pool = ThreadPoolExecutor(self.workers)
        futures = {pool.submit(self._one, p): p for p in payloads}
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield futures[f], f.result()
        finally:                                   # Ctrl-C, or the caller stopped early
            for f in futures:
                f.cancel()
            with self._lock:
                for proc in self._running:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except OSError:
                        pass
            pool.shutdown(wait=True)


class DaskCluster:
    name = "dask"

    def __init__(self, address: str, worker_command: str = "azemu", timeout: float = 20):
        try:
            from distributed import Client
        except ImportError:
            raise RuntimeError("--cluster needs Dask distributed: pip install 'azemu[cluster]'") from None
        try:
            self.client = Client(address, timeout=timeout)
        except (OSError, TimeoutError) as e:
            raise RuntimeError(f"--cluster {address}: cannot reach the scheduler: {e}") from None
        self.address = address
        self.command = worker_command.split() + ["sweep", "--point", "-"]

    def run(self, payloads):
        from distributed import as_completed
        futures = {}
        for p in payloads:
            f = self.client.submit(subprocess.run, self.command, input=json.dumps(p), capture_output=True,
                                   text=True, pure=False)
            futures[f.key] = (f, p)
        try:
            for f in as_completed([f for f, _ in futures.values()]):
                try:
                    done = f.result()
                except FileNotFoundError:
                    raise RuntimeError(f"a Dask worker has no `{self.command[0]}` on its PATH: install "
                                       "azemu there, or give --worker-command") from None
                yield futures[f.key][1], _record(done.stdout, done.stderr, done.returncode)
        finally:
            self.client.cancel([f for f, _ in futures.values()])

    def close(self) -> None:
        self.client.close()
