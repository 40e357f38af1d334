#!/usr/bin/env python3
"""Replicas benchmark (issue 13): jobs per second through 1, 2 and 3 `serve` replicas on one PostgreSQL (small
upload ingestions over many `--path` fabrics, submitted round-robin through every replica), and the time for the
survivors to lead every fabric after one replica of two is killed with SIGKILL.

Each round gets its own PostgreSQL schema (created and dropped with psql) and its own homes under a temporary
folder. Prints one line per replica count, the ratio against one replica measured in the same run, and the
takeover time. Usage: bench/replicas/run.py --binary target/release/hhgitops [--fabrics 12] [--jobs 60]
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request, uuid

NS = """apiVersion: wiring.githedgehog.com/v1beta1
kind: VLANNamespace
metadata:
  name: default
spec:
  ranges:
  - from: 1000
    to: 2999
---
apiVersion: vpc.githedgehog.com/v1beta1
kind: IPv4Namespace
metadata:
  name: default
spec:
  subnets:
  - 10.0.0.0/16
"""

def vpc(name, n):
    return f"""apiVersion: vpc.githedgehog.com/v1beta1
kind: VPC
metadata:
  name: {name}
spec:
  subnets:
    default:
      subnet: 10.0.{n}.0/24
      gateway: 10.0.{n}.1
      vlan: {1000 + n}
"""

def http(method, url, token=None, body=None):
    req = urllib.request.Request(url, method=method, data=body.encode() if body else None)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")

class Round:
    def __init__(self, binary, base_url, tmp):
        self.binary, self.tmp = binary, tmp
        self.schema = "bench_" + uuid.uuid4().hex[:12]
        subprocess.run(["psql", base_url, "-qc", f"CREATE SCHEMA {self.schema}"], check=True)
        self.base_url = base_url
        sep = "&" if "?" in base_url else "?"
        self.url = f"{base_url}{sep}options[search_path]={self.schema}"
        self.procs = []

    def env(self, home):
        e = dict(os.environ, HHGITOPS_HOME=home, HHGITOPS_DATABASE_URL=self.url, HHGITOPS_LOG="warn")
        return e

    def cli(self, home, *args):
        return subprocess.run([self.binary, *args], env=self.env(home), check=True, capture_output=True, text=True).stdout

    def serve(self, home, *extra):
        p = subprocess.Popen([self.binary, "serve", "--listen", "127.0.0.1:0", *extra], env=self.env(home),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = p.stdout.readline()
        assert "listening on" in line, line
        self.procs.append(p)
        return p, line.strip().rsplit(" ", 1)[1]

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["psql", self.base_url, "-qc", f"DROP SCHEMA {self.schema} CASCADE"], check=True)

def throughput(binary, base_url, replicas, fabrics, jobs):
    tmp = tempfile.mkdtemp(prefix="hhg-bench-")
    r = Round(binary, base_url, tmp)
    try:
        homes = [os.path.join(tmp, f"home{i}") for i in range(replicas)]
        for i in range(fabrics):
            root = os.path.join(tmp, f"f{i}")
            r.cli(homes[0], "fabric", "add", f"f{i}", "--path", root)
            with open(os.path.join(root, "raw", "ns.yaml"), "w") as f:
                f.write(NS)
            r.cli(homes[0], "ingest", "--fabric", f"f{i}")
        token = r.cli(homes[0], "token", "create", "--name", "bench", "--scope", "write").strip()
        urls = [r.serve(h, "--no-watch", "--workers", "4")[1] for h in homes]
        ids = []
        t0 = time.monotonic()
        for j in range(jobs):
            u = urls[j % replicas]
            code, job = http("PUT", f"{u}/api/v1/fabrics/f{j % fabrics}/raw/v{j}.yaml", token,
                             vpc(f"vpc-{j}", 1 + j // fabrics))
            assert code == 202, job
            ids.append(job["id"])
        while True:
            code, page = http("GET", f"{urls[0]}/api/v1/jobs?type=ingest&limit=1&state=succeeded", token)
            if page["total"] >= jobs:
                break
            _, failed = http("GET", f"{urls[0]}/api/v1/jobs?limit=1&state=failed", token)
            assert failed["total"] == 0, failed
            time.sleep(0.02)
        secs = time.monotonic() - t0
        owners = set()
        for i in ids:
            owners.add(http("GET", f"{urls[-1]}/api/v1/jobs/{i}", token)[1]["owner"])
        return jobs / secs, secs, len(owners)
    finally:
        r.close()
        shutil.rmtree(tmp, ignore_errors=True)

def takeover(binary, base_url, fabrics):
    tmp = tempfile.mkdtemp(prefix="hhg-bench-")
    r = Round(binary, base_url, tmp)
    try:
        homes = [os.path.join(tmp, "home0"), os.path.join(tmp, "home1")]
        for i in range(fabrics):
            r.cli(homes[0], "fabric", "add", f"f{i}", "--path", os.path.join(tmp, f"f{i}"))
        token = r.cli(homes[0], "token", "create", "--name", "bench", "--scope", "read").strip()
        (pa, ua), (pb, ub) = r.serve(homes[0]), r.serve(homes[1])
        def leaders():
            _, fs = http("GET", f"{ub}/api/v1/fabrics", token)
            return [(f.get("leader") or {}).get("replica") for f in fs]
        deadline = time.monotonic() + 120
        while True:
            ls = leaders()
            if all(ls) and len(set(ls)) == 2 and max(ls.count(x) for x in ls) <= (fabrics + 1) // 2:
                break
            assert time.monotonic() < deadline, ls
            time.sleep(0.2)
        spread = {x: ls.count(x) for x in set(ls)}
        t0 = time.monotonic()
        pa.kill()
        pa.wait()
        while True:
            ls = leaders()
            if all(ls) and len(set(ls)) == 1 and all(f.get("leader", {}).get("thisReplica") for f in http("GET", f"{ub}/api/v1/fabrics", token)[1]):
                break
            assert time.monotonic() - t0 < 120, ls
            time.sleep(0.1)
        return time.monotonic() - t0, spread
    finally:
        r.close()
        shutil.rmtree(tmp, ignore_errors=True)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--fabrics", type=int, default=12)
    ap.add_argument("--jobs", type=int, default=60)
    ap.add_argument("--postgres", default=os.environ.get("HHGITOPS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"))
    a = ap.parse_args()
    print(f"binary {a.binary}; {a.jobs} upload ingestions over {a.fabrics} fabrics, round-robin through every replica")
    base = None
    for n in (1, 2, 3):
        rate, secs, owners = throughput(a.binary, a.postgres, n, a.fabrics, a.jobs)
        base = base or rate
        print(f"{n} replica(s): {rate:6.1f} jobs/s ({secs:.2f} s, run by {owners} replica(s)), {rate / base:.2f}x one replica")
    secs, spread = takeover(a.binary, a.postgres, a.fabrics)
    print(f"takeover: {a.fabrics} fabrics spread {sorted(spread.values())} over 2 replicas; after SIGKILL of one, "
          f"the other leads all {a.fabrics} in {secs:.1f} s (target: under 15 s)")

if __name__ == "__main__":
    main()
