"""Gateway overhead: what authenticating every request against PostgreSQL costs.

The gateway looks each API key up by its hash on every request (no cache, so a
revocation applies to the next request on every replica). This measures, over
keep-alive HTTP/1.1 connections from several threads:

  healthz       GET /healthz: the transport alone, no authentication
  auth+tenant   GET /v1/tenants/{id} with a tenant key: key lookup + tenant read
  auth+forward  GET /v1/programmes with a tenant key: key lookup + gRPC to enrolment

Run from a build tree: TANDEM_BUILD_DIR=... TANDEM_TEST_DATABASE_URL=... \
    /usr/bin/python3 tools/bench/gateway/bench_gateway.py [seconds] [threads]
or against a running stack (e.g. deploy/up.sh): TANDEM_BENCH_GATEWAY=host:port
TANDEM_BENCH_KEY=<platform admin key> ... bench_gateway.py [seconds] [threads]
"""
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "tests", "integration"))
import harness  # noqa: E402


def request(conn, method, path, key=None, body=None):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def run(addr, path, key, seconds, threads):
    host, port = addr.split(":")
    latencies, errors = [], [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker():
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        mine = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            status, _ = request(conn, "GET", path, key)
            mine.append(time.perf_counter() - t0)
            if status != 200:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    latencies.sort()
    n = len(latencies)
    pct = lambda p: latencies[min(n - 1, int(p * n))] * 1000 if n else float("nan")  # noqa: E731
    return n / seconds, pct(0.5), pct(0.99), errors[0]


def wait_for(addr, key):
    host, port = addr.split(":")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            if request(conn, "GET", "/v1/tenants", key)[0] == 200:
                return conn
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the gateway at %s did not answer" % addr)


def measure(addr, root_key, seconds, threads):
    conn = wait_for(addr, root_key)
    slug = "bench-%d" % int(time.time() * 1000)
    status, t = request(conn, "POST", "/v1/tenants", root_key, {"name": "Bench", "slug": slug})
    tenant = json.loads(t)
    status, k = request(conn, "POST", "/v1/tenants/%s/apiKeys" % tenant["id"], root_key,
                        {"displayName": "bench", "scopes": ["enrolment:read"],
                         "rateLimit": {"requestsPerSecond": 1000000, "burst": 1000000}})
    key = json.loads(k)["secret"]
    print("%-14s %10s %9s %9s %7s" % ("case", "req/s", "p50 ms", "p99 ms", "errors"))
    for name, path, use_key in (("healthz", "/healthz", None),
                                ("auth+tenant", "/v1/tenants/%s" % tenant["id"], key),
                                ("auth+forward", "/v1/programmes", key)):
        rps, p50, p99, errs = run(addr, path, use_key, seconds, threads)
        print("%-14s %10.0f %9.2f %9.2f %7d" % (name, rps, p50, p99, errs))


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    if os.environ.get("TANDEM_BENCH_GATEWAY"):
        measure(os.environ["TANDEM_BENCH_GATEWAY"], os.environ["TANDEM_BENCH_KEY"], seconds,
                threads)
        return
    stack = harness.Stack("bench")
    try:
        stack.start("enrolment")
        env = {"TANDEM_RATE_LIMIT_RPS": "1000000", "TANDEM_RATE_LIMIT_BURST": "1000000",
               "TANDEM_LOG_LEVEL": "warn"}
        stack.start("gateway", extra_env=env, wait=False)
        measure(stack.addr("gateway"), stack.bootstrap_key, seconds, threads)
    finally:
        stack.close()


if __name__ == "__main__":
    main()
