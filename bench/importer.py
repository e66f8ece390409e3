"""Importer throughput: ``python -m bench.importer [--records N] [--files F] [--repeat R] [--out results.json]``.

Generates CloudTrail-shaped ``{"Records": [...]}`` files, then in fresh processes (median of ``--repeat`` runs)
times ``import_logs(KIND)`` (the mapper registered as ``KINDS[KIND]``) against the naive way
(``json.load`` + ``pandas.json_normalize`` + ``to_parquet``), reporting events/s, peak RSS (a bound: each process at
its own peak, forked pages counted in each), peak PSS of the importer (sampled every 200 ms, main process plus workers) and CPU time
per event (this process plus its workers, user + system: unlike seconds, independent of the machine's load) as JSON.
Exits 2 with a clear message when the kind's mapper is not installed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


STRATUS = REPO / "tests" / "fixtures" / "stratus"


def _templates() -> list[dict]:
    """The Stratus Red Team detonation records brought into the project, plus S3 and Lambda data events."""
    recs: list[dict] = []
    for f in sorted(STRATUS.glob("*.json")):
        data = json.loads(f.read_text())
        recs += data["Records"] if isinstance(data, dict) else data
    ident = next(r["userIdentity"] for r in recs if r.get("userIdentity", {}).get("type") == "AssumedRole")
    base = {"eventVersion": "1.09", "userIdentity": ident, "userAgent": "aws-cli/2.15.30 Python/3.11.8",
            "readOnly": True, "eventType": "AwsApiCall", "managementEvent": False, "eventCategory": "Data",
            "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                           "clientProvidedHostHeader": "data.s3.amazonaws.com"}}
    s3 = {**base, "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
          "requestParameters": {"bucketName": "data", "Host": "data.s3.amazonaws.com", "key": "k/0"},
          "responseElements": None, "additionalEventData": {"bytesTransferredIn": 0, "bytesTransferredOut": 52311,
                                                            "x-amz-id-2": "abc", "CipherSuite": "TLS_AES_128_GCM_SHA256"},
          "resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::data/k/0"},
                        {"accountId": "123456789012", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::data"}]}
    lam = {**base, "eventSource": "lambda.amazonaws.com", "eventName": "Invoke", "readOnly": False,
           "requestParameters": {"functionName": "arn:aws:lambda:us-east-1:123456789012:function:etl",
                                 "sourceArn": "arn:aws:s3:::data"}, "responseElements": None,
           "resources": [{"type": "AWS::Lambda::Function",
                          "ARN": "arn:aws:lambda:us-east-1:123456789012:function:etl"}]}
    return recs + [s3] * (len(recs) // 3) + [lam] * (len(recs) // 10)


def generate(folder: Path, records: int, files: int, seed: int = 1, gz: bool = False) -> list[Path]:
    """Write ``files`` CloudTrail S3-delivery files (``{"Records": [...]}``, gzip when ``gz``) holding ``records``
    events in all, replicated from the Stratus Red Team detonations (tests/fixtures/stratus) and S3/Lambda data
    events with varied times (three days), ids, source IPs, principals, regions and object keys (one account);
    return their paths."""
    import gzip
    import uuid

    rng = random.Random(seed)
    templates = _templates()
    folder.mkdir(parents=True, exist_ok=True)
    regions = ["us-east-1", "eu-west-1", "us-west-2"]
    out = []
    per = records // files
    for f in range(files):
        p = folder / f"{f:04d}.json{'.gz' if gz else ''}"
        with (gzip.open(p, "wt", compresslevel=1) if gz else open(p, "w")) as fh:
            fh.write('{"Records":[')
            for i in range(per):
                r = dict(rng.choice(templates))
                t = 1709251200 + rng.randrange(86400 * 3)
                r["eventTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
                r["eventID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                r["requestID"] = f"{rng.getrandbits(64):016X}"
                r["sourceIPAddress"] = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
                r["recipientAccountId"] = "123456789012"
                r["awsRegion"] = rng.choice(regions)
                ident = r.get("userIdentity")
                if isinstance(ident, dict):
                    who = f"user{rng.randrange(500)}"
                    r["userIdentity"] = {**ident, "principalId": f"AROA{rng.getrandbits(40):010X}:{who}",
                                         "accessKeyId": f"ASIA{rng.getrandbits(64):016X}"}
                if r.get("eventSource") == "s3.amazonaws.com" and isinstance(r.get("requestParameters"), dict):
                    r["requestParameters"] = {**r["requestParameters"], "key": f"k/{rng.randrange(10**6)}"}
                fh.write(("," if i else "") + json.dumps(r, separators=(",", ":")))
            fh.write("]}")
        out.append(p)
    return out


class _PssWatcher:
    """Samples the proportional set size (PSS) of this process plus its live children every ``every`` seconds and
    keeps the largest sum: the memory the run really holds at once (pages shared by the forked workers and this
    process are counted once, split between them), where ``peak_rss_mb`` only bounds it."""

    def __init__(self, every: float = 0.2) -> None:
        import threading

        import psutil

        self.me, self.every, self.peak, self.samples, self.cpu = psutil.Process(), every, 0, 0, 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        import psutil

        total = 0
        for p in [self.me, *self.me.children(recursive=True)]:
            try:
                total += p.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        self.peak, self.samples = max(self.peak, total), self.samples + 1

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            self._sample()
        self.cpu = time.thread_time()  # reading smaps costs ~2.5 ms of CPU a process: not the import's

    def done(self) -> float:
        """Stop sampling; the peak PSS in MB."""
        self.stop.set()
        self.thread.join()
        self._sample()
        return self.peak / 1e6


def _child(mode: str, kind: str, inputs: list[str], out: str) -> dict:
    # the naive way is one process (its RSS is its real peak); a watcher in it would take the GIL from its work
    watcher = _PssWatcher() if mode == "importer" else None
    t0 = time.perf_counter()
    if mode == "importer":
        from slake_forensics.importers.pipeline import import_logs

        s = import_logs(kind, inputs, out, progress=False)
        n = s.records_out
    else:
        import pandas as pd

        n = 0
        for i, p in enumerate(inputs):
            with open(p) as f:
                frame = pd.json_normalize(json.load(f)["Records"], sep=".")
            frame.astype(str).to_parquet(Path(out) / f"{i}.parquet")
            n += len(frame)
    secs = time.perf_counter() - t0
    pss = watcher.done() if watcher else None
    watcher_cpu = watcher.cpu if watcher else 0.0
    cpu = os.times()  # this process and its finished workers: CPU time does not depend on the machine's load
    cpu_s = cpu.user + cpu.system + cpu.children_user + cpu.children_system - watcher_cpu
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e3  # the largest worker process
    workers = int(os.environ.get("BENCH_WORKERS", "0")) or (os.cpu_count() or 1)
    # peak_rss_mb bounds the whole import: this process plus every worker process at its own peak at once
    return {"seconds": secs, "events": n, "main_rss_mb": own, "worker_rss_mb": worker, "load_avg_after": os.getloadavg(),
            "peak_rss_mb": own + (worker * min(workers, len(inputs)) if mode == "importer" else 0),
            "peak_pss_mb": pss, "pss_samples": watcher.samples if watcher else 0, "watcher_cpu_seconds": watcher_cpu,
            "cpu_seconds": cpu_s,
            "cpu_system_seconds": cpu.system + cpu.children_system, "cpu_us_per_event": cpu_s / max(n, 1) * 1e6}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    ap = argparse.ArgumentParser(prog="python -m bench.importer", description=__doc__)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kind", default="cloudtrail")
    ap.add_argument("--gz", action="store_true", help="gzip the generated files, as CloudTrail delivers them")
    ap.add_argument("--out", type=Path, help="write the JSON results here too")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        mode, kind, inputs, out = a.child
        print(json.dumps(_child(mode, kind, json.loads(inputs), out)))
        return 0
    from slake_forensics.importers.kinds import load_kind

    try:
        load_kind(a.kind)
    except ValueError as e:
        print(f"bench.importer: cannot measure: {e}", file=sys.stderr)
        return 2
    import platform

    results: dict = {"records": a.records, "files": a.files, "kind": a.kind, "gz": a.gz, "repeat": a.repeat,
                     "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg(),
                                 "python": platform.python_version()}}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = [str(p) for p in generate(Path(tmp) / "in", a.records, a.files, gz=a.gz)]
        results["input_mb"] = sum(Path(p).stat().st_size for p in inputs) / 1e6
        for mode in ("importer", "naive"):
            runs = []
            for r in range(a.repeat):
                out = Path(tmp) / f"{mode}{r}"
                out.mkdir()
                cmd = [sys.executable, "-m", "bench.importer", "--child", mode, a.kind, json.dumps(inputs), str(out)]
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=True)
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            secs = statistics.median(x["seconds"] for x in runs)
            results[mode] = {"median_seconds": secs, "events_per_s": runs[0]["events"] / secs,
                             "peak_rss_mb": statistics.median(x["peak_rss_mb"] for x in runs),
                             "peak_pss_mb": statistics.median(x["peak_pss_mb"] for x in runs) if mode == "importer"
                             else None,
                             "cpu_us_per_event": statistics.median(x["cpu_us_per_event"] for x in runs),
                             "events": runs[0]["events"], "runs": runs}
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    results["speedup"] = results["naive"]["median_seconds"] / results["importer"]["median_seconds"]
    text = json.dumps(results, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
