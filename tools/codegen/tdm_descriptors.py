"""Reading Tandem's descriptor set for the build-time generators.

The set comes from `protoc --include_imports --include_source_info` (proto/CMakeLists.txt).
Extensions in options (google.api.http on methods, google.api.field_behavior on fields)
are resolved through a descriptor pool built from the set itself, so nothing depends on
where the generated Python modules of google/api/*.proto live.
"""

import re
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

API_PACKAGE = "tandem.v1"
HTTP_VERBS = ("get", "put", "post", "delete", "patch")

# Which service owns each scope prefix (API.md, "Credentials").
SERVICE_OWNERS = {
    "EnrolmentService": "enrolment",
    "MatchingService": "matching",
    "FeedbackService": "feedback",
    "TenantService": "tenant",
    "WebhookService": "webhook",
}
ADMIN_METHODS = {"ExportPerson", "ErasePerson"}
ADMIN_SERVICES = {"WebhookService"}
PLATFORM_SERVICES = {"TenantService"}
PLATFORM_EXCEPTIONS = {"GetTenant", "GetTenantUsage"}
# Methods of other services that only platform keys may call (API.md, "Programme
# templates, benchmarks and usage"): they act for no tenant.
PLATFORM_METHODS = {"CreateProgrammeTemplate", "GetProgrammeTemplate",
                    "ListProgrammeTemplates", "UpdateProgrammeTemplate", "GetTemplateBenchmark"}
BATCH_METHODS = {"BatchEnrol"}


class Route:
    """One REST binding of one gRPC method."""

    def __init__(self, file, service, method, verb, path, body):
        self.file = file
        self.service = service
        self.method = method
        self.method_index = list(service.method).index(method)
        self.verb = verb.upper()
        self.path = path
        self.body = body

    @property
    def grpc_path(self):
        return "/%s.%s/%s" % (self.file.package, self.service.name, self.method.name)

    @property
    def scope(self):
        service, method = self.service.name, self.method.name
        if service in ADMIN_SERVICES or method in ADMIN_METHODS:
            return "admin"
        if service in PLATFORM_SERVICES and method not in PLATFORM_EXCEPTIONS:
            return "platform"
        if method in PLATFORM_METHODS:
            return "platform"
        owner = SERVICE_OWNERS.get(service, re.sub(r"Service$", "", service).lower())
        return owner + (":read" if self.verb == "GET" else ":write")

    def idempotency_key(self, comments):
        name = self.method.name
        comment = comments.method(self.file, self.service, self.method)
        return (name.startswith(("Create", "Start", "Batch"))
                or "Idempotency-Key" in comment)

    @property
    def max_request_bytes(self):
        if self.method.name in BATCH_METHODS:
            return "TDM_REST_MAX_BATCH_BYTES"
        return "TDM_REST_MAX_REQUEST_BYTES"

    @property
    def variables(self):
        return re.findall(r"\{([A-Za-z0-9_.]+)(?:=[^}]*)?\}", self.path)


class DescriptorSet:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.fds = descriptor_pb2.FileDescriptorSet.FromString(f.read())
        self.pool = descriptor_pool.DescriptorPool()
        for file in self.fds.file:
            self.pool.Add(file)
        factory = message_factory.MessageFactory(self.pool)
        self._method_options = factory.GetPrototype(
            self.pool.FindMessageTypeByName("google.protobuf.MethodOptions"))
        self._field_options = factory.GetPrototype(
            self.pool.FindMessageTypeByName("google.protobuf.FieldOptions"))
        self._http = self.pool.FindExtensionByName("google.api.http")
        try:
            self._behavior = self.pool.FindExtensionByName("google.api.field_behavior")
        except KeyError:
            self._behavior = None
        self.messages = {}  # full name -> (file, DescriptorProto, source path)
        self.enums = {}     # full name -> (file, EnumDescriptorProto, source path)
        for file in self.fds.file:
            self._index(file, file.package, file.message_type, file.enum_type, ())
        self.comments = Comments(self.fds)

    def _index(self, file, scope, messages, enums, path):
        for i, e in enumerate(enums):
            src = path + ((5, i) if not path else (4, i))
            self.enums["%s.%s" % (scope, e.name)] = (file, e, src)
        for i, m in enumerate(messages):
            src = path + ((4, i) if not path else (3, i))
            name = "%s.%s" % (scope, m.name)
            self.messages[name] = (file, m, src)
            self._index(file, name, m.nested_type, m.enum_type, src)

    def routes(self):
        out = []
        for file in self.fds.file:
            if file.package != API_PACKAGE:
                continue
            for service in file.service:
                for method in service.method:
                    opts = self._method_options.FromString(method.options.SerializeToString())
                    if not opts.HasExtension(self._http):
                        continue
                    rule = opts.Extensions[self._http]
                    for binding in [rule] + list(rule.additional_bindings):
                        kind = binding.WhichOneof("pattern")
                        if kind is None:
                            continue
                        if kind == "custom":
                            verb, path = binding.custom.kind, binding.custom.path
                        else:
                            verb, path = kind, getattr(binding, kind)
                        out.append(Route(file, service, method, verb, path, binding.body))
        return out

    def field_behaviors(self, field):
        if self._behavior is None:
            return []
        opts = self._field_options.FromString(field.options.SerializeToString())
        values = opts.Extensions[self._behavior]
        enum = self._behavior.enum_type
        return [enum.values_by_number[v].name for v in values if v in enum.values_by_number]


class Comments:
    """Leading comments by source path, per file."""

    def __init__(self, fds):
        self.by_file = {}
        for file in fds.file:
            table = {}
            for loc in file.source_code_info.location:
                if loc.leading_comments:
                    table[tuple(loc.path)] = clean_comment(loc.leading_comments)
            self.by_file[file.name] = table

    def at(self, file, path):
        return self.by_file.get(file.name, {}).get(tuple(path), "")

    def method(self, file, service, method):
        s = list(file.service).index(service)
        m = list(service.method).index(method)
        return self.at(file, (6, s, 2, m))


def clean_comment(text):
    lines = [line[1:] if line.startswith(" ") else line for line in text.strip("\n").split("\n")]
    return "\n".join(lines).strip()


def c_symbol(full_name):
    """protoc-c's name of a descriptor: tandem.v1.EnrolmentService -> tandem__v1__enrolment_service."""
    parts = full_name.split(".")
    out = []
    for part in parts:
        lowered = part[0].lower() + "".join("_" + c.lower() if c.isupper() else c for c in part[1:])
        out.append(lowered)
    return "__".join(out)


def die(message):
    sys.stderr.write("codegen: %s\n" % message)
    sys.exit(1)
