"""HTTP/2 and gRPC abuse against a real Tandem transport process.

Each attack runs on its own connection against tdm_rpc_test_server (the real
server.c/h2_server.c/http1.c serving tandem.test.v1.EchoService; no database needed)
and, when TANDEM_TEST_DATABASE_URL is set, against tandem-matching started by the
harness's Stack (MatchingServiceAbuseTest), and must end with GOAWAY (ENHANCE_YOUR_CALM where it applies), a refused stream or a
closed connection within a stated time, while the process's RSS stays bounded and a
grpcio health Check on another connection keeps being answered.

Frames are written by hand (struct + a tiny HPACK literal encoder) so the client can
break the protocol on purpose; the server's frames are parsed here, with python3-hpack
decoding header blocks. Run with /usr/bin/python3 (Debian's grpcio and hpack).

Timeouts: the server's HTTP/1.1 header timeout (10 s) bounds slow and incomplete
clients. The HTTP/2 idle timeout (300 s) cannot be shortened from outside the process
(tdm_server_options only; no environment variable), so idle HTTP/2 connections are
not waited for here.
"""
import base64
import os
import resource
import select
import socket
import struct
import subprocess
import threading
import time
import unittest

import grpc
import hpack

BUILD_DIR = os.environ.get("TANDEM_BUILD_DIR", "")
SERVER_BIN = os.path.join(BUILD_DIR, "bin", "tdm_rpc_test_server")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 3, 4, 6, 7, 8, 9)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
ENHANCE_YOUR_CALM = 0xB
CANCEL = 0x8

HEADER_TIMEOUT_S = 10.0     # TDM_HEADER_TIMEOUT_MS_DEFAULT
SEND_STALL_S = 2.0          # the test server's --send-stall-ms (the default is 20 s)
RSS_GROWTH_LIMIT_KB = 64 * 1024
# Generous for sanitizer builds under a parallel ctest; an unprotected server stalls
# for many seconds under these attacks.
HEALTH_LATENCY_LIMIT_S = 2.0
HEALTH_DEADLINE_S = 60.0     # a Check during an attack not answered by then: wedged
SLOW_CLIENTS = 1000          # the number; lowered if the fd limit is too small


# ---- Frames ------------------------------------------------------------------------

def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream_id & 0x7FFFFFFF) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value):
    """A literal header field without indexing, no Huffman: leaves HPACK state alone."""
    if isinstance(name, str):
        name = name.encode()
    if isinstance(value, str):
        value = value.encode()
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def grpc_request_headers(path="/tandem.test.v1.EchoService/Echo", extra=()):
    block = literal(":method", "POST") + literal(":scheme", "http") + \
        literal(":path", path) + literal(":authority", "abuse") + \
        literal("content-type", "application/grpc") + literal("te", "trailers")
    for name, value in extra:
        block += literal(name, value)
    return block


def grpc_message(payload):
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def echo_request(payload_len):
    """tandem.test.v1.EchoRequest{payload: payload_len bytes} by hand."""
    body = b"x" * payload_len
    out = b"\x12"
    n = len(body)
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n]) + body


def request_context(tenant_id, principal_id="abuse-key", kind=1, scopes=0x7F):
    """tandem.internal.v1.RequestContext by hand (fields 1-4), as the gateway sends it."""
    def string(field, text):
        data = text.encode()
        return bytes([field << 3 | 2, len(data)]) + data
    return string(1, tenant_id) + string(2, principal_id) + bytes([3 << 3, kind, 4 << 3, scopes])


def send_big_request(peer, payload_len, stream_id=1):
    """A complete EchoService/Big request for a payload_len-byte echo on stream_id."""
    request = grpc_message(echo_request(payload_len))
    peer.send(frame(HEADERS, END_HEADERS, stream_id,
                    grpc_request_headers("/tandem.test.v1.EchoService/Big")))
    for off in range(0, len(request), 16384):
        peer.send(frame(DATA, 0, stream_id, request[off:off + 16384]))
    peer.send(frame(DATA, END_STREAM, stream_id))


class H2Peer:
    """A raw client connection: writes whatever it is told, parses what comes back."""

    def __init__(self, port, preface=True, settings=b""):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed = False
        self.goaway = None          # error code of the GOAWAY received
        self.last_stream = None     # its last-stream-id: the last stream the server took
        self.rst = {}               # stream id -> error code
        self.headers = {}           # stream id -> [(name, value)] (all blocks)
        self.data = {}              # stream id -> bytes received
        self.decoder = hpack.Decoder()
        self.block = b""
        if preface:
            self.send(PREFACE + frame(SETTINGS, 0, 0, settings))

    def send(self, data):
        """False once the server has closed (EPIPE/ECONNRESET)."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.closed = True
            return False

    def pump(self, timeout):
        """Read for up to `timeout` seconds (or until the peer closes)."""
        end = time.monotonic() + timeout
        while not self.closed:
            left = end - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                return
            try:
                chunk = self.sock.recv(1 << 20)
            except (ConnectionResetError, socket.timeout):
                chunk = b""
            if not chunk:
                self.closed = True
                return
            self.buf += chunk
            self._parse()

    def _parse(self):
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                return
            ftype, flags = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            if ftype == GOAWAY and len(payload) >= 8:
                self.last_stream = int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF
                self.goaway = int.from_bytes(payload[4:8], "big")
            elif ftype == RST_STREAM and len(payload) >= 4:
                self.rst[sid] = int.from_bytes(payload[:4], "big")
            elif ftype == DATA:
                self.data[sid] = self.data.get(sid, b"") + payload
            elif ftype in (HEADERS, CONTINUATION):
                if ftype == HEADERS and flags & 0x8:   # PADDED
                    payload = payload[1:len(payload) - payload[0]]
                if ftype == HEADERS and flags & 0x20:  # PRIORITY
                    payload = payload[5:]
                self.block += payload
                if flags & END_HEADERS:
                    fields = self.decoder.decode(self.block, raw=True)
                    self.headers.setdefault(sid, []).extend(fields)
                    self.block = b""

    def wait_end(self, timeout):
        """Pump until GOAWAY or close; returns the seconds it took (None: neither)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            self.pump(0.05)
            if self.goaway is not None or self.closed:
                return time.monotonic() - start
        return None

    def grpc_status(self, sid):
        for name, value in self.headers.get(sid, []):
            if name == b"grpc-status":
                return int(value)
        return None

    def close(self):
        self.sock.close()


# ---- The process ---------------------------------------------------------------------

def cpu_seconds(pid):
    """User + system CPU time of a process, every thread included."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4 * SLOW_CLIENTS + 1024)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class AbuseTest(unittest.TestCase):
    """Against tdm_rpc_test_server (tandem.test.v1.EchoService, no database)."""
    unary_path = "/tandem.test.v1.EchoService/Echo"
    call_metadata = ()

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(SERVER_BIN):
            raise unittest.SkipTest("%s not built" % SERVER_BIN)
        raise_fd_limit()
        env = dict(os.environ)
        # A small ASan quarantine, so RSS measures what the server keeps, not what
        # the sanitizer delays reusing (ignored by a build without ASan).
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                               ":quarantine_size_mb=8:detect_leaks=0").lstrip(":")
        # restore_signals=False: the server inherits Python's ignored SIGPIPE, as every
        # Tandem process has it from runtime.c (tdm_rpc_test_server does not set it,
        # and dies of SIGPIPE when a client closes during a write).
        cls.proc = subprocess.Popen([SERVER_BIN, "0", "--send-stall-ms",
                                     str(int(SEND_STALL_S * 1000))], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, env=env,
                                    restore_signals=False)
        line = cls.proc.stdout.readline().decode()
        if not line.startswith("port "):
            cls.proc.kill()
            raise RuntimeError("test server did not start: %r" % line)
        cls.port = int(line.split()[1])
        cls.connect_health()

    @classmethod
    def connect_health(cls):
        cls.channel = grpc.insecure_channel("127.0.0.1:%d" % cls.port)
        cls.check = cls.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda b: b, response_deserializer=lambda b: b)
        cls.health()  # warm up: the channel is connected before any attack

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.proc.terminate()
        try:
            cls.proc.wait(10)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
            cls.proc.wait()

    @classmethod
    def health(cls, timeout=5):
        """One health Check on the shared channel; returns its latency in seconds."""
        start = time.monotonic()
        answer = cls.check(b"", timeout=timeout)
        assert answer == b"\x08\x01", answer
        return time.monotonic() - start

    def setUp(self):
        self.assertIsNone(self.proc.poll(), "the server process died")
        self.rss_before = rss_kb(self.proc.pid)

    def tearDown(self):
        self.assertIsNone(self.proc.poll(), "the server process died")
        grown = rss_kb(self.proc.pid) - self.rss_before
        self.assertLess(grown, RSS_GROWTH_LIMIT_KB, "RSS grew by %d KiB" % grown)
        self.assertLess(self.settled_health(), HEALTH_LATENCY_LIMIT_S)

    @classmethod
    def settled_health(cls, within_s=60):
        """The latency of a health Check once the server has worked off what the test
        left behind (e.g. 20,000 abandoned streams): the first under the limit within
        within_s, else the last (a Check that fails counts as 5 s). A wedged server
        never gets under it. On a loaded machine the server is runnable but gets a
        tenth of a core: right after an attack the first Checks took 2.7-4.9 s, one
        hit its 5 s deadline, with the server in state R at 0.06-0.09 CPU-s/s (probed
        at load 18 on 2 cores), which is not what the bound is about."""
        deadline = time.monotonic() + within_s
        while True:
            try:
                latency = cls.health()
            except grpc.RpcError:
                latency = 5.0
            if latency < HEALTH_LATENCY_LIMIT_S or time.monotonic() > deadline:
                return latency
            time.sleep(0.2)

    def concurrently_healthy(self, attack):
        """Run attack() while another connection keeps asking for health: each Check
        is answered before the server has spent HEALTH_LATENCY_LIMIT_S CPU-seconds on
        anything else (the attack). CPU time, not wall-clock time: on a loaded machine
        the server gets a tenth of a core and everything it does takes ten times as
        long (seen: Checks of 2-5 s at load 30 with the server in state R), while an
        unprotected server spends seconds of CPU on the attacker before it answers,
        whatever the load. Each Check must also be answered at all, within
        HEALTH_DEADLINE_S (a wedged server)."""
        latencies, errors, done = [], [], threading.Event()

        def probe():
            while not done.is_set():
                try:
                    before = cpu_seconds(self.proc.pid)
                    wall = self.health(timeout=HEALTH_DEADLINE_S)
                    latencies.append(cpu_seconds(self.proc.pid) - before)
                    walls.append(wall)
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(repr(e))
                time.sleep(0.05)
        walls = []

        t = threading.Thread(target=probe)
        t.start()
        try:
            result = attack()
        finally:
            done.set()
            t.join()
        self.assertEqual(errors, [])
        self.assertTrue(latencies, "no health check completed during the attack")
        self.assertLess(max(latencies), HEALTH_LATENCY_LIMIT_S,
                        "CPU-seconds the server spent while a health Check waited, during "
                        "the attack (the longest Check took %.1f s)" % max(walls))
        return result

    def assert_calmed(self, peer, bound, want_code=ENHANCE_YOUR_CALM):
        took = peer.wait_end(bound)
        self.assertIsNotNone(took, "neither GOAWAY nor close within %.0f s" % bound)
        if peer.goaway is not None and want_code is not None:
            self.assertEqual(peer.goaway, want_code, "GOAWAY error code")
        return took

    # ---- HTTP/2 floods -------------------------------------------------------------

    def test_rapid_reset(self):
        """HEADERS+RST_STREAM loops (CVE-2023-44487) end in GOAWAY(ENHANCE_YOUR_CALM)."""
        def attack():
            peer = H2Peer(self.port)
            block = grpc_request_headers()
            sid, start = 1, time.monotonic()
            while time.monotonic() - start < 5 and not peer.closed and peer.goaway is None:
                burst = b"".join(frame(HEADERS, END_HEADERS, s, block) +
                                 frame(RST_STREAM, 0, s, struct.pack(">I", CANCEL))
                                 for s in range(sid, sid + 200, 2))
                sid += 200
                peer.send(burst)
                peer.pump(0)
            took = time.monotonic() - start
            self.assert_calmed(peer, 5)
            peer.close()
            return peer.last_stream, took
        last_stream, took = self.concurrently_healthy(attack)
        # The server stops taking streams after its reset budget (a burst of 1,000,
        # then 100 a second), whatever the client had already queued in the socket.
        if last_stream is not None:
            budget = 1000 + 100 * took
            self.assertLess(last_stream // 2, 2 * budget + 500,
                            "took %d streams in %.1f s" % (last_stream // 2, took))

    def test_continuation_flood(self):
        """HEADERS without END_HEADERS then endless CONTINUATION frames: the header
        list limit (8 KiB) must stop it, not the client's patience."""
        def attack():
            peer = H2Peer(self.port)
            peer.send(frame(HEADERS, 0, 1, grpc_request_headers()))
            sent, start = 0, time.monotonic()
            piece = literal("x-flood", "v" * 1000)
            while time.monotonic() - start < 10 and not peer.closed and peer.goaway is None \
                    and sent < 64 * 1024 * 1024:
                chunk = b"".join(frame(CONTINUATION, 0, 1, piece) for _ in range(64))
                if not peer.send(chunk):
                    break
                sent += len(chunk)
                peer.pump(0)
            took = self.assert_calmed(peer, 2, want_code=None)
            peer.close()
            return sent, took
        sent, _ = self.concurrently_healthy(attack)
        self.assertLess(sent, 16 * 1024 * 1024, "accepted %d bytes of CONTINUATION" % sent)

    def test_ping_flood(self):
        """PINGs faster than the bucket allows (and ACKs never read)."""
        def attack():
            peer = H2Peer(self.port)
            pings = b"".join(frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(500))
            for _ in range(40):
                if not peer.send(pings):
                    break
            self.assert_calmed(peer, 5)
            peer.close()
        self.concurrently_healthy(attack)

    def test_settings_flood(self):
        def attack():
            peer = H2Peer(self.port)
            settings = frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535)) * 500
            for _ in range(40):
                if not peer.send(settings):
                    break
            self.assert_calmed(peer, 5)
            peer.close()
        self.concurrently_healthy(attack)

    def test_zero_window(self):
        """Clients that never open their window while asking for 1 MiB responses
        (issue #10). Nothing is sent beyond the window (asserted), and a completed
        call's response, which cannot be sent, is not pinned for as long as the client
        keeps the socket: the send-stall timeout (SEND_STALL_S here, 20 s by default)
        resets the stream and frees the response."""
        peers = []
        try:
            def attack():
                request = grpc_message(echo_request(1024 * 1024))
                for _ in range(10):
                    # SETTINGS_INITIAL_WINDOW_SIZE = 0; the connection window stays 65535.
                    peer = H2Peer(self.port, settings=struct.pack(">HI", 4, 0))
                    block = grpc_request_headers("/tandem.test.v1.EchoService/Big",
                                                 extra=[("grpc-timeout", "2S")])
                    peer.send(frame(HEADERS, END_HEADERS, 1, block))
                    for off in range(0, len(request), 16384):
                        peer.send(frame(DATA, 0, 1, request[off:off + 16384]))
                    peer.send(frame(DATA, END_STREAM, 1))
                    peers.append(peer)
                start = time.monotonic()
                for peer in peers:
                    while time.monotonic() - start < SEND_STALL_S * 1.25 + 3 and \
                            1 not in peer.rst and peer.grpc_status(1) is None and \
                            not peer.closed:
                        peer.pump(0.1)
                return time.monotonic() - start
            took = self.concurrently_healthy(attack)
            grown = rss_kb(self.proc.pid) - self.rss_before
            self.assertLess(grown, RSS_GROWTH_LIMIT_KB, "RSS grew by %d KiB" % grown)
            for peer in peers:
                self.assertEqual(len(peer.data.get(1, b"")), 0, "data beyond a zero window")
            for peer in peers:
                ended = 1 in peer.rst or peer.grpc_status(1) is not None or peer.closed
                self.assertTrue(ended, "stream not ended %.1f s after the responses were due "
                                "(send-stall timeout %.0f s)" % (took, SEND_STALL_S))
                if 1 in peer.rst:
                    self.assertEqual(peer.rst[1], CANCEL, "RST_STREAM error code")
            # The connections stay open (the client did nothing wrong at the HTTP/2
            # level), but the streams and their 1 MiB responses are gone: the server
            # answers on them as on a fresh connection.
            for peer in peers:
                self.assertFalse(peer.closed, "connection closed instead of the stream reset")
        finally:
            for peer in peers:
                peer.close()
            time.sleep(0.5)  # let the server free the streams before tearDown measures

    def test_zero_window_after_idle(self):
        """The same stall on a connection that was idle first (its timer then set for
        the 300 s idle timeout): new output brings the stall check forward."""
        peer = H2Peer(self.port, settings=struct.pack(">HI", 4, 0))
        peer.pump(SEND_STALL_S * 1.5)
        send_big_request(peer, 256 * 1024)
        start = time.monotonic()
        while time.monotonic() - start < SEND_STALL_S * 1.25 + 3 and 1 not in peer.rst and \
                not peer.closed:
            peer.pump(0.1)
        took = time.monotonic() - start
        peer.close()
        self.assertEqual(peer.rst.get(1), CANCEL, "no reset %.1f s after the response" % took)

    def test_slow_reader_is_served(self):
        """A client that reads slowly - granting 8 KiB of window a second, well under
        the response's size, but never stalling for the send-stall timeout - gets
        its whole response: only a lack of progress ends a stream."""
        payload = 64 * 1024
        peer = H2Peer(self.port, settings=struct.pack(">HI", 4, 0))
        send_big_request(peer, payload)
        start = time.monotonic()
        while time.monotonic() - start < 30 and peer.grpc_status(1) is None and \
                1 not in peer.rst and not peer.closed:
            grant = struct.pack(">I", 8192)
            peer.send(frame(WINDOW_UPDATE, 0, 1, grant) + frame(WINDOW_UPDATE, 0, 0, grant))
            peer.pump(SEND_STALL_S / 2)
        took = time.monotonic() - start
        peer.close()
        self.assertNotIn(1, peer.rst, "a slow reader's stream was reset")
        self.assertEqual(peer.grpc_status(1), 0, "no OK status after %.1f s" % took)
        self.assertGreater(len(peer.data.get(1, b"")), payload)
        self.assertGreater(took, SEND_STALL_S * 1.5, "the response was not held back")

    def test_http1_client_that_never_reads(self):
        """HTTP/1.1 requests pipelined by a client that never reads its answers: the
        server answers no further than its write backlog bound, and once the backlog
        has not moved for the send-stall timeout it closes the connection, freeing
        what it held, instead of keeping it for as long as the client keeps the
        socket."""
        n = 2000
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A tiny receive window, so the answers pile up on the server's side.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(5)
        s.connect(("127.0.0.1", self.port))
        request = b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
        s.sendall(request * n)
        time.sleep(SEND_STALL_S * 1.25 + 1)
        # Now read: what the kernel buffered, then the end of the connection.
        received, ended, start = b"", False, time.monotonic()
        while time.monotonic() - start < 10:
            try:
                chunk = s.recv(1 << 20)
            except (ConnectionResetError, socket.timeout):
                ended = True
                break
            if not chunk:
                ended = True
                break
            received += chunk
        s.close()
        answers = received.count(b"HTTP/1.1 200")
        self.assertTrue(ended, "connection still open after the send-stall timeout")
        self.assertLess(answers, n, "every answer was delivered: the server never gave up")

    def test_incomplete_preface(self):
        """A connection that starts the preface and never finishes is closed by the
        header timeout."""
        peer = H2Peer(self.port, preface=False)
        peer.send(PREFACE[:10])
        took = peer.wait_end(HEADER_TIMEOUT_S + 5)
        self.assertIsNotNone(took, "not closed")
        self.assertTrue(peer.closed)
        self.assertLess(took, HEADER_TIMEOUT_S + 2)
        peer.close()

    def test_max_length_prefix(self):
        """A gRPC message announcing 2^32-1 bytes is refused from its prefix
        (RESOURCE_EXHAUSTED, or the stream reset) without buffering anything."""
        peer = H2Peer(self.port)
        peer.send(frame(HEADERS, END_HEADERS, 1, grpc_request_headers(self.unary_path,
                                                                      self.call_metadata)))
        peer.send(frame(DATA, 0, 1, b"\x00\xff\xff\xff\xff" + b"y" * 16000))
        start = time.monotonic()
        while time.monotonic() - start < 3 and peer.grpc_status(1) is None and \
                1 not in peer.rst and not peer.closed and peer.goaway is None:
            peer.pump(0.05)
        status = peer.grpc_status(1)
        self.assertTrue(status == 8 or 1 in peer.rst or peer.closed or peer.goaway is not None,
                        "no refusal within 3 s")
        if status is not None:
            self.assertEqual(status, 8, "grpc-status for a 4 GiB message")
        peer.close()

    def test_h2_http_streams_closed_early(self):
        """An HTTP/2 stream for a REST path whose request never reaches END_STREAM,
        reset by the client or cut by a closed connection, releases its request: no
        arena or in-flight count is left behind (found by fuzz_http1_request, fixed in
        server_http.c tdm_http_request_cancelled), so a graceful shutdown still drains."""
        block = literal(":method", "POST") + literal(":scheme", "http") + \
            literal(":path", "/v1/programmes") + literal(":authority", "abuse") + \
            literal("content-type", "application/json")

        def abandon_20000_streams_and_settle():
            """One round; returns once the server has closed all of its connections
            (its open descriptors back to what they were), and its RSS then."""
            fds_before = open_fds(self.proc.pid)
            for _ in range(200):
                peer = H2Peer(self.port)
                peer.send(b"".join(frame(HEADERS, END_HEADERS, sid, block)
                                   for sid in range(1, 200, 2)))
                peer.pump(0.01)
                peer.close()
            deadline = time.monotonic() + 60
            while open_fds(self.proc.pid) > fds_before and time.monotonic() < deadline:
                time.sleep(0.2)
            self.assertLessEqual(open_fds(self.proc.pid), fds_before,
                                 "connections still open 60 s after the round")
            return rss_kb(self.proc.pid)

        # The leak this guards against kept ~125 MiB per 20,000 streams, for good. What
        # one round leaves is mostly the allocator's high-water mark: on a loaded machine
        # (more connections open at once while the server gets a tenth of a core) 55-73
        # MiB, and an idle server keeps it, as ASan's allocator returns pages only while
        # it works (run 6 of the flake hunt failed on it after waiting 10 s). So the round
        # is repeated, each measured once the server has closed every connection of it
        # (measured before that, run 8 counted round 1's own growth against rounds 2-3):
        # a leak adds its ~125 MiB each time, the high-water mark does not grow (probed
        # at load 10: 73, 52, 34, 34 MiB above the start after rounds 1-4).
        after_first = abandon_20000_streams_and_settle()
        self.rss_before = after_first  # tearDown's bound counts from here too
        abandon_20000_streams_and_settle()
        grown = abandon_20000_streams_and_settle() - after_first
        self.assertLess(grown, 48 * 1024, "RSS grew by %d KiB for 40,000 more abandoned "
                        "streams" % grown)

    # ---- Slow clients ----------------------------------------------------------------

    def test_slow_clients(self):
        """Many idle or dripping clients - HTTP/1.1 request heads that never end and
        HTTP/2 prefaces that never complete - are closed by the header timeout while a
        normal client keeps its latency."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        n = min(SLOW_CLIENTS, (soft - 256) // 2)
        socks = []
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.setblocking(False)
            if i % 2 == 0:
                s.send(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n")
            else:
                s.send(PREFACE[:16])
            socks.append(s)
        baseline = [self.health() for _ in range(5)]
        start = time.monotonic()
        open_socks = set(range(n))
        latencies = []
        drip = 0
        while open_socks and time.monotonic() - start < HEADER_TIMEOUT_S + 8:
            # HTTP/1.1 clients drip one header byte a second (the timeout counts from
            # the request's start, so dripping must not extend it).
            if time.monotonic() - start > drip:
                drip += 1
                for i in list(open_socks):
                    if i % 2 == 0:
                        try:
                            socks[i].send(b"X")
                        except OSError:
                            pass
            latencies.append(self.health())
            readable, _, _ = select.select([socks[i] for i in open_socks], [], [], 0.2)
            for s in readable:
                try:
                    data = s.recv(4096)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                if not data:
                    open_socks.discard(socks.index(s))
        took = time.monotonic() - start
        for s in socks:
            s.close()
        self.assertEqual(len(open_socks), 0,
                         "%d of %d slow clients still open after %.1f s" % (
                             len(open_socks), n, took))
        self.assertLess(took, HEADER_TIMEOUT_S + 8)
        self.assertLess(max(latencies), max(HEALTH_LATENCY_LIMIT_S, 10 * max(baseline)),
                        "health latency with %d slow clients" % n)

    def test_http1_blank_line_drip(self):
        """A client dripping "\\r\\n" before a request line is closed by the header
        timeout: http1.c counts it from the first byte after the last request, not
        from the request line (http-parser skips blank lines silently)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        start, closed = time.monotonic(), False
        while time.monotonic() - start < HEADER_TIMEOUT_S + 4 and not closed:
            try:
                s.send(b"\r\n")
            except OSError:
                closed = True
                break
            ready, _, _ = select.select([s], [], [], 1.0)
            if ready:
                try:
                    closed = s.recv(100) == b""
                except ConnectionResetError:
                    # Our last CRLF reached a socket the server had just closed:
                    # reset rather than end of stream, but closed all the same.
                    closed = True
        s.close()
        self.assertTrue(closed, "a CRLF-dripping client outlived the header timeout")

    # ---- Metrics -------------------------------------------------------------------

    def metrics_series(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        text = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            text += chunk
        s.close()
        return [l for l in text.split(b"\n") if l.startswith(b"tandem_http_requests_total{")]

    def test_metrics_series_bounded_paths(self):
        """Refused HTTP/1.1 requests (413 from the default routes) on 300 distinct
        paths do not add a metric series each (fixed in 9ac155f; found here first)."""
        before = len(self.metrics_series())
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(b"POST /x-%d HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nz" % i)
            s.recv(4096)
            s.close()
        grown = len(self.metrics_series()) - before
        self.assertLess(grown, 10, "%d new series after 300 distinct paths" % grown)

    def test_metrics_series_bounded_h2_methods(self):
        """Over HTTP/2 the client's :method is any token; 200 made-up methods must not
        add 200 series to tandem_http_requests_total (they are counted as OTHER)."""
        before = len(self.metrics_series())
        peer = H2Peer(self.port)
        for sid in range(1, 400, 2):
            block = literal(":method", "M%d" % sid) + literal(":scheme", "http") + \
                literal(":path", "/healthz") + literal(":authority", "abuse")
            peer.send(frame(HEADERS, END_HEADERS | END_STREAM, sid, block))
            if sid % 100 == 99:
                peer.pump(0.2)
        peer.pump(0.5)
        peer.close()
        grown = len(self.metrics_series()) - before
        self.assertLess(grown, 10, "%d new series after 200 made-up methods" % grown)


class MatchingServiceAbuseTest(AbuseTest):
    """The same attacks against a real service, tandem-matching (runtime.c, its
    database pool and handlers), started by the integration harness's Stack; skipped
    without TANDEM_TEST_DATABASE_URL. The transport-only cases that need the echo
    service's large responses (zero window) or take long (slow clients, CRLF drip)
    run against the test server only."""
    unary_path = "/tandem.v1.MatchingService/GetMatchingRun"

    @classmethod
    def setUpClass(cls):
        binary = os.path.join(BUILD_DIR, "bin", "tandem-matching")
        if not os.environ.get("TANDEM_TEST_DATABASE_URL") or not os.path.exists(binary):
            raise unittest.SkipTest("needs TANDEM_TEST_DATABASE_URL and tandem-matching")
        import harness
        raise_fd_limit()
        cls.stack = harness.Stack("abuse")
        try:
            cls.proc = cls.stack.start("matching", extra_env={
                "ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") +
                                 ":quarantine_size_mb=8:detect_leaks=0").lstrip(":")})
        except Exception:
            cls.stack.close()
            raise
        cls.port = cls.stack.ports["matching"]
        tenant = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
        cls.call_metadata = [("x-tandem-context-bin",
                               base64.b64encode(request_context(tenant)).decode())]
        cls.connect_health()

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.stack.close()

    def test_zero_window(self):
        raise unittest.SkipTest("needs the echo service's large responses")

    def test_slow_clients(self):
        raise unittest.SkipTest("transport-level; covered against the test server")

    def test_http1_client_that_never_reads(self):
        raise unittest.SkipTest("transport-level; covered against the test server")

    def test_slow_reader_is_served(self):
        raise unittest.SkipTest("needs the echo service's large responses")

    def test_zero_window_after_idle(self):
        raise unittest.SkipTest("needs the echo service's large responses")

    def test_http1_blank_line_drip(self):
        raise unittest.SkipTest("transport-level; covered against the test server")


if __name__ == "__main__":
    unittest.main()
