"""A real Spark standalone cluster on localhost, started from pyspark's own launcher: a master and
two workers (separate executor JVMs and Python workers, one core each). The main journey runs on
it: a relational fit whose orders model trains with TorchDistributor on two executor processes,
the database sampled and written, the model loaded in another application; and the faults a
cluster has: a Python worker killed mid-write, a failing task retried, a straggler replaced by a
speculative copy. Every run writes the same database, which is also the one a local session
samples from the same model with the same seed and numPartitions: a row depends on the seed, the
table and its partition and position, never on which executor or attempt computed it. (The
fit is done once, on the cluster: DDP sums gradients across processes in an order floating point
does not forgive, so a second fit elsewhere need not give the same bits.)"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.cluster

SCENARIO = os.path.join(os.path.dirname(__file__), "cluster_scenario.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, what: str, timeout: float = 90.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"the standalone cluster did not start: {what}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    import pyspark

    home = os.path.dirname(pyspark.__file__)
    launcher = os.path.join(home, "bin", "spark-class")
    logs = tmp_path_factory.mktemp("cluster-logs")
    env = dict(os.environ, SPARK_HOME=home, PYSPARK_PYTHON=sys.executable,
               SPARK_WORKER_DIR=str(logs / "work"))
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    procs = []

    def start(name: str, *args: str) -> None:
        log = open(logs / f"{name}.log", "w")
        procs.append((subprocess.Popen([launcher, *args], stdout=log, stderr=subprocess.STDOUT,
                                       env=env), log))

    start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
          "--port", str(port), "--webui-port", str(_free_port()))
    try:
        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        _wait_for(listening, "the master does not listen")
        # two host names for one machine: Spark never runs a speculative copy on the host of
        # the attempt it doubles
        for i, host in enumerate(("127.0.0.1", "localhost")):
            start(f"worker{i}", "org.apache.spark.deploy.worker.Worker", url, "--host", host,
                  "--cores", "1", "--memory", "1536m", "--webui-port", str(_free_port()),
                  "--work-dir", str(logs / f"work{i}"))
        _wait_for(lambda: sum("Successfully registered with master" in (logs / f"worker{i}.log")
                              .read_text(errors="replace") for i in range(2)) == 2,
                  "two workers did not register")
        yield url
    finally:
        for proc, log in procs:
            proc.terminate()
        for proc, log in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


def _run(*args: str, timeout: int = 900) -> dict:
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    env.pop("SPARK_REMOTE", None)
    proc = subprocess.run([sys.executable, SCENARIO, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads(lines[-1][len("RESULT "):])


def _intact(result: dict) -> None:
    assert all(v == 0 for v in result["duplicate_keys"].values()), result["duplicate_keys"]
    assert all(v == 0 for v in result["orphans"].values()), result["orphans"]
    assert all(v > 0 for v in result["rows"].values()), result["rows"]


@pytest.fixture(scope="module")
def fitted_on_cluster(cluster, tmp_path_factory):
    work = tmp_path_factory.mktemp("cluster-work")
    result = _run("fit", cluster, str(work))
    return work, result


def test_the_journey_on_a_standalone_cluster_survives_a_killed_worker_and_matches_local_mode(
        cluster, fitted_on_cluster, spark):
    work, fit = fitted_on_cluster
    assert fit["master"] == cluster and fit["orders_model"] == "tvae"
    _intact(fit)
    # the model loaded in another application; partition 1 of every table loses its Python
    # worker after its first batch is written, and the retry writes the same rows
    again = _run("sample", cluster, str(work), "kill", "kill")
    _intact(again)
    assert again["digests"] == fit["digests"]
    assert again["attempts"] and all(a.endswith("attempt1") for a in again["attempts"]), again["attempts"]
    # the same model, seed and numPartitions in this process's local session: the same database
    from synthohive_spark.examples import retail_metadata
    from synthohive_spark.ml.relational import RelationalSynthesizerModel

    sys.path.insert(0, os.path.dirname(SCENARIO))
    import cluster_scenario as sc

    local = RelationalSynthesizerModel.load(str(work / "model")).sample(
        scale=sc.SCALE, seed=sc.SEED, numPartitions=sc.PARTITIONS)
    assert set(local) == set(retail_metadata().tables)
    assert {t: sc.digest(df) for t, df in local.items()} == fit["digests"]
    for df in local.values():
        df.unpersist()


def test_a_straggler_replaced_by_a_speculative_copy_leaves_the_same_database(cluster,
                                                                            fitted_on_cluster):
    work, fit = fitted_on_cluster
    res = _run("sample", cluster, str(work), "slow", "slow")
    _intact(res)
    assert res["digests"] == fit["digests"]
    # every table's straggler got a speculative copy (the straggler itself may still finish
    # after it: only one attempt's output is committed)
    stages = {a.split("-")[0] for a in res["attempts"]}
    copies = {a.split("-")[0] for a in res["attempts"] if not a.endswith("attempt0")}
    assert stages and copies == stages, res["attempts"]


def test_task_retries_in_local_mode_leave_the_same_database(fitted_on_cluster):
    work, fit = fitted_on_cluster
    res = _run("sample", "local[2,3]", str(work), "retried", "fail")
    _intact(res)
    assert res["digests"] == fit["digests"]
    assert res["attempts"] and all(a.endswith("attempt1") for a in res["attempts"]), res["attempts"]
