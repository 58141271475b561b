"""The OpenAPI contract, tried as an HR platform's developers would (issue 22).

Fetches GET /openapi.json from a real gateway (all four services on a throwaway
database, tests/integration/harness.py), then:

- lints it with Redocly's CLI under the recommended rules (redocly.yaml): no error,
  no warning, nothing ignored;
- generates TypeScript types from it with openapi-typescript, type-checks
  src/programme_to_report.ts against them with `tsc --strict`, and runs it: an
  openapi-fetch client takes a programme from creation to report through the
  gateway.

The npm packages are those of package-lock.json, installed with `npm ci` into
$TANDEM_BUILD_DIR/contract (reinstalled when the lock file or Node changes). No
step is skipped: without node and npm, or when npm cannot install, the test fails
and says why.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(harness.BUILD_DIR, "contract")
SOURCES = ("package.json", "package-lock.json", "redocly.yaml", "tsconfig.json",
           "src/programme_to_report.ts")
NPM_CI_TIMEOUT_S = 1200
TOOL_TIMEOUT_S = 300
STAMP = os.path.join(WORK, "node_modules", ".tandem-lock-sha256")
# Nothing leaves the machine but npm ci's registry traffic: no telemetry, no
# update checks.
TOOL_ENV = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true",
                NO_UPDATE_NOTIFIER="1", npm_config_update_notifier="false",
                npm_config_fund="false", npm_config_audit="false")


def run(cmd, timeout=TOOL_TIMEOUT_S, env=None, check=True):
    out = subprocess.run(cmd, cwd=WORK, env=env or TOOL_ENV, capture_output=True, text=True,
                         timeout=timeout, stdin=subprocess.DEVNULL)
    if check and out.returncode != 0:
        raise AssertionError("%s failed with exit status %d:\n%s\n%s" %
                             (" ".join(cmd), out.returncode, out.stdout[-6000:],
                              out.stderr[-6000:]))
    return out


def tool(name):
    return os.path.join(WORK, "node_modules", ".bin", name)


def install():
    """Copy the test's sources into WORK and `npm ci` there unless already done for
    this lock file and this Node."""
    for program in ("node", "npm"):
        if shutil.which(program) is None:
            raise AssertionError("%s is not installed; tests/run.sh installs Debian's nodejs "
                                 "and npm (apt-get install nodejs npm)" % program)
    os.makedirs(os.path.join(WORK, "src"), exist_ok=True)
    for name in SOURCES:
        shutil.copyfile(os.path.join(HERE, name), os.path.join(WORK, name))
    node = run(["node", "--version"]).stdout.strip()
    with open(os.path.join(HERE, "package-lock.json"), "rb") as f:
        stamp = hashlib.sha256(f.read() + node.encode()).hexdigest()
    try:
        with open(STAMP) as f:
            if f.read().strip() == stamp:
                return
    except OSError:
        pass
    out = run(["npm", "ci", "--no-audit", "--no-fund"], timeout=NPM_CI_TIMEOUT_S, check=False)
    if out.returncode != 0:
        raise AssertionError("npm ci could not install the contract test's packages "
                             "(tests/contract/package-lock.json) - is the npm registry "
                             "reachable?\n%s\n%s" % (out.stdout[-6000:], out.stderr[-6000:]))
    with open(STAMP, "w") as f:
        f.write(stamp + "\n")


def setUpModule():
    global STACK, DOCUMENT
    install()
    STACK = harness.Stack("contract")
    for svc in ("enrolment", "matching", "feedback", "gateway"):
        STACK.start(svc)
    with urllib.request.urlopen("http://%s/openapi.json" % STACK.addr("gateway"),
                                timeout=10) as r:
        body = r.read()
    json.loads(body)  # the served document is JSON
    DOCUMENT = os.path.join(WORK, "openapi.json")
    with open(DOCUMENT, "wb") as f:
        f.write(body)


def tearDownModule():
    STACK.close()


class ContractTest(unittest.TestCase):
    def test_redocly_recommended_rules_find_nothing(self):
        out = run([tool("redocly"), "lint", "--config", "redocly.yaml", "--format=json",
                   DOCUMENT], check=False)
        try:
            report = json.loads(out.stdout)
        except ValueError:
            self.fail("redocly lint did not answer JSON (exit %d):\n%s\n%s" %
                      (out.returncode, out.stdout[-4000:], out.stderr[-4000:]))
        problems = ["%s %s: %s at %s" % (p.get("severity"), p.get("ruleId"), p.get("message"),
                                          [loc.get("pointer") for loc in p.get("location", [])])
                    for p in report.get("problems", [])]
        self.assertEqual(report["totals"], {"errors": 0, "warnings": 0, "ignored": 0},
                         "\n".join(problems))
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_generated_client_takes_a_programme_from_creation_to_report(self):
        run([tool("openapi-typescript"), DOCUMENT, "--output", "src/tandem.d.ts"])
        shutil.rmtree(os.path.join(WORK, "dist"), ignore_errors=True)
        run([tool("tsc"), "--strict", "-p", "."])
        env = dict(TOOL_ENV, TANDEM_URL="http://" + STACK.addr("gateway"),
                   TANDEM_KEY=STACK.bootstrap_key)
        out = run(["node", os.path.join("dist", "programme_to_report.js")], env=env)
        summary = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertEqual(summary["matches"], 2)
        self.assertEqual(summary["checkIns"], 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
