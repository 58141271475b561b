"""tools/codegen/gen_openapi.py on methods the protos do not have yet.

Other changes add RPCs (GetSurvey, ListSurveys, GetCheckIn, UpdateWebhook, ...) to the
protos; the generator must document them without edits. This test adds such methods,
with their google.api.http options, to the build's descriptor set and checks that
they join the path items of their paths under the same parameter names, with
operationIds that read as method names, and that the generator refuses (fails the
build) when two bindings would share one path and method.

Run by ctest (tests/contract/CMakeLists.txt) with TANDEM_BUILD_DIR set.
"""
import os
import subprocess
import sys
import tempfile
import unittest

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("TANDEM_BUILD_DIR", os.path.join(SOURCE_DIR, "build", "test"))
CODEGEN = os.path.join(SOURCE_DIR, "tools", "codegen")
sys.path.insert(0, CODEGEN)
import gen_openapi  # noqa: E402
import tdm_descriptors as d  # noqa: E402

DESCRIPTOR_SET = os.path.join(BUILD_DIR, "proto", "tandem.desc")


def with_methods(methods):
    """The build's descriptor set with extra methods:
    (service, name, input, output, verb, path, body); a method the service already has
    is left as the protos define it (the test's expectations hold for both)."""
    ds = d.DescriptorSet(DESCRIPTOR_SET)
    rule_type = ds.pool.FindMessageTypeByName("google.api.HttpRule")
    from google.protobuf import message_factory
    factory = message_factory.MessageFactory(ds.pool)
    rule_class = factory.GetPrototype(rule_type)
    for service_name, name, input_type, output_type, verb, path, body in methods:
        service = next(s for f in ds.fds.file for s in f.service if s.name == service_name)
        if any(m.name == name for m in service.method):
            continue  # the protos have it by now: the generator documents the real one
        method = service.method.add(name=name, input_type=".tandem.v1." + input_type,
                                    output_type=".tandem.v1." + output_type)
        opts = ds._method_options()
        rule = opts.Extensions[ds._http]
        rule.CopyFrom(rule_class(**{verb: path, "body": body}))
        method.options.ParseFromString(opts.SerializeToString())
    out = tempfile.NamedTemporaryFile(suffix=".desc", delete=False)
    out.write(ds.fds.SerializeToString())
    out.close()
    return out.name


class NewMethodsTest(unittest.TestCase):
    def setUp(self):
        self.files = []

    def tearDown(self):
        for name in self.files:
            os.unlink(name)

    def document(self, methods):
        path = with_methods(methods)
        self.files.append(path)
        return gen_openapi.document(d.DescriptorSet(path))

    def test_new_methods_join_the_path_items_of_their_paths(self):
        doc = self.document([
            ("FeedbackService", "GetSurvey", "GetMatchRequest", "Survey", "get",
             "/v1/surveys/{id}", ""),
            ("FeedbackService", "ListSurveys", "GetProgrammeReportRequest", "Survey", "get",
             "/v1/programmes/{programme_id}/surveys", ""),
            ("FeedbackService", "GetCheckIn", "GetMatchRequest", "CheckIn", "get",
             "/v1/checkIns/{id}", ""),
            ("WebhookService", "UpdateWebhook", "CreateWebhookRequest", "Webhook", "patch",
             "/v1/webhooks/{webhook.id}", "webhook"),
        ])
        paths = doc["paths"]
        self.assertEqual(paths["/v1/surveys/{surveyId}"]["get"]["operationId"], "getSurvey")
        self.assertEqual(sorted(paths["/v1/programmes/{programmeId}/surveys"]),
                         ["get", "post"])
        self.assertEqual(paths["/v1/checkIns/{checkInId}"]["get"]["operationId"], "getCheckIn")
        webhook = paths["/v1/webhooks/{webhookId}"]
        self.assertEqual(sorted(webhook), ["delete", "patch"])
        self.assertEqual([(p["name"], p["x-tandem-field"]) for p in webhook["patch"]["parameters"]
                          if p.get("in") == "path"], [("webhookId", "webhook.id")])
        self.assertEqual([(p["name"], p["x-tandem-field"]) for p in webhook["delete"]["parameters"]
                          if p.get("in") == "path"], [("webhookId", "id")])
        for item in paths.values():
            for op in item.values():
                self.assertIn("default", op["responses"])
                self.assertTrue(any(s.startswith("4") for s in op["responses"]))
        ids = [op["operationId"] for item in paths.values() for op in item.values()]
        self.assertEqual(len(ids), len(set(ids)))

    def test_a_method_name_two_services_share_is_qualified(self):
        doc = self.document([
            ("MatchingService", "ListCheckIns", "GetMatchRequest", "Match", "get",
             "/v1/matches/{id}/pairCheckIns", ""),
        ])
        ids = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
        self.assertIn("matchingListCheckIns", ids)
        self.assertIn("feedbackListCheckIns", ids)
        self.assertNotIn("listCheckIns", ids)

    def test_two_bindings_of_one_path_and_method_fail_the_build(self):
        path = with_methods([
            ("MatchingService", "GetProgrammeAgain", "GetMatchingRunRequest", "MatchingRun", "get",
             "/v1/programmes/{id}", ""),
        ])
        self.files.append(path)
        with tempfile.TemporaryDirectory() as out:
            run = subprocess.run([sys.executable, os.path.join(CODEGEN, "gen_openapi.py"), path,
                                  os.path.join(out, "openapi.json"), os.path.join(out, "o.c")],
                                 capture_output=True, text=True)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("/v1/programmes/{programmeId}", run.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
