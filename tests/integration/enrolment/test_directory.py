"""The people directory (tandem.internal.v1.DirectoryService) against real PostgreSQL
and the real tandem-enrolment: what a directory change does to the participants it
governs, in the same transaction.

One Stack (scratch database + tandem-enrolment) per module. The SCIM front of the
gateway, and matches ending on deprovisioning, are tested end to end in
tests/integration/scim.
"""
import json
import os
import sys
import threading
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

import grpc  # noqa: E402
from google.protobuf import empty_pb2, field_mask_pb2, wrappers_pb2  # noqa: E402
from tandem.v1 import common_pb2, enrolment_pb2  # noqa: E402
from tandem.internal.v1 import directory_pb2  # noqa: E402

P = enrolment_pb2
D = directory_pb2
STACK = None
SCOPE_SCIM = 128
SCOPE_ENROLMENT = 2 | 4


def call(service, method, req, resp_type, tenant, scopes=harness.ALL_SCOPES):
    ch = STACK.channel("enrolment")
    try:
        rpc = ch.unary_unary("/%s/%s" % (service, method),
                             request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=resp_type.FromString)
        return rpc(req, metadata=harness.Stack.context(tenant, scopes=scopes), timeout=60)
    finally:
        ch.close()


def enrolment(method, req, resp_type, tenant, **kw):
    return call("tandem.v1.EnrolmentService", method, req, resp_type, tenant, **kw)


def directory(method, req, resp_type, tenant, **kw):
    return call("tandem.internal.v1.DirectoryService", method, req, resp_type, tenant, **kw)


def refused(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except grpc.RpcError as e:
        return e
    raise AssertionError("the call succeeded")


def setUpModule():
    global STACK
    STACK = harness.Stack("directory")
    STACK.start("enrolment")


def tearDownModule():
    if STACK is not None:
        STACK.close()


def tenant():
    return str(uuid.uuid4())


def programme(t, status=P.Programme.ENROLLING):
    return enrolment("CreateProgramme", P.CreateProgrammeRequest(
        programme=P.Programme(name="Reverse mentoring", kind=P.REVERSE, status=status)),
        P.Programme, t)


def close(t, prog_id):
    enrolment("UpdateProgramme", P.UpdateProgrammeRequest(
        programme=P.Programme(id=prog_id, status=P.Programme.CLOSED),
        update_mask=field_mask_pb2.FieldMask(paths=["status"])), P.Programme, t)


def enrol(t, prog_id, ext, role=common_pb2.MENTOR, **kw):
    part = P.Participant(external_id=ext, display_name=kw.pop("display_name", "HR " + ext),
                         role=role, **kw)
    return enrolment("Enrol", P.EnrolRequest(programme_id=prog_id, participant=part),
                     P.Participant, t)


def participant(t, pid):
    return enrolment("GetParticipant", P.GetParticipantRequest(id=pid), P.Participant, t)


def create(t, user_name, **kw):
    return directory("CreatePerson", D.CreatePersonRequest(
        person=D.Person(user_name=user_name, **kw)), D.Person, t)


def replace(t, person, if_version=0):
    return directory("ReplacePerson", D.ReplacePersonRequest(person=person, if_version=if_version),
                     D.Person, t)


def events(t, type_, resource_id):
    out = harness.psql(STACK.super_url,
                       "SELECT payload::text FROM enrolment.outbox WHERE tenant_id = '%s'"
                       " AND type = '%s' AND resource_id = '%s' ORDER BY seq" %
                       (t, type_, resource_id))
    return [json.loads(line) for line in out.splitlines() if line.strip()]


class DirectoryTest(unittest.TestCase):
    def test_create_get_list_and_uniqueness(self):
        t = tenant()
        p = create(t, "Ada@Firm.example", external_id="E1", given_name="Ada",
                   family_name="Lovelace", emails=[D.PersonEmail(value="ada@firm.example",
                                                                 type="work", primary=True)])
        self.assertEqual(p.version, 1)
        self.assertTrue(p.active.value)
        self.assertEqual(p.person_key, "E1")
        got = directory("GetPerson", D.GetPersonRequest(id=p.id), D.Person, t)
        self.assertEqual(got.family_name, "Lovelace")
        self.assertEqual(got.emails[0].value, "ada@firm.example")
        found = directory("ListPeople", D.ListPeopleRequest(user_name="ada@firm.EXAMPLE"),
                          D.ListPeopleResponse, t)
        self.assertEqual([x.id for x in found.people], [p.id])
        # userName is unique without regard to case; so is the key.
        e = refused(create, t, "ADA@firm.example")
        self.assertEqual(e.code(), grpc.StatusCode.ALREADY_EXISTS)
        e = refused(create, t, "other", external_id="E1")
        self.assertEqual(e.code(), grpc.StatusCode.ALREADY_EXISTS)
        # Another tenant sees nothing.
        e = refused(directory, "GetPerson", D.GetPersonRequest(id=p.id), D.Person, tenant())
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)

    def test_scope_scim_is_needed(self):
        t = tenant()
        e = refused(
            directory, "CreatePerson", D.CreatePersonRequest(person=D.Person(user_name="x")),
            D.Person, t, scopes=SCOPE_ENROLMENT)
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        p = directory("CreatePerson", D.CreatePersonRequest(person=D.Person(user_name="x")),
                      D.Person, t, scopes=SCOPE_SCIM)
        self.assertEqual(p.user_name, "x")

    def test_bad_values_name_their_fields(self):
        t = tenant()
        e = refused(create, t, "", emails=[D.PersonEmail(value="nope")],
                    seniority_level=wrappers_pb2.Int32Value(value=11), timezone="Mars/Base",
                    manager_id="not-a-uuid")
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        for field in ("person.user_name", "person.emails[0].value", "person.seniority_level",
                      "person.timezone", "person.manager_id"):
            self.assertIn(field, e.details() + str(e.trailing_metadata()))
        e = refused(create, t, "y", manager_id=str(uuid.uuid4()))
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("manager", e.details())

    def test_enrolment_fills_the_profile_from_the_directory(self):
        t = tenant()
        boss = create(t, "boss", external_id="B")
        p = create(t, "ada", external_id="A", display_name="Ada Lovelace", department="Tech",
                   office="London", practice_area="IP", manager_id=boss.id,
                   seniority_level=wrappers_pb2.Int32Value(value=2),
                   emails=[D.PersonEmail(value="home@ada.example", type="home"),
                           D.PersonEmail(value="ada@firm.example", type="work")])
        prog = programme(t)
        part = enrol(t, prog.id, "A", office="Paris", email="hr@firm.example",
                     reporting_chain=["X"])
        self.assertEqual(part.display_name, "Ada Lovelace")
        self.assertEqual(part.office, "London")
        self.assertEqual(part.email, "ada@firm.example")  # the work address
        self.assertEqual(part.department, "Tech")
        self.assertEqual(part.seniority_level, 2)
        self.assertEqual(list(part.reporting_chain), ["B"])
        self.assertEqual(participant(t, part.id).office, "London")
        # Someone the directory does not hold keeps what the HR platform sent.
        other = enrol(t, prog.id, "Z", office="Paris")
        self.assertEqual(other.office, "Paris")
        del p

    def test_changes_reach_participants_with_events(self):
        t = tenant()
        p = create(t, "ada", office="London")
        open_prog, closed_prog = programme(t), programme(t)
        live = enrol(t, open_prog.id, "ada")
        frozen = enrol(t, closed_prog.id, "ada")
        close(t, closed_prog.id)
        p.office = "Leeds"
        p2 = replace(t, p, if_version=p.version)
        self.assertEqual(p2.version, p.version + 1)
        self.assertEqual(participant(t, live.id).office, "Leeds")
        self.assertEqual(participant(t, frozen.id).office, "London")  # CLOSED: untouched
        ev = events(t, "participant.updated", live.id)
        self.assertEqual(len(ev), 1)
        self.assertEqual(ev[0]["participant"]["office"], "Leeds")
        # A replace that changes nothing a participant holds emits nothing.
        p2.title = "Trainee"
        replace(t, p2)
        self.assertEqual(len(events(t, "participant.updated", live.id)), 1)
        # A stale If-Match version changes nothing.
        p2.office = "York"
        e = refused(replace, t, p2, if_version=p.version)
        self.assertEqual(e.code(), grpc.StatusCode.ABORTED)
        self.assertEqual(participant(t, live.id).office, "Leeds")

    def test_manager_links_make_reporting_chains_and_refuse_cycles(self):
        t = tenant()
        a = create(t, "a")
        b = create(t, "b", manager_id=a.id)
        c = create(t, "c", manager_id=b.id)
        prog = programme(t)
        pc = enrol(t, prog.id, "c")
        pb = enrol(t, prog.id, "b")
        self.assertEqual(list(pc.reporting_chain), ["b", "a"])
        # a under c would close a cycle; a under itself too.
        a.manager_id = c.id
        e = refused(replace, t, a)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("cycle", e.details())
        a.manager_id = a.id
        self.assertEqual(refused(replace, t, a).code(), grpc.StatusCode.INVALID_ARGUMENT)
        # A new top manager reaches everyone below.
        top = create(t, "top")
        a.manager_id = top.id
        replace(t, a)
        self.assertEqual(list(participant(t, pc.id).reporting_chain), ["b", "a", "top"])
        self.assertEqual(list(participant(t, pb.id).reporting_chain), ["a", "top"])
        # Deleting a manager unlinks their reports.
        directory("DeletePerson", D.DeletePersonRequest(id=b.id), empty_pb2.Empty, t)
        self.assertEqual(list(participant(t, pc.id).reporting_chain), [])
        self.assertEqual(participant(t, pb.id).status, P.Participant.WITHDRAWN)

    def test_deactivation_withdraws_from_open_programmes(self):
        t = tenant()
        p = create(t, "leaver", external_id="L")
        prog, closed_prog = programme(t), programme(t)
        part = enrol(t, prog.id, "L")
        frozen = enrol(t, closed_prog.id, "L")
        close(t, closed_prog.id)
        p.active.value = False
        p2 = replace(t, p)
        self.assertFalse(p2.active.value)
        got = participant(t, part.id)
        self.assertEqual(got.status, P.Participant.WITHDRAWN)
        self.assertEqual(got.withdraw_reason, "deprovisioned")
        self.assertEqual(participant(t, frozen.id).status, P.Participant.ENROLLED)
        self.assertEqual(len(events(t, "participant.withdrawn", part.id)), 1)
        # A deprovisioned person cannot be enrolled again...
        e = refused(enrol, t, programme(t).id, "L")
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)
        # ...and in a batch only their row is refused.
        prog3 = programme(t)
        res = enrolment("BatchEnrol", P.BatchEnrolRequest(programme_id=prog3.id, participants=[
            P.Participant(external_id="L", display_name="x", role=common_pb2.MENTOR),
            P.Participant(external_id="N", display_name="y", role=common_pb2.MENTEE)]),
            P.BatchEnrolResponse, t)
        self.assertEqual(res.results[0].error.code, grpc.StatusCode.FAILED_PRECONDITION.value[0])
        self.assertEqual(res.results[1].participant.external_id, "N")

    def test_concurrent_links_never_close_a_cycle(self):
        """Two people made each other's manager at the same moment: at most one wins."""
        t = tenant()
        channels = [STACK.channel("enrolment") for _ in range(2)]
        stubs = [ch.unary_unary("/tandem.internal.v1.DirectoryService/ReplacePerson",
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=D.Person.FromString) for ch in channels]
        try:
            for round_ in range(40):
                a = create(t, "a%d" % round_)
                b = create(t, "b%d" % round_)
                a.manager_id, b.manager_id = b.id, a.id
                outcome = {}
                barrier = threading.Barrier(2)

                def link(i, p):
                    barrier.wait()
                    try:
                        stubs[i](D.ReplacePersonRequest(person=p), timeout=30,
                                 metadata=harness.Stack.context(t))
                        outcome[p.id] = "ok"
                    except grpc.RpcError as e:
                        outcome[p.id] = e.code()

                threads = [threading.Thread(target=link, args=(i, p))
                           for i, p in enumerate((a, b))]
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
                got_a = directory("GetPerson", D.GetPersonRequest(id=a.id), D.Person, t)
                got_b = directory("GetPerson", D.GetPersonRequest(id=b.id), D.Person, t)
                self.assertFalse(got_a.manager_id == b.id and got_b.manager_id == a.id,
                                 "a cycle was stored in round %d: %s" % (round_, outcome))
                for v in outcome.values():
                    self.assertIn(v, ("ok", grpc.StatusCode.INVALID_ARGUMENT,
                                      grpc.StatusCode.ABORTED))
        finally:
            for ch in channels:
                ch.close()

    def test_erasure_removes_the_directory_entry(self):
        t = tenant()
        boss = create(t, "boss@firm.example", external_id="ERASE-B")
        report = create(t, "report@firm.example", manager_id=boss.id)
        enrol(t, programme(t).id, "ERASE-B")
        # Matching and feedback are not running here: enrolment erases its own part
        # and says the rest must be retried.
        e = refused(enrolment, "ErasePerson", P.ErasePersonRequest(external_id="ERASE-B"),
                    P.ErasePersonResponse, t)
        self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE)
        e = refused(directory, "GetPerson", D.GetPersonRequest(id=boss.id), D.Person, t)
        self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
        left = directory("GetPerson", D.GetPersonRequest(id=report.id), D.Person, t)
        self.assertEqual(left.manager_id, "")
        held = harness.psql(STACK.super_url, "SELECT count(*) FROM enrolment.people"
                            " WHERE person_key = 'ERASE-B' OR user_name = 'boss@firm.example'")
        self.assertEqual(held.strip(), "0")


if __name__ == "__main__":
    unittest.main()
