"""EnrolmentService through its gRPC API, against real PostgreSQL.

One Stack (scratch database + tandem-enrolment) per module. Matching and feedback
are stood in for by a small in-process PersonDataService on their configured ports,
so export/erase can be checked end to end; one test stops it to check the
UNAVAILABLE report.
"""
import os
import sys
import threading
import time
import unittest
import uuid
from concurrent import futures

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

import grpc  # noqa: E402
from tandem.v1 import common_pb2, enrolment_pb2  # noqa: E402
from tandem.internal.v1 import erasure_pb2  # noqa: E402
from google.protobuf import field_mask_pb2  # noqa: E402

SVC = "/tandem.v1.EnrolmentService/"
P = enrolment_pb2
STACK = None
PEERS = []
PEER_CALLS = []


def rpc(method, req, resp_type, tenant, scopes=harness.ALL_SCOPES, idem=None, timeout=60):
    md = harness.Stack.context(tenant, scopes=scopes)
    if idem:
        md.append(("idempotency-key", idem))
    ch = STACK.channel("enrolment")
    try:
        call = ch.unary_unary(SVC + method, request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=resp_type.FromString)
        return call(req, metadata=md, timeout=timeout)
    finally:
        ch.close()


def fail(method, req, resp_type, tenant, **kw):
    try:
        rpc(method, req, resp_type, tenant, **kw)
    except grpc.RpcError as e:
        return e
    raise AssertionError("%s succeeded unexpectedly" % method)


def assert_nothing_written(test, t, p, events_before):
    """A refused call left programme p of tenant t empty and added no event."""
    listed = rpc("ListParticipants", P.ListParticipantsRequest(programme_id=p.id),
                 P.ListParticipantsResponse, t)
    test.assertEqual(len(listed.participants), 0)
    test.assertEqual(harness.psql(STACK.super_url, "SELECT count(*) FROM enrolment.outbox"
                                  " WHERE tenant_id = '%s'" % t), str(events_before))


def violations(err):
    """Field names of the BadRequest details in grpc-status-details-bin."""
    from google.rpc import status_pb2, error_details_pb2
    fields = []
    for k, v in (err.trailing_metadata() or ()):
        if k == "grpc-status-details-bin":
            st = status_pb2.Status.FromString(v)
            for d in st.details:
                br = error_details_pb2.BadRequest()
                if d.Unpack(br):
                    fields += [f.field for f in br.field_violations]
    return fields


def start_peer(port):
    def export(req, ctx):
        PEER_CALLS.append(("export", list(req.participant_ids)))
        return erasure_pb2.ExportParticipantsResponse()

    def erase(req, ctx):
        PEER_CALLS.append(("erase", list(req.participant_ids)))
        return erasure_pb2.EraseParticipantsResponse(
            counts=common_pb2.ErasureCounts(matches=len(req.participant_ids)))

    handler = grpc.method_handlers_generic_handler("tandem.internal.v1.PersonDataService", {
        "ExportParticipants": grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=erasure_pb2.ExportParticipantsRequest.FromString,
            response_serializer=lambda m: m.SerializeToString()),
        "EraseParticipants": grpc.unary_unary_rpc_method_handler(
            erase, request_deserializer=erasure_pb2.EraseParticipantsRequest.FromString,
            response_serializer=lambda m: m.SerializeToString()),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    return server


def setUpModule():
    global STACK
    STACK = harness.Stack("enrol")
    for svc in ("matching", "feedback"):
        PEERS.append(start_peer(STACK.ports[svc]))
    STACK.start("enrolment")


def tearDownModule():
    for s in PEERS:
        s.stop(0)
    if STACK is not None:
        STACK.close()


def tenant():
    return str(uuid.uuid4())


def programme(t, status=P.Programme.ENROLLING, **kw):
    prog = P.Programme(name=kw.pop("name", "Reverse mentoring 2027"), kind=P.REVERSE,
                       status=status, **kw)
    return rpc("CreateProgramme", P.CreateProgrammeRequest(programme=prog), P.Programme, t)


def person(ext, role=common_pb2.MENTOR, **kw):
    return P.Participant(external_id=ext, display_name=kw.pop("display_name", "Person " + ext),
                         role=role, **kw)


def enrol(t, prog_id, part, **kw):
    return rpc("Enrol", P.EnrolRequest(programme_id=prog_id, participant=part), P.Participant,
               t, **kw)


class ProgrammeTest(unittest.TestCase):
    def test_create_defaults_and_get(self):
        t = tenant()
        p = programme(t, status=0)
        self.assertEqual(p.status, P.Programme.DRAFT)
        self.assertEqual(p.anonymity_threshold, 5)
        got = rpc("GetProgramme", P.GetProgrammeRequest(id=p.id), P.Programme, t)
        self.assertEqual(got.name, p.name)

    def test_programme_validation_names_fields(self):
        t = tenant()
        bad = P.Programme(name="", kind=0, start_date="2027-02-01", end_date="2027-01-01",
                          anonymity_threshold=1, check_in_cadence_days=400,
                          objectives=[P.Objective(key="a", title="A"),
                                      P.Objective(key="a", title="B")],
                          matching_policy=P.MatchingPolicy(min_score=101))
        e = fail("CreateProgramme", P.CreateProgrammeRequest(programme=bad), P.Programme, t)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        f = violations(e)
        for field in ("programme.name", "programme.kind", "programme.end_date",
                      "programme.anonymity_threshold", "programme.check_in_cadence_days",
                      "programme.objectives[1].key", "programme.matching_policy.min_score"):
            self.assertIn(field, f)

    def test_status_moves_only_forward(self):
        t = tenant()
        p = programme(t, status=P.Programme.DRAFT)
        mask = field_mask_pb2.FieldMask(paths=["status"])
        up = rpc("UpdateProgramme", P.UpdateProgrammeRequest(
            programme=P.Programme(id=p.id, status=P.Programme.MATCHING), update_mask=mask),
            P.Programme, t)
        self.assertEqual(up.status, P.Programme.MATCHING)
        self.assertEqual(up.name, p.name)  # untouched by the mask
        e = fail("UpdateProgramme", P.UpdateProgrammeRequest(
            programme=P.Programme(id=p.id, status=P.Programme.ENROLLING), update_mask=mask),
            P.Programme, t)
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)

    def test_list_programmes_paginates(self):
        t = tenant()
        ids = {programme(t, name="P%d" % i).id for i in range(7)}
        seen, token = [], ""
        while True:
            r = rpc("ListProgrammes", P.ListProgrammesRequest(page_size=3, page_token=token),
                    P.ListProgrammesResponse, t)
            seen += [p.id for p in r.programmes]
            token = r.next_page_token
            if not token:
                break
        self.assertEqual(sorted(seen), sorted(ids))


class ParticipantTest(unittest.TestCase):
    def test_enrol_requires_open_programme(self):
        t = tenant()
        p = programme(t, status=P.Programme.DRAFT)
        e = fail("Enrol", P.EnrolRequest(programme_id=p.id, participant=person("x1")),
                 P.Participant, t)
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)

    def test_duplicate_external_id_already_exists(self):
        t = tenant()
        p = programme(t)
        enrol(t, p.id, person("dup"))
        e = fail("Enrol", P.EnrolRequest(programme_id=p.id, participant=person("dup")),
                 P.Participant, t)
        self.assertEqual(e.code(), grpc.StatusCode.ALREADY_EXISTS)

    def test_every_validation_rule_names_its_field(self):
        t = tenant()
        p = programme(t)
        bad = P.Participant(
            external_id="", display_name="x" * 201, email="not-an-address", role=0,
            seniority_level=11, timezone="Mars/Olympus", capacity=21,
            availability_hours_per_month=-1, interests=["a", "A"], goals=["g" * 101],
            languages=["l%d" % i for i in range(51)],
            skills=[P.Skill(name="ai", level=6), P.Skill(name="AI", level=1)])
        e = fail("Enrol", P.EnrolRequest(programme_id=p.id, participant=bad), P.Participant, t)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        f = violations(e)
        for field in ("participant.external_id", "participant.display_name",
                      "participant.email", "participant.role", "participant.seniority_level",
                      "participant.timezone", "participant.capacity",
                      "participant.availability_hours_per_month", "participant.interests[1]",
                      "participant.goals[0]", "participant.languages",
                      "participant.skills[0].level", "participant.skills[1].name"):
            self.assertIn(field, f)

    def test_diversity_needs_consent_and_admin(self):
        t = tenant()
        p = programme(t)
        div = P.Diversity(gender="woman")
        e = fail("Enrol", P.EnrolRequest(programme_id=p.id,
                                         participant=person("d1", diversity=div)),
                 P.Participant, t)
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)
        part = enrol(t, p.id, person("d1", diversity=div,
                                     consent=P.Consent(diversity_data=True)))
        self.assertEqual(part.diversity.gender, "woman")
        reader = 0x2  # enrolment:read only
        got = rpc("GetParticipant", P.GetParticipantRequest(id=part.id), P.Participant, t,
                  scopes=reader)
        self.assertFalse(got.HasField("diversity"))
        # Consent withdrawn: the diversity record goes.
        rpc("UpdateParticipant", P.UpdateParticipantRequest(
            participant=P.Participant(id=part.id, consent=P.Consent()),
            update_mask=field_mask_pb2.FieldMask(paths=["consent", "diversity"])),
            P.Participant, t)
        got = rpc("GetParticipant", P.GetParticipantRequest(id=part.id), P.Participant, t)
        self.assertFalse(got.HasField("diversity"))

    def test_update_and_withdraw(self):
        t = tenant()
        p = programme(t)
        part = enrol(t, p.id, person("u1", office="London"))
        up = rpc("UpdateParticipant", P.UpdateParticipantRequest(
            participant=P.Participant(id=part.id, office="Paris", display_name="ignored"),
            update_mask=field_mask_pb2.FieldMask(paths=["office"])), P.Participant, t)
        self.assertEqual(up.office, "Paris")
        self.assertEqual(up.display_name, part.display_name)
        w = rpc("WithdrawParticipant", P.WithdrawParticipantRequest(id=part.id, reason="moved"),
                P.Participant, t)
        self.assertEqual(w.status, P.Participant.WITHDRAWN)
        again = rpc("WithdrawParticipant", P.WithdrawParticipantRequest(id=part.id),
                    P.Participant, t)
        self.assertEqual(again.withdraw_reason, "moved")
        events = harness.psql(STACK.super_url,
                              "SELECT type FROM enrolment.outbox WHERE resource_id = '%s' "
                              "ORDER BY seq" % part.id)
        self.assertEqual(events.split(), ["participant.enrolled", "participant.withdrawn"])

    def test_tenants_never_see_each_other(self):
        a, b = tenant(), tenant()
        p = programme(a)
        part = enrol(a, p.id, person("secret"))
        for method, req, typ in (
                ("GetProgramme", P.GetProgrammeRequest(id=p.id), P.Programme),
                ("GetParticipant", P.GetParticipantRequest(id=part.id), P.Participant),
                ("ListParticipants", P.ListParticipantsRequest(programme_id=p.id),
                 P.ListParticipantsResponse),
                ("Enrol", P.EnrolRequest(programme_id=p.id, participant=person("x")),
                 P.Participant),
                ("ExportPerson", P.ExportPersonRequest(external_id="secret"), P.PersonExport)):
            e = fail(method, req, typ, b)
            self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND, method)
        r = rpc("ListProgrammes", P.ListProgrammesRequest(), P.ListProgrammesResponse, b)
        self.assertEqual(len(r.programmes), 0)

    def test_pagination_stable_under_inserts(self):
        t = tenant()
        p = programme(t)
        rows = [person("pg%05d" % i, role=common_pb2.MENTEE) for i in range(2500)]
        rpc("BatchEnrol", P.BatchEnrolRequest(programme_id=p.id, participants=rows),
            P.BatchEnrolResponse, t)
        seen, token, extra = [], "", 0
        while True:
            r = rpc("ListParticipants", P.ListParticipantsRequest(
                programme_id=p.id, page_size=200, page_token=token),
                P.ListParticipantsResponse, t)
            seen += [x.external_id for x in r.participants]
            enrol(t, p.id, person("late%03d" % extra))
            extra += 1
            token = r.next_page_token
            if not token:
                break
        original = [x for x in seen if x.startswith("pg")]
        self.assertEqual(len(original), 2500)
        self.assertEqual(len(set(seen)), len(seen))
        mentees = rpc("ListParticipants", P.ListParticipantsRequest(
            programme_id=p.id, page_size=500, role=common_pb2.MENTOR),
            P.ListParticipantsResponse, t)
        self.assertTrue(all(x.role == common_pb2.MENTOR for x in mentees.participants))


class BatchAndIdempotencyTest(unittest.TestCase):
    def test_batch_mixed_rows(self):
        t = tenant()
        p = programme(t)
        rows = [person("b1"), person("b2", email="bad"), person("b3"), person("b1"),
                person("b4", diversity=P.Diversity(gender="x"))]
        r = rpc("BatchEnrol", P.BatchEnrolRequest(programme_id=p.id, participants=rows),
                P.BatchEnrolResponse, t)
        kinds = [x.WhichOneof("result") for x in r.results]
        self.assertEqual(kinds, ["participant", "error", "participant", "error", "error"])
        self.assertEqual(r.results[1].error.code, 3)
        self.assertEqual(r.results[1].error.details[0].field, "email")
        self.assertEqual(r.results[4].error.code, 9)
        # Upsert: the same external_id again updates in place.
        r2 = rpc("BatchEnrol", P.BatchEnrolRequest(
            programme_id=p.id, participants=[person("b1", office="Leeds")]),
            P.BatchEnrolResponse, t)
        self.assertEqual(r2.results[0].participant.id, r.results[0].participant.id)
        self.assertEqual(r2.results[0].participant.office, "Leeds")

    def test_written_participants_answer_as_they_read_back(self):
        """What Enrol, BatchEnrol and UpdateParticipant answer is what GetParticipant
        then reads: output-only fields sent in are ignored, defaults are the stored
        ones, times are the database's, and diversity shows only to admin."""
        from google.protobuf import timestamp_pb2, wrappers_pb2
        t = tenant()
        p = programme(t)
        granted = timestamp_pb2.Timestamp(seconds=1700000000, nanos=123456789)
        rich = person("rb1", email="rb1@firm.example", seniority_level=4, years_qualified=9,
                      practice_area="Tax", office="Paris", department="D1",
                      reporting_chain=["rb9", "rb8"], interests=["ai"], goals=["g1"],
                      languages=["fr", "en"], availability_hours_per_month=6,
                      timezone="Europe/Paris", capacity=2,
                      skills=[P.Skill(name="tax", level=0), P.Skill(name="ai", level=5)],
                      consent=P.Consent(data_processing=True, diversity_data=True,
                                        granted_time=granted),
                      diversity=P.Diversity(gender="woman", other="x",
                                            disability=wrappers_pb2.BoolValue(value=False)),
                      # Output-only: never taken from the request.
                      id=str(uuid.uuid4()), status=P.Participant.MATCHED,
                      withdraw_reason="no", create_time=granted)
        plain = person("rb2", role=common_pb2.MENTEE, consent=P.Consent())
        withdrawn = enrol(t, p.id, person("rb3"))
        rpc("WithdrawParticipant", P.WithdrawParticipantRequest(id=withdrawn.id, reason="left"),
            P.Participant, t)
        answered = [enrol(t, p.id, person("rb0", skills=[P.Skill(name="x")]))]
        r = rpc("BatchEnrol", P.BatchEnrolRequest(programme_id=p.id,
                                                  participants=[rich, plain, person("rb3")]),
                P.BatchEnrolResponse, t)
        answered += [x.participant for x in r.results]
        self.assertEqual(answered[3].status, P.Participant.WITHDRAWN)  # an upsert keeps it
        answered.append(rpc("UpdateParticipant", P.UpdateParticipantRequest(
            participant=P.Participant(id=answered[1].id, office="Lyon"),
            update_mask=field_mask_pb2.FieldMask(paths=["office"])), P.Participant, t))
        for got in answered:
            read = rpc("GetParticipant", P.GetParticipantRequest(id=got.id), P.Participant, t)
            if got.id == answered[1].id and got.office != "Lyon":
                continue  # updated since
            self.assertEqual(got, read)
        self.assertNotEqual(answered[1].id, rich.id)
        self.assertEqual(answered[1].skills[0].level, 3)
        self.assertEqual(answered[1].diversity.gender, "woman")
        # The database keeps microseconds, rounded.
        self.assertEqual(answered[1].consent.granted_time.nanos, 123457000)
        reader = 0x2 | 0x4  # enrolment:read and :write, not admin
        r = rpc("BatchEnrol", P.BatchEnrolRequest(programme_id=p.id, participants=[rich]),
                P.BatchEnrolResponse, t, scopes=reader)
        self.assertFalse(r.results[0].participant.HasField("diversity"))
        self.assertEqual(r.results[0].participant,
                         rpc("GetParticipant", P.GetParticipantRequest(id=answered[1].id),
                             P.Participant, t, scopes=reader))

    def test_list_items_with_array_syntax_are_stored_as_sent(self):
        """BatchEnrol sends each row's lists as text[] literals in binary array
        parameters: items holding quotes, backslashes, commas, braces, spaces or the
        word NULL come back exactly as sent."""
        t = tenant()
        p = programme(t)
        odd = ['a"b', 'c\\d', 'e,f', '{g}', 'NULL', ' h ', 'é ü', '\\"']
        row = person("arr1", interests=odd, goals=list(reversed(odd)), languages=["x,y"],
                     reporting_chain=['m"1', 'm\\2'],
                     skills=[P.Skill(name='s"1', level=2), P.Skill(name="s{2}", level=0)],
                     display_name='Quote "Q" \\ Back', department="NULL")
        r = rpc("BatchEnrol", P.BatchEnrolRequest(programme_id=p.id, participants=[row]),
                P.BatchEnrolResponse, t)
        got = r.results[0].participant
        read = rpc("GetParticipant", P.GetParticipantRequest(id=got.id), P.Participant, t)
        for x in (got, read):
            self.assertEqual(list(x.interests), odd)
            self.assertEqual(list(x.goals), list(reversed(odd)))
            self.assertEqual(list(x.languages), ["x,y"])
            self.assertEqual(list(x.reporting_chain), ['m"1', 'm\\2'])
            self.assertEqual([(s.name, s.level) for s in x.skills], [('s"1', 2), ("s{2}", 3)])
            self.assertEqual(x.display_name, 'Quote "Q" \\ Back')
            self.assertEqual(x.department, "NULL")

    def test_a_batch_of_several_chunks_answers_and_records_in_row_order(self):
        """BatchEnrol writes 2,000 rows to a statement, the chunks' upserts and events
        alternating in one transaction: 4,500 rows with refused rows at the chunks'
        edges and an existing participant inside answer row by row, list in the order
        sent, and give one participant.enrolled event per new row, in row order."""
        t = tenant()
        p = programme(t)
        existing = enrol(t, p.id, person("ck03000"))
        rows = [person("ck%05d" % i) for i in range(4500)]
        refused = {0, 1999, 2000, 2001, 4000, 4499}
        for i in refused:
            rows[i].email = "not an address"
        r = rpc("BatchEnrol", P.BatchEnrolRequest(programme_id=p.id, participants=rows),
                P.BatchEnrolResponse, t, timeout=120)
        self.assertEqual(len(r.results), 4500)
        for i, res in enumerate(r.results):
            self.assertEqual(res.WhichOneof("result"), "error" if i in refused else "participant",
                             i)
            if i not in refused:
                self.assertEqual(res.participant.external_id, rows[i].external_id)
        self.assertEqual(r.results[3000].participant.id, existing.id)
        listed, token = [], ""
        while True:
            page = rpc("ListParticipants", P.ListParticipantsRequest(
                programme_id=p.id, page_size=500, page_token=token),
                P.ListParticipantsResponse, t)
            listed += [x.external_id for x in page.participants]
            token = page.next_page_token
            if not token:
                break
        new_in_order = [rows[i].external_id for i in range(4500)
                        if i not in refused and i != 3000]
        self.assertEqual(listed, ["ck03000"] + new_in_order)
        ids = {res.participant.id for res in r.results if res.WhichOneof("result")}
        events = harness.psql(
            STACK.super_url, "SELECT resource_id FROM enrolment.outbox"
            " WHERE tenant_id = '%s' AND type = 'participant.enrolled'"
            " ORDER BY xact_id, seq" % t).split()
        want = [existing.id] + [r.results[i].participant.id for i in range(4500)
                                if i not in refused and i != 3000]
        self.assertEqual(events, want)
        self.assertTrue(ids.issuperset(events))

    def test_a_failure_in_a_later_chunk_writes_nothing(self):
        """The chunks are one transaction: when the database refuses a row of the third
        chunk (a trigger planted for this tenant), the call fails and the two chunks
        already written, and their events, are rolled back."""
        t = tenant()
        p = programme(t)
        harness.psql(STACK.super_url, """
            CREATE FUNCTION enrolment.test_refuse_row() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.external_id = 'refused-by-the-database' THEN
                    RAISE EXCEPTION 'planted by the test';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_refuse_row BEFORE INSERT ON enrolment.participants
                FOR EACH ROW EXECUTE FUNCTION enrolment.test_refuse_row();""")
        try:
            rows = [person("lc%05d" % i) for i in range(4500)]
            rows[4100].external_id = "refused-by-the-database"
            err = fail("BatchEnrol", P.BatchEnrolRequest(programme_id=p.id, participants=rows),
                       P.BatchEnrolResponse, t, timeout=120)
        finally:
            harness.psql(STACK.super_url, "DROP TRIGGER test_refuse_row ON enrolment.participants;"
                         " DROP FUNCTION enrolment.test_refuse_row()")
        self.assertNotEqual(err.code(), grpc.StatusCode.OK)
        assert_nothing_written(self, t, p, events_before=0)

    def test_a_batch_past_its_deadline_is_rolled_back(self):
        """Each statement's timeout is the time left at BEGIN, and every chunk fits it:
        the batch checks the call's deadline between statements and rolls back once it
        has passed, rather than commit for a caller that was told DEADLINE_EXCEEDED. The
        deadline is a third of what the same batch took without one (measured first):
        mid-write, or before the write began; never as late as the commit."""
        t = tenant()
        rows = [person("dl%05d" % i) for i in range(9000)]
        timed = programme(t)
        t0 = time.monotonic()
        rpc("BatchEnrol", P.BatchEnrolRequest(programme_id=timed.id, participants=rows),
            P.BatchEnrolResponse, t, timeout=120)
        took = time.monotonic() - t0
        p = programme(t)
        err = fail("BatchEnrol", P.BatchEnrolRequest(programme_id=p.id, participants=rows),
                   P.BatchEnrolResponse, t, timeout=took / 3)
        self.assertEqual(err.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        # The service goes on until the statement in flight answers: wait for its
        # connections to be idle, then nothing of the call may be there.
        busy = "1"
        for _ in range(600):
            busy = harness.psql(STACK.super_url, "SELECT count(*) FROM pg_stat_activity"
                                " WHERE usename = 'tandem_enrolment' AND state <> 'idle'")
            if busy == "0":
                break
            time.sleep(0.1)
        self.assertEqual(busy, "0")
        assert_nothing_written(self, t, p, events_before=9000)  # the first batch's events

    def test_a_malformed_row_refuses_the_whole_batch(self):
        """Rows are decoded one at a time after the request: bytes that are not a
        Participant in any row refuse the call (INVALID_ARGUMENT) and write nothing."""
        t = tenant()
        p = programme(t)
        good = person("mal1").SerializeToString()
        bad = b"\x1a\x10ab"  # external_id of 16 bytes, 2 given
        field = lambda b: b"\x12" + bytes([len(b)]) + b  # noqa: E731
        body = P.BatchEnrolRequest(programme_id=p.id).SerializeToString() + field(good) + field(bad)
        md = harness.Stack.context(t)
        ch = STACK.channel("enrolment")
        try:
            call = ch.unary_unary(SVC + "BatchEnrol", request_serializer=lambda b: b,
                                  response_deserializer=P.BatchEnrolResponse.FromString)
            with self.assertRaises(grpc.RpcError) as e:
                call(body, metadata=md, timeout=60)
        finally:
            ch.close()
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        listed = rpc("ListParticipants", P.ListParticipantsRequest(programme_id=p.id),
                     P.ListParticipantsResponse, t)
        self.assertEqual(len(listed.participants), 0)

    def test_idempotent_replay_and_conflict(self):
        t = tenant()
        p = programme(t)
        key = uuid.uuid4().hex
        a = enrol(t, p.id, person("i1"), idem=key)
        b = enrol(t, p.id, person("i1"), idem=key)
        self.assertEqual(a.id, b.id)
        e = fail("Enrol", P.EnrolRequest(programme_id=p.id, participant=person("i2")),
                 P.Participant, t, idem=key)
        self.assertEqual(e.code(), grpc.StatusCode.ABORTED)
        # Another tenant may use the same key freely.
        t2 = tenant()
        p2 = programme(t2)
        c = enrol(t2, p2.id, person("i1"), idem=key)
        self.assertNotEqual(c.id, a.id)

    def test_concurrent_duplicates_create_once(self):
        t = tenant()
        p = programme(t)
        key = uuid.uuid4().hex
        results = []

        def go():
            results.append(enrol(t, p.id, person("c1"), idem=key).id)
        threads = [threading.Thread(target=go) for _ in range(5)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(len(set(results)), 1)


class PersonDataTest(unittest.TestCase):
    def test_export_and_erase(self):
        t = tenant()
        p1, p2 = programme(t), programme(t, name="Second")
        a = enrol(t, p1.id, person("gdpr1", display_name="Ada Lovelace",
                                   email="ada@example.org"))
        b = enrol(t, p2.id, person("gdpr1", display_name="Ada Lovelace",
                                   email="ada@example.org"))
        ex = rpc("ExportPerson", P.ExportPersonRequest(external_id="gdpr1"), P.PersonExport, t)
        self.assertEqual({x.id for x in ex.participants}, {a.id, b.id})
        e = fail("ExportPerson", P.ExportPersonRequest(external_id="gdpr1"), P.PersonExport, t,
                 scopes=0x6)
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        del PEER_CALLS[:]
        er = rpc("ErasePerson", P.ErasePersonRequest(external_id="gdpr1"),
                 P.ErasePersonResponse, t)
        self.assertEqual(er.enrolment.participants, 2)
        self.assertEqual(sorted(PEER_CALLS[0][1]), sorted([a.id, b.id]))
        for prog in (p1, p2):
            r = rpc("ListParticipants", P.ListParticipantsRequest(programme_id=prog.id),
                    P.ListParticipantsResponse, t)
            self.assertNotIn("Ada Lovelace", str(r))
            self.assertNotIn("ada@example.org", str(r))
        e = fail("ExportPerson", P.ExportPersonRequest(external_id="gdpr1"), P.PersonExport, t)
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        held = harness.psql(STACK.super_url, "SELECT count(*) FROM enrolment.participants "
                            "WHERE display_name = 'Ada Lovelace' OR email = 'ada@example.org'")
        self.assertEqual(held, "0")
        audit = harness.psql(STACK.super_url, "SELECT action FROM enrolment.person_data_audit "
                             "WHERE tenant_id = '%s' ORDER BY create_time" % t)
        self.assertEqual(audit.split(), ["export", "erase"])
        denied = harness.psql(STACK.url("tandem_enrolment"),
                              "DELETE FROM enrolment.person_data_audit", check=False)
        self.assertEqual(denied, "")

    def test_unknown_person_not_found(self):
        e = fail("ErasePerson", P.ErasePersonRequest(external_id="nobody"),
                 P.ErasePersonResponse, tenant())
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)


if __name__ == "__main__":
    unittest.main()
