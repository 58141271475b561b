#!/usr/bin/python3
"""Generate the OpenAPI 3.1 document of Tandem's REST API from the descriptor set.

usage: gen_openapi.py <descriptor set> <out openapi.json> <out openapi.c>

Every route of gen_routes.py becomes an operation with its path, query and header
parameters, its request body (the route's body field, or the whole request) and its
response, under the proto3 JSON mapping (lowerCamelCase names, int64 as strings, enums
by name, Timestamps as date-time strings). Schemas come from the message descriptors,
with the proto comments as descriptions. The document is also written as a C array
(tdm_openapi_json, tdm_openapi_json_len in tandem/rest_routes.h) for GET /openapi.json.

What client generators and linters (Redocly's recommended rules) need is decided
here, never per method, so new RPCs are documented without edits: one path item per
path, with path parameters named for clients (path_parameter_names; the route table
keeps the proto field paths, x-tandem-field links the two), operationIds that are
the method names in lowerCamelCase, the errors each route can answer, the bearer and
tenant security schemes, servers, licence and one tag per service. Two bindings that
would share a path and method fail the build. tests/contract checks the result.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tdm_descriptors as d  # noqa: E402
from google.protobuf import descriptor_pb2  # noqa: E402

F = descriptor_pb2.FieldDescriptorProto

# The licence the document states (info.license). The repository has no LICENSE file
# yet; Apache-2.0 is that of the googleapis and grpc protos it builds on. Change it
# here, in one place, when the project states its own.
LICENSE = {"name": "Apache License 2.0", "identifier": "Apache-2.0"}
# Where a generated client sends its calls. Tandem is self-hosted, so there is no one
# public address: the first server is the deployment's gateway (scheme and host set
# by whoever generates or configures the client; by default the local stack of
# ./deploy/up.sh), the second "/" is the gateway that served this document.
SERVERS = [
    {"url": "{scheme}://{host}",
     "description": "A deployment's tandem-gateway",
     "variables": {
         "scheme": {"default": "http", "enum": ["http", "https"]},
         "host": {"default": "localhost:8080",
                  "description": "host:port of the gateway (TANDEM_LISTEN)"}}},
    {"url": "/", "description": "the gateway that served this document"},
]
# Query parameters are listed down to this depth of nested messages.
QUERY_MAX_DEPTH = 3

SCALARS = {
    F.TYPE_INT32: {"type": "integer", "format": "int32"},
    F.TYPE_SINT32: {"type": "integer", "format": "int32"},
    F.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    F.TYPE_UINT32: {"type": "integer", "format": "uint32", "minimum": 0},
    F.TYPE_FIXED32: {"type": "integer", "format": "uint32", "minimum": 0},
    F.TYPE_INT64: {"type": "string", "format": "int64"},
    F.TYPE_SINT64: {"type": "string", "format": "int64"},
    F.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    F.TYPE_UINT64: {"type": "string", "format": "uint64"},
    F.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    F.TYPE_FLOAT: {"type": "number", "format": "float"},
    F.TYPE_DOUBLE: {"type": "number", "format": "double"},
    F.TYPE_BOOL: {"type": "boolean"},
    F.TYPE_STRING: {"type": "string"},
    F.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}

WELL_KNOWN = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time",
                                  "description": "RFC 3339, e.g. 2025-01-31T09:30:00Z"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
                                 "description": "Seconds with an s suffix, e.g. 1.5s"},
    "google.protobuf.FieldMask": {"type": "string",
                                  "description": "Comma-separated lowerCamelCase field paths"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Any": {"type": "object"},
    "google.protobuf.Int32Value": {"type": ["integer", "null"], "format": "int32"},
    "google.protobuf.UInt32Value": {"type": ["integer", "null"], "format": "uint32"},
    "google.protobuf.Int64Value": {"type": ["string", "null"], "format": "int64"},
    "google.protobuf.UInt64Value": {"type": ["string", "null"], "format": "uint64"},
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BytesValue": {"type": ["string", "null"], "contentEncoding": "base64"},
    "google.protobuf.FloatValue": {"type": ["number", "null"], "format": "float"},
    "google.protobuf.DoubleValue": {"type": ["number", "null"], "format": "double"},
}
# Well-known types a query parameter or path variable can carry as text.
TEXT_WELL_KNOWN = {name for name in WELL_KNOWN
                   if name.endswith(("Timestamp", "Duration", "FieldMask", "Value"))
                   and name not in ("google.protobuf.Value", "google.protobuf.ListValue")}

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error (API.md, Errors): the gRPC status code number, a message "
                   "fit for the user, and the refused fields.",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "integer", "format": "int32",
                 "description": "gRPC status code (3 INVALID_ARGUMENT, 5 NOT_FOUND, ...)"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {
            "type": "object",
            "properties": {"field": {"type": "string"}, "description": {"type": "string"}},
        }},
    },
}


def schema_name(full_name):
    """The component name of a message or enum: tandem.v1 types by their name in the
    package (Programme, Programme.Status), so generated clients get classes named
    Programme rather than TandemV1Programme; other packages by their full name."""
    prefix = d.API_PACKAGE + "."
    if full_name.startswith(prefix) and full_name != prefix + "Error":
        return full_name[len(prefix):]
    return full_name


def json_name(field):
    if field.json_name:
        return field.json_name
    out, upper = [], False
    for c in field.name:
        if c == "_":
            upper = True
        else:
            out.append(c.upper() if upper else c)
            upper = False
    return "".join(out)


class Builder:
    def __init__(self, ds):
        self.ds = ds
        self.schemas = {}

    def ref(self, full_name):
        return {"$ref": "#/components/schemas/" + schema_name(full_name)}

    def is_map(self, field):
        if field.label != F.LABEL_REPEATED or field.type != F.TYPE_MESSAGE:
            return None
        entry = self.ds.messages.get(field.type_name.lstrip("."))
        if entry and entry[1].options.map_entry:
            return entry[1]
        return None

    def type_schema(self, field):
        """The schema of one value of the field's type (no repetition)."""
        if field.type in SCALARS:
            return dict(SCALARS[field.type])
        name = field.type_name.lstrip(".")
        if field.type == F.TYPE_ENUM:
            self.add_enum(name)
            return self.ref(name)
        if name in WELL_KNOWN:
            return dict(WELL_KNOWN[name])
        self.add_message(name)
        return self.ref(name)

    def field_schema(self, field, file, path):
        entry = self.is_map(field)
        if entry is not None:
            schema = {"type": "object",
                      "additionalProperties": self.type_schema(entry.field[1])}
        elif field.label == F.LABEL_REPEATED:
            schema = {"type": "array", "items": self.type_schema(field)}
        else:
            schema = self.type_schema(field)
        comment = self.ds.comments.at(file, path)
        if comment:
            if "$ref" in schema:  # 3.1 allows siblings of $ref
                schema = {"$ref": schema["$ref"], "description": comment}
            else:
                schema["description"] = comment
        if "OUTPUT_ONLY" in self.ds.field_behaviors(field):
            schema["readOnly"] = True
        return schema

    def add_enum(self, name):
        if name in self.schemas:
            return
        file, enum, path = self.ds.enums[name]
        lines = []
        for i, value in enumerate(enum.value):
            comment = self.ds.comments.at(file, path + (2, i))
            if comment:
                lines.append("- %s: %s" % (value.name, comment.replace("\n", " ")))
        description = self.ds.comments.at(file, path)
        if lines:
            description = (description + "\n\n" if description else "") + "\n".join(lines)
        schema = {"type": "string", "enum": [v.name for v in enum.value]}
        if description:
            schema["description"] = description
        self.schemas[name] = schema

    def add_message(self, name):
        if name in self.schemas:
            return
        self.schemas[name] = {}  # placeholder: messages may refer to themselves
        self.schemas[name] = self.message_schema(name)

    def message_schema(self, name, omit=()):
        """The object schema of a message, without the fields named in omit."""
        file, message, path = self.ds.messages[name]
        properties, required = {}, []
        for i, field in enumerate(message.field):
            if field.name in omit:
                continue
            properties[json_name(field)] = self.field_schema(field, file, path + (2, i))
            if "REQUIRED" in self.ds.field_behaviors(field):
                required.append(json_name(field))
        schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        comment = self.ds.comments.at(file, path)
        if comment:
            schema["description"] = comment
        return schema

    def query_parameters(self, message_name, prefix, skip, depth, out):
        """Leaf fields of the request not given by path or body, as dotted names."""
        file, message, path = self.ds.messages[message_name]
        for i, field in enumerate(message.field):
            dotted = prefix + field.name
            if dotted in skip or self.is_map(field):
                continue
            type_name = field.type_name.lstrip(".")
            if field.type == F.TYPE_MESSAGE and type_name not in TEXT_WELL_KNOWN:
                if field.label != F.LABEL_REPEATED and depth < QUERY_MAX_DEPTH \
                        and type_name in self.ds.messages:
                    self.query_parameters(type_name, dotted + ".", skip, depth + 1, out)
                continue
            schema = self.field_schema(field, file, path + (2, i))
            description = schema.pop("description", None)
            param = {"name": ".".join(json_name_of(p) for p in dotted.split(".")),
                     "in": "query", "required": False, "schema": schema}
            if field.label == F.LABEL_REPEATED:
                param["explode"] = True
                param["style"] = "form"
            if description:
                param["description"] = description
            out.append(param)


def json_name_of(proto_name):
    return json_name(descriptor_pb2.FieldDescriptorProto(name=proto_name))


def field_by_path(ds, message_name, dotted):
    field = None
    for part in dotted.split("."):
        _, message, _ = ds.messages[message_name]
        field = next((f for f in message.field if f.name == part), None)
        if field is None:
            d.die("%s has no field %s" % (message_name, dotted))
        message_name = field.type_name.lstrip(".")
    return field


def summary(comment):
    """The first sentence of a comment, on one line."""
    flat = " ".join(comment.split())
    end = flat.find(". ")
    return flat[: end + 1] if end >= 0 else flat


def operation(builder, route, operation_id, path_names):
    ds = builder.ds
    method = route.method
    input_name = method.input_type.lstrip(".")
    output_name = method.output_type.lstrip(".")
    comment = ds.comments.method(route.file, route.service, method)
    op = {
        "operationId": operation_id,
        "tags": [route.service.name],
        "summary": summary(comment) or method.name,
        "description": scope_note(comment, route.scope),
        "x-grpc-method": route.grpc_path,
        "x-tandem-scope": route.scope,
        "parameters": [],
    }
    if route.scope == "platform":  # not tenant-scoped: the tenant header is meaningless
        op["security"] = [{"bearer": []}]
    for var, name in zip(route.variables, path_names):
        field = field_by_path(ds, input_name, var)
        schema = dict(SCALARS.get(field.type, {"type": "string"}))
        op["parameters"].append({
            "name": name, "in": "path", "required": True, "schema": schema,
            "description": "Sets `%s` of the request (%s)." % (var, input_name.split(".")[-1]),
            "x-tandem-field": var})
    if route.idempotency_key(ds.comments):
        op["parameters"].append({"$ref": "#/components/parameters/IdempotencyKey"})
    if route.body != "*":
        skip = set(route.variables) | ({route.body} if route.body else set())
        builder.query_parameters(input_name, "", skip, 0, op["parameters"])
    if not op["parameters"]:
        del op["parameters"]
    if route.body:
        if route.body == "*" and route.variables:
            # The whole request but the fields the path gives (the router sets them
            # from the path), so a client is not asked for them twice.
            body_schema = builder.message_schema(input_name, omit=set(route.variables))
            body_schema["title"] = schema_name(input_name)
        elif route.body == "*":
            builder.add_message(input_name)
            body_schema = builder.ref(input_name)
        else:
            body_schema = body_field_schema(builder, route, field_by_path(ds, input_name,
                                                                          route.body))
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": body_schema}}}
    if output_name in WELL_KNOWN:
        response_schema = dict(WELL_KNOWN[output_name])
    else:
        builder.add_message(output_name)
        response_schema = builder.ref(output_name)
    op["responses"] = {"200": {"description": "OK",
                               "content": {"application/json": {"schema": response_schema}}}}
    for status in error_statuses(route):
        op["responses"][status] = {"$ref": "#/components/responses/" + ERROR_RESPONSES[status][0]}
    op["responses"]["default"] = {"$ref": "#/components/responses/Error"}
    return op


def body_field_schema(builder, route, field):
    """The schema of a body that is one field of the request (the resource)."""
    type_name = field.type_name.lstrip(".")
    if route.verb != "PATCH" or field.type != F.TYPE_MESSAGE \
            or type_name not in builder.ds.messages:
        return builder.type_schema(field)
    # An update changes the fields its update_mask names and only those, so none of
    # the resource's fields is required in its body (a client changing the
    # description does not resend the name).
    schema = builder.message_schema(type_name)
    schema.pop("required", None)
    return schema


def scope_note(comment, scope):
    """The method's comment, and the credentials it needs unless the comment says."""
    if scope == "platform":
        note = "Needs a platform key."
    elif scope == "admin":
        note = "Needs the `admin` scope."
    else:
        note = "Needs the `%s` scope (or `admin`)." % scope
    if scope in comment or (scope == "platform" and "platform key" in comment.lower()):
        return comment
    return (comment + "\n\n" if comment else "") + note


# The error answers an operation documents (API.md, Errors), each a shared response
# with the Error body. Every call can be malformed (400), unauthenticated (401),
# refused its scope or tenant (403), rate limited (429) or meet a server or peer
# failure (500, 503, 504); which of the others apply follows from the route.
ERROR_RESPONSES = {
    "400": ("BadRequest", "INVALID_ARGUMENT, FAILED_PRECONDITION or OUT_OF_RANGE: the request "
                          "is malformed or not allowed in the current state; `details` names "
                          "each refused field."),
    "401": ("Unauthenticated", "UNAUTHENTICATED: the credentials are missing, malformed, "
                               "unknown, expired or revoked."),
    "403": ("PermissionDenied", "PERMISSION_DENIED: the key lacks the scope, or names a tenant "
                                "it may not act for."),
    "404": ("NotFound", "NOT_FOUND: the resource, or the tenant named in X-Tandem-Tenant, does "
                        "not exist (an object of another tenant is not found too)."),
    "409": ("Conflict", "ALREADY_EXISTS or ABORTED: a conflicting resource or concurrent "
                        "change, or an Idempotency-Key reused with another body."),
    "413": ("PayloadTooLarge", "RESOURCE_EXHAUSTED: the request is larger than the method's "
                               "limit (4 MiB; 32 MiB for BatchEnrol)."),
    "429": ("TooManyRequests", "RESOURCE_EXHAUSTED: over the key's rate limit, or too many "
                               "failed authentications from this address; retry after "
                               "Retry-After seconds."),
    "500": ("Internal", "INTERNAL: an unexpected server error."),
    "503": ("Unavailable", "UNAVAILABLE: a service or the database is unreachable; retry "
                           "with backoff."),
    "504": ("DeadlineExceeded", "DEADLINE_EXCEEDED: the call did not complete in time."),
}


def error_statuses(route):
    statuses = ["400", "401", "403"]
    if route.variables or route.scope != "platform":
        statuses.append("404")
    if route.verb != "GET":
        statuses.append("409")
    if route.body:
        statuses.append("413")
    return statuses + ["429", "500", "503", "504"]


def error_responses():
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    out = {"Error": {"description": "Any other error (gRPC status mapped onto HTTP, e.g. 499 "
                                    "CANCELLED, 501 UNIMPLEMENTED)",
                     "content": error_body}}
    for status, (name, description) in ERROR_RESPONSES.items():
        out[name] = {"description": description, "content": error_body}
        if status == "429":
            out[name]["headers"] = {"Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 0}}}
    return out


def singular(word):
    """The singular of a collection segment: programmes, matches, people, matchingRuns."""
    if word == "people":
        return "person"
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def snake(name):
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def path_parameter_names(route):
    """Names a generated client can use for the route's path variables.

    A variable naming the id of the resource that the collection segment before it
    lists is <singular>Id ("/programmes/{id}", "/programmes/{programme.id}" and
    "/programmes/{programme_id}/..." all read programmeId; "/matchingRuns/{run_id}"
    reads matchingRunId), so every route of one path agrees on its names and one path
    item holds them all. Any other variable is its field path in lowerCamelCase
    ("/people/{external_id}" reads externalId). The router still fills the field
    path of the route's template (x-tandem-field says which).
    """
    names = []
    for match in re.finditer(r"\{([A-Za-z0-9_.]+)(?:=[^}]*)?\}", route.path):
        field = match.group(1)
        collection = route.path[: match.start()].rstrip("/").split("/")[-1].split(":")[-1]
        owner = singular(collection) if re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", collection) \
            else ""
        leaf = field.split(".")[-1]
        if owner and (leaf == "id" or (leaf.endswith("_id") and
                                       snake(owner).endswith(leaf[: -len("_id")]))):
            name = owner + "Id"
        else:
            name = json_name_of(field.replace(".", "_"))
        if name in names:
            name = json_name_of(field.replace(".", "_"))
        if name in names:
            d.die("%s: two path variables read %s" % (route.path, name))
        names.append(name)
    return names


def public_path(route, names):
    parts = re.split(r"\{[A-Za-z0-9_.]+(?:=[^}]*)?\}", route.path)
    out = parts[0]
    for name, rest in zip(names, parts[1:]):
        out += "{%s}%s" % (name, rest)
    return out


def operation_ids(routes):
    """lowerCamelCase method names (createProgramme); a name two services share is
    qualified by its service (enrolmentGetThing), a method with several bindings is
    numbered from its second."""
    owners = {}
    for route in routes:
        owners.setdefault(route.method.name, set()).add(route.service.name)
    ids, seen = [], {}
    for route in routes:
        name = route.method.name
        if len(owners[name]) > 1:
            name = re.sub(r"Service$", "", route.service.name) + name
        name = name[0].lower() + name[1:]
        seen[name] = seen.get(name, 0) + 1
        ids.append(name if seen[name] == 1 else "%s%d" % (name, seen[name]))
    return ids


def tags(ds):
    out = []
    for file in ds.fds.file:
        if file.package != d.API_PACKAGE:
            continue
        for i, service in enumerate(file.service):
            if any(r.service is service for r in ds.routes()):
                out.append({"name": service.name,
                            "description": ds.comments.at(file, (6, i)) or service.name})
    return sorted(out, key=lambda t: t["name"])


def document(ds):
    builder = Builder(ds)
    routes = ds.routes()
    paths, fields_of = {}, {}
    for route, operation_id in zip(routes, operation_ids(routes)):
        names = path_parameter_names(route)
        path = public_path(route, names)
        verb = route.verb.lower()
        where = "%s (%s %s)" % (route.method.name, route.verb, route.path)
        if verb in paths.get(path, {}):
            d.die("%s and %s would both be %s %s in the OpenAPI document" %
                  (fields_of[(path, verb)], where, route.verb, path))
        fields_of[(path, verb)] = where
        paths.setdefault(path, {})[verb] = operation(builder, route, operation_id, names)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tandem API",
            "version": "v1",
            "description": "Mentoring programmes: enrolment, matching and feedback. JSON "
                           "follows the proto3 canonical JSON mapping. Every error answers "
                           "the Error body `{code, message, details}` with the HTTP status "
                           "of its gRPC code.",
            "license": LICENSE,
        },
        "servers": SERVERS,
        "tags": tags(ds),
        "security": [{"bearer": [], "tenant": []}, {"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "Authorization: Bearer <api key or participant "
                                          "token>"},
                "tenant": {"type": "apiKey", "in": "header", "name": "X-Tandem-Tenant",
                           "description": "The tenant (id or slug) a platform key acts for; "
                                          "required with a platform key on tenant-scoped "
                                          "routes, refused (403) from a tenant key naming "
                                          "another tenant."},
            },
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key", "in": "header", "required": False,
                    "schema": {"type": "string", "maxLength": 200},
                    "description": "The same key with the same body within 24 h returns "
                                   "the first response; with another body, 409.",
                },
            },
            "responses": error_responses(),
            "schemas": dict(sorted((schema_name(name), schema)
                                   for name, schema in builder.schemas.items()),
                            Error=ERROR_SCHEMA),
        },
    }


def main(argv):
    if len(argv) != 4:
        d.die("usage: gen_openapi.py <descriptor set> <out openapi.json> <out openapi.c>")
    doc = document(d.DescriptorSet(argv[1]))
    text = json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8")
    with open(argv[2], "wb") as f:
        f.write(text + b"\n")
    rows = []
    for i in range(0, len(text), 16):
        rows.append("    " + ", ".join("0x%02x" % b for b in text[i:i + 16]) + ",")
    with open(argv[3], "w") as f:
        f.write("/* Generated by tools/codegen/gen_openapi.py from the descriptor set; "
                "do not edit. */\n")
        f.write('#include "tandem/rest_routes.h"\n\n')
        f.write("const unsigned char tdm_openapi_json[] = {\n%s\n    0x00};\n" % "\n".join(rows))
        f.write("const size_t tdm_openapi_json_len = %d;\n" % len(text))


if __name__ == "__main__":
    main(sys.argv)
