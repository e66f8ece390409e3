"""Importer throughput: ``python -m bench.importer [--records N] [--files F] [--repeat R] [--out results.json]``.

Generates CloudTrail-shaped ``{"Records": [...]}`` files, then in fresh processes (median of ``--repeat`` runs)
times ``import_logs(KIND)`` (the mapper registered as ``KINDS[KIND]``) against the naive way
(``json.load`` + ``pandas.json_normalize`` + ``to_parquet``), reporting events/s and peak RSS as JSON.
Exits 2 with a clear message when the kind's mapper is not installed.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def generate(folder: Path, records: int, files: int, seed: int = 1) -> list[Path]:
    """Write ``files`` CloudTrail-shaped Records files holding ``records`` events in all; return their paths."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = ["GetObject", "AssumeRole", "DescribeInstances", "ListBuckets", "ConsoleLogin", "PutObject"]
    out = []
    per = records // files
    for f in range(files):
        recs = []
        for i in range(per):
            t = 1709251200 + rng.randrange(86400 * 3)
            recs.append({
                "eventVersion": "1.09", "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
                "eventSource": "s3.amazonaws.com", "eventName": rng.choice(names), "awsRegion": "us-east-1",
                "sourceIPAddress": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}", "userAgent": "aws-cli/2.15",
                "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:alice",
                                 "arn": "arn:aws:sts::123456789012:assumed-role/Dev/alice", "accountId": "123456789012",
                                 "accessKeyId": "ASIAEXAMPLE", "sessionContext": {"attributes": {
                                     "creationDate": "2024-03-01T00:00:00Z", "mfaAuthenticated": "false"}}},
                "requestParameters": {"bucketName": "data", "key": f"k/{i}"}, "responseElements": None,
                "requestID": f"{f:04d}{i:010d}", "eventID": f"{f:08x}-{i:012x}", "readOnly": True,
                "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": "123456789012",
                "eventCategory": "Management"})
        p = folder / f"{f:04d}.json"
        p.write_text(json.dumps({"Records": recs}))
        out.append(p)
    return out


def _child(mode: str, kind: str, inputs: list[str], out: str) -> dict:
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
    return {"seconds": secs, "events": n, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    ap = argparse.ArgumentParser(prog="python -m bench.importer", description=__doc__)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kind", default="cloudtrail")
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
    results: dict = {"records": a.records, "files": a.files, "kind": a.kind}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = [str(p) for p in generate(Path(tmp) / "in", a.records, a.files)]
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
                             "events": runs[0]["events"]}
    results["speedup"] = results["naive"]["median_seconds"] / results["importer"]["median_seconds"]
    text = json.dumps(results, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
