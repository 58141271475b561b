"""deploy/lib.sh's port checks, as deploy/up.sh, tests/run.sh and tools/bench/stack.sh
use them: each test starts real sockets (a listener, a closed connection left in
TIME-WAIT) and runs the shell function against them."""
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import harness

LIB = os.path.join(harness.SOURCE_DIR, "deploy", "lib.sh")


def lib(script, env=None, timeout=30):
    """Run script in bash after sourcing deploy/lib.sh; the CompletedProcess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(["bash", "-c", 'set -euo pipefail; source "$0"; ' + script, LIB],
                          capture_output=True, text=True, env=full_env, timeout=timeout)


def ephemeral_range():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low, high = f.read().split()
    return int(low), int(high)


class Ports(unittest.TestCase):
    def setUp(self):
        # A port of our own for each test (the harness's lock keeps it ours).
        self.port = harness.free_port()

    def test_free_port_is_below_the_ephemeral_range_and_unused(self):
        low, _ = ephemeral_range()
        for _ in range(5):
            out = lib("tdm_free_port")
            self.assertEqual(out.returncode, 0, out.stderr)
            port = int(out.stdout)
            self.assertLess(port, low)
            self.assertGreaterEqual(port, 1024)
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))

    def test_reserved_port_stays_locked_while_the_shell_lives(self):
        proc = subprocess.Popen(
            ["bash", "-c", 'source "$0"; tdm_reserve_port P; echo "$P"; read -r _', LIB],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            port = int(proc.stdout.readline())
            with open(os.path.join(harness.PORT_LOCK_DIR, str(port)), "a") as lock:
                with self.assertRaises(OSError):
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            proc.communicate("\n", timeout=10)
        with open(os.path.join(harness.PORT_LOCK_DIR, str(port)), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once the shell exits

    def test_wait_port_returns_at_once_on_a_free_port(self):
        t0 = time.monotonic()
        out = lib("tdm_wait_port 127.0.0.1 %d TANDEM_PG_PORT PostgreSQL" % self.port)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stderr, "")
        self.assertLess(time.monotonic() - t0, 10)

    def test_wait_port_names_the_listener_and_the_variable(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", self.port))
            s.listen()
            out = lib("tdm_wait_port 127.0.0.1 %d TANDEM_PG_PORT PostgreSQL" % self.port)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("port %d is in use by python3 (pid %d)" % (self.port, os.getpid()),
                      out.stderr)
        self.assertIn("set TANDEM_PG_PORT to move PostgreSQL", out.stderr)

    def client_time_wait(self):
        """Leave a closed outgoing connection whose local port is self.port in
        TIME-WAIT (the client closes first), as the issue saw on 55432."""
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        client = socket.socket()
        client.bind(("127.0.0.1", self.port))
        client.connect(server.getsockname())
        conn, _ = server.accept()
        client.close()
        self.assertEqual(conn.recv(1), b"")  # the client's FIN arrived
        conn.close()
        server.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ss = subprocess.run(["ss", "-Htan", "state", "time-wait",
                                 "sport = :%d" % self.port], capture_output=True, text=True)
            if ss.stdout.strip():
                return
            time.sleep(0.05)
        self.fail("no TIME-WAIT socket on port %d" % self.port)

    def test_wait_port_waits_for_time_wait_then_names_the_variable(self):
        self.client_time_wait()
        # A server's bind fails now, even with SO_REUSEADDR: what broke deploy/up.sh.
        self.assertEqual(lib("tdm_port_bindable 127.0.0.1 %d" % self.port).returncode, 1)
        t0 = time.monotonic()
        out = lib("tdm_wait_port 127.0.0.1 %d TANDEM_PG_PORT PostgreSQL" % self.port,
                  env={"TDM_PORT_WAIT_S": "2"})
        self.assertGreaterEqual(time.monotonic() - t0, 1.9, out.stderr)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("port %d (PostgreSQL) is held by 1 closed connection(s) in TIME-WAIT"
                      % self.port, out.stderr)
        self.assertIn("waiting for them to expire (up to 2 s", out.stderr)
        self.assertIn("still held after 2 s; set TANDEM_PG_PORT", out.stderr)

    def test_a_servers_own_time_wait_does_not_block_its_restart(self):
        # The server closes first (as PostgreSQL does with its sessions at shutdown):
        # the TIME-WAIT is the listener's, and a restart with SO_REUSEADDR may bind.
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen()
        client = socket.create_connection(("127.0.0.1", self.port))
        conn, _ = server.accept()
        conn.close()
        self.assertEqual(client.recv(1), b"")
        client.close()
        server.close()
        t0 = time.monotonic()
        out = lib("tdm_wait_port 127.0.0.1 %d TANDEM_PG_PORT PostgreSQL" % self.port)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertLess(time.monotonic() - t0, 10)

    def test_warns_of_a_port_in_the_ephemeral_range(self):
        low, high = ephemeral_range()
        out = lib("tdm_warn_if_ephemeral %d TANDEM_PG_PORT PostgreSQL" % low)
        self.assertIn("port %d lies in the kernel's ephemeral port range (%d-%d)" %
                      (low, low, high), out.stderr)
        self.assertIn("set TANDEM_PG_PORT to a port below %d" % low, out.stderr)
        out = lib("tdm_warn_if_ephemeral %d TANDEM_PG_PORT PostgreSQL" % (low - 1))
        self.assertEqual(out.stderr, "")


class PidFiles(unittest.TestCase):
    def test_down_leaves_a_process_alone_whose_pid_a_stale_file_names(self):
        """A pid file left from before a reboot names, by then, some other process:
        down.sh must not SIGTERM it (it did: kill -0 was its only check)."""
        stranger = subprocess.Popen(["sleep", "60"])
        home = tempfile.mkdtemp(prefix="tandem-home-")
        try:
            os.makedirs(os.path.join(home, "run"))
            with open(os.path.join(home, "run", "enrolment.pid"), "w") as f:
                f.write("%d\n" % stranger.pid)
            env = dict(os.environ, TANDEM_HOME=home)
            out = subprocess.run([os.path.join(harness.SOURCE_DIR, "deploy", "down.sh")],
                                 capture_output=True, text=True, env=env, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("tandem-enrolment is not running (stale pid file: pid %d"
                          % stranger.pid, out.stderr)
            self.assertIsNone(stranger.poll(), "down.sh killed an unrelated process")
            self.assertFalse(os.path.exists(os.path.join(home, "run", "enrolment.pid")))
        finally:
            stranger.kill()
            stranger.wait()
            shutil.rmtree(home)

    def test_pid_runs_knows_the_program(self):
        me, program = os.getpid(), os.path.basename(os.readlink("/proc/self/exe"))
        self.assertEqual(lib("tdm_pid_runs %d %s" % (me, program)).returncode, 0)
        self.assertNotEqual(lib("tdm_pid_runs %d tandem-gateway" % me).returncode, 0)
        self.assertNotEqual(lib("tdm_pid_runs not-a-pid python3").returncode, 0)


if __name__ == "__main__":
    unittest.main()
