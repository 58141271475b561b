"""The four services started from the container image, as a deployment runs them.

tests/deploy/image.sh builds deploy/Dockerfile and names the image in TANDEM_IMAGE.
Each service runs from its own working container of that image through the image's
entrypoint (`docker-entrypoint.sh <service>`), with `buildah run --isolation chroot
--network host` (no Docker engine here, and podman cannot start containers on this
kind of machine), as the image's own USER, with only the environment
docs/operations.md prescribes: the service's login role, the owner for migrations,
its listen address, its peers, and for the gateway the bootstrap and webhook keys.

Through that gateway the whole programme of tests/e2e/test_programme_rest.py runs
(enrolment, OPTIMAL matching, approval, acceptance, check-ins, survey, report,
at-risk list, export and erasure), with all of its checks. Then each process is
checked to run as uid/gid 10001, to be the service itself (the entrypoint exec'd
it), to pass the image's HEALTHCHECK command, and to exit 0 on SIGTERM.
"""
import os
import secrets
import signal
import subprocess
import unittest
from unittest import mock

import harness
import test_programme_rest

IMAGE = os.environ.get("TANDEM_IMAGE")
IMAGE_UID = 10001
ENTRYPOINT = "/usr/local/bin/docker-entrypoint.sh"
RUN = ["buildah", "run", "--isolation", "chroot", "--network", "host"]
# What a deployment sets (docs/operations.md, "Configuration reference"); nothing else
# of the test's environment reaches the containers.
DEPLOYMENT_VARIABLES = (
    "TANDEM_DATABASE_URL", "TANDEM_MIGRATION_DATABASE_URL", "TANDEM_LISTEN",
    "TANDEM_ENROLMENT_ADDR", "TANDEM_MATCHING_ADDR", "TANDEM_FEEDBACK_ADDR",
    "TANDEM_BOOTSTRAP_KEY", "TANDEM_WEBHOOK_SECRET_KEY", "TANDEM_PERSON_HASH_KEY",
    "TANDEM_LOG_LEVEL", "TANDEM_DRAIN_TIMEOUT_MS")


def buildah(*args):
    out = subprocess.run(["buildah", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("buildah %s failed: %s" % (" ".join(args), out.stderr.strip()))
    return out.stdout.strip()


def process_children():
    """{ppid: [pid, ...]} of every process on the machine."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    return children


def read_proc(pid, what):
    with open("/proc/%d/%s" % (pid, what)) as f:
        return f.read()


def proc_ids(pid, field):
    """The real, effective, saved and filesystem ids of a process ("Uid" or "Gid")."""
    for line in read_proc(pid, "status").splitlines():
        if line.startswith(field + ":"):
            return [int(x) for x in line.split()[1:]]
    raise AssertionError("no %s line in /proc/%d/status" % (field, pid))


class ImageStack(harness.Stack):
    """harness.Stack with every service started from the image instead of the build."""

    def __init__(self, name="image"):
        super().__init__(name)
        self.containers = {}
        self.webhook_key = secrets.token_hex(24)

    def env(self, svc, extra=None):
        env = super().env(svc, extra)
        if svc == "gateway":
            env["TANDEM_WEBHOOK_SECRET_KEY"] = self.webhook_key
        return {k: env[k] for k in DEPLOYMENT_VARIABLES if env.get(k)}

    def run_command(self, svc, *command, extra_env=None):
        """buildah run of one command in svc's container, with svc's environment."""
        cmd = list(RUN)
        for key, value in self.env(svc, extra_env).items():
            cmd += ["--env", "%s=%s" % (key, value)]
        return cmd + [self.containers[svc], "--", *command]

    def start(self, svc, extra_env=None, wait=True):
        self.containers[svc] = buildah("from", "--pull-never", "--name",
                                       "%s-%s" % (self.dbname, svc), IMAGE)
        log_path = os.path.join(os.environ.get("TANDEM_TEST_TMP", "/tmp"),
                                "%s-%s.log" % (self.dbname, svc))
        self.logs[svc] = log_path
        with open(log_path, "ab") as log:
            self.procs[svc] = subprocess.Popen(
                self.run_command(svc, ENTRYPOINT, svc, extra_env=extra_env),
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        if wait:
            self.wait_ready(svc)
        return self.procs[svc]

    def service_pid(self, svc, proc=None):
        """The pid of tandem-<svc> under its `buildah run`, or None."""
        proc = proc or self.procs[svc]
        comm = ("tandem-" + svc)[:15]  # the kernel keeps 15 characters
        children = process_children()
        todo = [proc.pid]
        while todo:
            for pid in children.get(todo.pop(), []):
                try:
                    if read_proc(pid, "comm").strip() == comm:
                        return pid
                except OSError:
                    continue
                todo.append(pid)
        return None

    def stop(self, svc, sig=signal.SIGTERM, timeout=30):
        """Signal the service process itself, as the container runtime signals PID 1,
        and return the exit status `buildah run` reports for it."""
        proc = self.procs.get(svc)
        if proc is None:
            return None
        pid = self.service_pid(svc)
        del self.procs[svc]
        try:
            if proc.poll() is None:
                if pid is None:
                    proc.kill()
                    proc.wait()
                    return "tandem-%s not found under its buildah run" % svc
                os.kill(pid, sig)
            try:
                return proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                proc.kill()
                proc.wait()
                raise
        finally:
            self.remove_container(svc)

    def remove_container(self, svc):
        ctr = self.containers.pop(svc, None)
        if ctr:
            subprocess.run(["buildah", "rm", ctr], capture_output=True)

    def close(self):
        try:
            super().close()
        finally:
            for svc in list(self.containers):
                self.remove_container(svc)


class ProgrammeThroughTheImage(test_programme_rest.WholeProgramme):
    """The end-to-end programme, its gateway and services started from the image."""

    @classmethod
    def setUpClass(cls):
        if not IMAGE:
            raise RuntimeError("TANDEM_IMAGE is not set: run tests/deploy/image.sh")
        with mock.patch.object(test_programme_rest.harness, "Stack", ImageStack):
            super().setUpClass()
        assert isinstance(cls.stack, ImageStack)

    def test_b_each_service_runs_as_the_image_user_exec_by_the_entrypoint(self):
        for svc in harness.SERVICES:
            pid = self.stack.service_pid(svc)
            self.assertIsNotNone(pid, "tandem-%s is not running under its buildah run" % svc)
            self.assertEqual(proc_ids(pid, "Uid"), [IMAGE_UID] * 4, "tandem-%s's uids" % svc)
            self.assertEqual(proc_ids(pid, "Gid"), [IMAGE_UID] * 4, "tandem-%s's gids" % svc)
            # The entrypoint exec'd the service: no shell is left between the runtime
            # and the service to swallow SIGTERM.
            ppid = int(read_proc(pid, "stat").rsplit(")", 1)[1].split()[1])
            parent = read_proc(ppid, "comm").strip()
            self.assertNotIn(parent, ("sh", "dash", "docker-entrypoi"),
                             "tandem-%s runs under a shell" % svc)

    def test_c_the_image_healthcheck_passes_for_each_service(self):
        for svc in harness.SERVICES:
            for path in ("/healthz", "/readyz"):
                out = subprocess.run(self.stack.run_command(svc, ENTRYPOINT, "healthcheck", path),
                                     capture_output=True, text=True, timeout=60)
                self.assertEqual(out.returncode, 0, "healthcheck %s of tandem-%s: %s" %
                                 (path, svc, out.stderr.strip()))

    def test_d_each_service_exits_0_on_sigterm(self):
        for svc in ("gateway", "feedback", "matching", "enrolment"):
            self.assertEqual(self.stack.stop(svc), 0,
                             "tandem-%s on SIGTERM; its log ends:\n%s" %
                             (svc, self.stack.log_tail(svc, 60)))


if __name__ == "__main__":
    unittest.main()
