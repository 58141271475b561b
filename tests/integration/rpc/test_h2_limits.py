"""Request body limits of the gateway's REST door over HTTP/2 (h2c, prior knowledge).

Raw frames from python3-h2 against a real tandem-gateway (with tandem-enrolment and
PostgreSQL). Proves: a body over the route's limit (5 MiB to a 4 MiB route) is
answered 413 every time, with the rest of the upload cut short by RST_STREAM
(NO_ERROR or CANCEL), and the same connection then serves another request; a
Content-Length over the limit is answered 413 from the headers alone, before any
DATA is sent. Over HTTP/1.1 both have always been 413 (http1.c).
"""
import json
import select
import socket
import time
import unittest

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

import harness

ROUTE = "/v1/programmes"  # CreateProgramme: TDM_REST_MAX_REQUEST_BYTES (4 MiB)
ROUTE_LIMIT = 4 * 1024 * 1024
OVERSIZED = 5 * 1024 * 1024
IO_TIMEOUT_S = 20.0
ALLOWED_RESETS = (h2.errors.ErrorCodes.NO_ERROR, h2.errors.ErrorCodes.CANCEL)


class H2Conn:
    """One h2c connection driven frame by frame."""

    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=IO_TIMEOUT_S)
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        # Our receive window is not the subject: keep it out of the way.
        self.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 24})
        self.h2.increment_flow_control_window((1 << 24) - 65535)
        self.flush()
        self.streams = {}

    def close(self):
        try:
            self.h2.close_connection()
            self.flush()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        self.sock.close()

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def stream(self, sid):
        return self.streams.setdefault(sid, {"status": None, "body": b"", "ended": False,
                                             "reset": None})

    def pump(self, timeout):
        """Send what is queued, then read what arrives within `timeout` seconds and
        handle its events."""
        self.flush()
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("the server closed the connection")
        for ev in self.h2.receive_data(data):
            if isinstance(ev, h2.events.ConnectionTerminated):
                raise ConnectionError("GOAWAY %s" % ev.error_code)
            sid = getattr(ev, "stream_id", None)
            if sid is None:
                continue
            st = self.stream(sid)
            if isinstance(ev, h2.events.ResponseReceived):
                st["status"] = int(dict(ev.headers)[":status"])
            elif isinstance(ev, h2.events.DataReceived):
                st["body"] += ev.data
                self.h2.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded):
                st["ended"] = True
            elif isinstance(ev, h2.events.StreamReset):
                st["reset"] = ev.error_code
        self.flush()

    def request(self, method, path, key, extra=(), end_stream=True):
        sid = self.h2.get_next_available_stream_id()
        headers = [(":method", method), (":scheme", "http"), (":authority", "tandem"),
                   (":path", path), ("authorization", "Bearer " + key)] + list(extra)
        self.h2.send_headers(sid, headers, end_stream=end_stream)
        self.flush()
        self.stream(sid)
        return sid

    def upload(self, sid, size, stop_on_response=True):
        """Send `size` bytes of body as flow control allows; stop when the stream is
        reset or, with stop_on_response, when the response has begun. Returns the
        bytes sent."""
        sent = 0
        chunk = b"x" * self.h2.max_outbound_frame_size
        deadline = time.monotonic() + IO_TIMEOUT_S
        st = self.streams[sid]
        while sent < size and st["reset"] is None:
            if stop_on_response and st["status"] is not None:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("upload stalled after %d bytes (%s)" % (sent, st))
            window = min(self.h2.local_flow_control_window(sid), len(chunk), size - sent)
            if window <= 0:
                self.pump(0.5)
                continue
            try:
                self.h2.send_data(sid, chunk[:window], end_stream=sent + window == size)
            except h2.exceptions.StreamClosedError:
                break
            sent += window
            self.pump(0)
        return sent

    def cancel(self, sid):
        """What a client does when answered before its upload ended: stop it."""
        try:
            self.h2.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        except h2.exceptions.StreamClosedError:
            return
        self.flush()

    def finish(self, sid):
        """Wait until the stream is over: the response ended or the stream was reset."""
        st = self.streams[sid]
        deadline = time.monotonic() + IO_TIMEOUT_S
        while not st["ended"] and st["reset"] is None:
            if time.monotonic() > deadline:
                raise TimeoutError("stream %d: no end (status %s)" % (sid, st["status"]))
            self.pump(0.5)
        # The server's RST_STREAM after a complete early response, if any, follows at
        # once; collect it so that the next request starts on a quiet connection.
        if st["ended"] and st["reset"] is None and st["status"] == 413:
            self.pump(0.2)
        return st


class H2BodyLimits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack("h2lim")
        cls.stack.start("enrolment")
        cls.stack.start("gateway", wait=False)
        # Not /readyz: matching and feedback are not started.
        deadline = time.monotonic() + 60
        while not cls.serving():
            if time.monotonic() > deadline:
                raise RuntimeError(cls.stack.log_tail("gateway"))
            time.sleep(0.2)
        cls.key = cls.stack.bootstrap_key
        # The key and its tenant are checked before the body is read (API.md "The
        # public edge"), so the platform key names a tenant that exists.
        conn = H2Conn(cls.stack.addr("gateway"))
        try:
            sid = conn.request("POST", "/v1/tenants", cls.key,
                               [("content-type", "application/json")], end_stream=False)
            conn.h2.send_data(sid, json.dumps({"name": "h2lim", "slug": "h2lim"}).encode(),
                              end_stream=True)
            conn.flush()
            st = conn.finish(sid)
            assert st["status"] == 200, st
            cls.tenant_id = json.loads(st["body"])["id"]
        finally:
            conn.close()

    @classmethod
    def serving(cls):
        """The bootstrap key is ensured once migrations ran: wait until it works."""
        try:
            conn = H2Conn(cls.stack.addr("gateway"))
        except OSError:
            return False
        try:
            st = conn.finish(conn.request("GET", "/v1/tenants", cls.stack.bootstrap_key))
            return st["status"] == 200
        except (OSError, TimeoutError):
            return False
        finally:
            conn.close()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def setUp(self):
        self.conn = H2Conn(self.stack.addr("gateway"))

    def tearDown(self):
        self.conn.close()

    def assert_too_large(self, st, what):
        self.assertEqual(st["status"], 413, "%s: no 413 (stream %s)" % (what, st))
        self.assertEqual(json.loads(st["body"])["code"], 8, what)
        self.assertIn(st["reset"], (None,) + ALLOWED_RESETS, what)

    def assert_healthz(self):
        sid = self.conn.request("GET", "/healthz", self.key)
        st = self.conn.finish(sid)
        self.assertEqual((st["status"], st["body"], st["reset"]), (200, b"ok\n", None))

    def post(self, extra=()):
        return self.conn.request("POST", ROUTE, self.key,
                                 [("content-type", "application/json"),
                                  ("x-tandem-tenant", self.tenant_id)] + list(extra),
                                 end_stream=False)

    def test_oversized_body_is_413_every_time_and_the_connection_lives_on(self):
        for i in range(20):
            sid = self.post()
            sent = self.conn.upload(sid, OVERSIZED)
            st = self.conn.finish(sid)
            self.assert_too_large(st, "attempt %d" % (i + 1))
            self.assertGreater(sent, ROUTE_LIMIT - 1024 * 1024, "attempt %d" % (i + 1))
            self.conn.cancel(sid)
        self.assert_healthz()

    def test_client_that_keeps_sending_still_gets_the_413(self):
        # curl before 8.11 goes on uploading after an early answer and drops the
        # response if the upload is reset: a body within the drain allowance is read
        # to its end (and dropped), and the stream ends without a reset.
        for i in range(3):
            sid = self.post([("content-length", str(OVERSIZED))])
            self.assertEqual(self.conn.upload(sid, OVERSIZED, stop_on_response=False), OVERSIZED)
            st = self.conn.finish(sid)
            self.assert_too_large(st, "attempt %d" % (i + 1))
            self.assertIsNone(st["reset"])
        self.assert_healthz()

    def test_content_length_over_limit_is_413_before_any_data(self):
        for i in range(3):
            sid = self.post([("content-length", str(OVERSIZED))])
            st = self.conn.finish(sid)  # not one DATA frame sent
            self.assert_too_large(st, "attempt %d" % (i + 1))
            self.conn.cancel(sid)
        self.assert_healthz()

    def test_upload_far_over_the_limit_is_reset_after_the_413(self):
        # Announced beyond what is drained: 413 from the headers, then RST_STREAM.
        sid = self.post([("content-length", str(64 * 1024 * 1024))])
        st = self.conn.finish(sid)
        self.assert_too_large(st, "announced")
        self.conn.pump(0.5)
        self.assertEqual(st["reset"], h2.errors.ErrorCodes.NO_ERROR)
        # Not announced: read and dropped up to the drain allowance, then reset.
        sid = self.post()
        sent = self.conn.upload(sid, 64 * 1024 * 1024, stop_on_response=False)
        st = self.conn.finish(sid)
        self.assert_too_large(st, "not announced")
        self.assertEqual(st["reset"], h2.errors.ErrorCodes.NO_ERROR)
        self.assertLess(sent, 32 * 1024 * 1024)
        self.assert_healthz()

    def test_body_within_limit_still_reaches_the_handler(self):
        # Just under the limit: the transport passes it on and the REST front answers
        # (a platform key without X-Tandem-Tenant: 400).
        sid = self.post()
        self.assertEqual(self.conn.upload(sid, ROUTE_LIMIT), ROUTE_LIMIT)
        st = self.conn.finish(sid)
        self.assertEqual(st["status"], 400, st)
        self.assertIsNone(st["reset"])
        self.assert_healthz()

if __name__ == "__main__":
    unittest.main()
