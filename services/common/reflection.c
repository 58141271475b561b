/*
 * reflection.c - gRPC server reflection (grpc.reflection.v1alpha and v1, whose
 * messages are wire-identical), answered from the FileDescriptorSet embedded at
 * build time (tandem/descriptor_set.h), so generic tools (grpcurl, grpc_cli,
 * Postman) can list Tandem's services and call them. Off when opts.reflection is.
 *
 * The requests and responses are protobuf-c messages; the descriptor set itself is
 * walked with a minimal wire-format reader, because protobuf-c's runtime does not
 * include descriptor.proto's generated code and reflection only needs names: file
 * name, package, dependencies, and the symbols each file defines.
 */
#include <stdio.h>
#include <string.h>

#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "tandem/descriptor_set.h"
#include "transport_internal.h"

#define REFLECTION_V1ALPHA "grpc.reflection.v1alpha.ServerReflection"
#define REFLECTION_V1      "grpc.reflection.v1.ServerReflection"
#define SYMBOL_MAX_BYTES   512u
#define MAX_FILES          256u

/* ---- Wire reader ------------------------------------------------------------------------ */

typedef struct wire {
    const uint8_t *p, *end;
} wire;

typedef struct wire_field {
    uint32_t number;
    uint32_t type;
    uint64_t varint;
    const uint8_t *data; /* length-delimited */
    size_t len;
} wire_field;

static int wire_varint(wire *w, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (w->p >= w->end)
            return -1;
        uint8_t b = *w->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Next field, or 1 at the end, -1 when malformed. */
static int wire_next(wire *w, wire_field *f)
{
    if (w->p >= w->end)
        return 1;
    uint64_t key;
    if (wire_varint(w, &key) != 0)
        return -1;
    f->number = (uint32_t)(key >> 3);
    f->type = (uint32_t)(key & 7);
    switch (f->type) {
    case 0:
        return wire_varint(w, &f->varint);
    case 1:
        if (w->end - w->p < 8)
            return -1;
        w->p += 8;
        return 0;
    case 2:
        if (wire_varint(w, &f->varint) != 0 || f->varint > (uint64_t)(w->end - w->p))
            return -1;
        f->data = w->p;
        f->len = (size_t)f->varint;
        w->p += f->len;
        return 0;
    case 5:
        if (w->end - w->p < 4)
            return -1;
        w->p += 4;
        return 0;
    default:
        return -1;
    }
}

/* ---- The descriptor set ---------------------------------------------------------------- */

typedef struct desc_file {
    const uint8_t *data;
    size_t len;
    const uint8_t *name;
    size_t name_len;
    const uint8_t *package;
    size_t package_len;
} desc_file;

static size_t load_files(desc_file *files, size_t max)
{
    wire w = {tdm_descriptor_set, tdm_descriptor_set + tdm_descriptor_set_len};
    wire_field f = {0};
    size_t n = 0;
    while (n < max && wire_next(&w, &f) == 0) {
        if (f.number != 1 || f.type != 2)
            continue;
        desc_file *df = &files[n++];
        memset(df, 0, sizeof(*df));
        df->data = f.data;
        df->len = f.len;
        wire fw = {f.data, f.data + f.len};
        wire_field g = {0};
        while (wire_next(&fw, &g) == 0) {
            if (g.type != 2)
                continue;
            if (g.number == 1) {
                df->name = g.data;
                df->name_len = g.len;
            } else if (g.number == 2) {
                df->package = g.data;
                df->package_len = g.len;
            }
        }
    }
    return n;
}

/* Does `sym` equal scope + "." + name? */
static bool scoped_eq(const char *scope, size_t scope_len, const uint8_t *name, size_t name_len,
                      const char *sym)
{
    size_t sl = strlen(sym);
    if (scope_len == 0)
        return sl == name_len && memcmp(sym, name, name_len) == 0;
    return sl == scope_len + 1 + name_len && memcmp(sym, scope, scope_len) == 0 &&
           sym[scope_len] == '.' && memcmp(sym + scope_len + 1, name, name_len) == 0;
}

static const uint8_t *field_name(const uint8_t *data, size_t len, size_t *name_len)
{
    wire w = {data, data + len};
    wire_field f = {0};
    while (wire_next(&w, &f) == 0) {
        if (f.number == 1 && f.type == 2) {
            *name_len = f.len;
            return f.data;
        }
    }
    *name_len = 0;
    return NULL;
}

/* "<scope>.<name>" (or name alone at the top) into out (SYMBOL_MAX_BYTES): its
 * length, or -1 when it does not fit. */
static int scope_join(char *out, const char *scope, size_t scope_len, const uint8_t *name,
                      size_t nlen)
{
    int n = snprintf(out, SYMBOL_MAX_BYTES, "%.*s%s%.*s", (int)scope_len, scope,
                     scope_len > 0 ? "." : "", (int)nlen, (const char *)name);
    return n < 0 || (size_t)n >= SYMBOL_MAX_BYTES ? -1 : n;
}

/* A DescriptorProto (message) or its nested messages and enums define sym? */
static bool message_defines(const uint8_t *data, size_t len, const char *scope, size_t scope_len,
                            const char *sym)
{
    size_t nlen;
    const uint8_t *name = field_name(data, len, &nlen);
    if (name == NULL || scoped_eq(scope, scope_len, name, nlen, sym))
        return name != NULL;
    char inner[SYMBOL_MAX_BYTES];
    int il = scope_join(inner, scope, scope_len, name, nlen);
    if (il < 0)
        return false;
    wire w = {data, data + len};
    wire_field f = {0};
    while (wire_next(&w, &f) == 0) {
        if (f.type != 2)
            continue;
        if (f.number == 3 && message_defines(f.data, f.len, inner, (size_t)il, sym))
            return true;
        if (f.number == 4) { /* enum_type */
            size_t elen;
            const uint8_t *ename = field_name(f.data, f.len, &elen);
            if (ename != NULL && scoped_eq(inner, (size_t)il, ename, elen, sym))
                return true;
        }
    }
    return false;
}

static bool service_defines(const uint8_t *data, size_t len, const char *scope, size_t scope_len,
                            const char *sym)
{
    size_t nlen;
    const uint8_t *name = field_name(data, len, &nlen);
    if (name == NULL)
        return false;
    if (scoped_eq(scope, scope_len, name, nlen, sym))
        return true;
    char inner[SYMBOL_MAX_BYTES];
    int il = scope_join(inner, scope, scope_len, name, nlen);
    if (il < 0)
        return false;
    wire w = {data, data + len};
    wire_field f = {0};
    while (wire_next(&w, &f) == 0) {
        if (f.number != 2 || f.type != 2)
            continue;
        size_t mlen;
        const uint8_t *mname = field_name(f.data, f.len, &mlen);
        if (mname != NULL && scoped_eq(inner, (size_t)il, mname, mlen, sym))
            return true;
    }
    return false;
}

static bool file_defines(const desc_file *df, const char *sym)
{
    const char *scope = (const char *)df->package;
    size_t scope_len = df->package_len;
    wire w = {df->data, df->data + df->len};
    wire_field f = {0};
    while (wire_next(&w, &f) == 0) {
        if (f.type != 2)
            continue;
        if (f.number == 4 && message_defines(f.data, f.len, scope, scope_len, sym))
            return true;
        if (f.number == 5) {
            size_t elen;
            const uint8_t *ename = field_name(f.data, f.len, &elen);
            if (ename != NULL && scoped_eq(scope, scope_len, ename, elen, sym))
                return true;
        }
        if (f.number == 6 && service_defines(f.data, f.len, scope, scope_len, sym))
            return true;
    }
    return false;
}

static ssize_t file_index(const desc_file *files, size_t n, const uint8_t *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (files[i].name_len == len && memcmp(files[i].name, name, len) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* The file and, depth first, every file it imports (each once). */
static void collect_files(const desc_file *files, size_t n, size_t i, bool *seen,
                          ProtobufCBinaryData *out, size_t *n_out)
{
    if (seen[i])
        return;
    seen[i] = true;
    out[(*n_out)++] = (ProtobufCBinaryData){files[i].len, (uint8_t *)files[i].data};
    wire w = {files[i].data, files[i].data + files[i].len};
    wire_field f = {0};
    while (wire_next(&w, &f) == 0) {
        if (f.number != 3 || f.type != 2)
            continue;
        ssize_t d = file_index(files, n, f.data, f.len);
        if (d >= 0)
            collect_files(files, n, (size_t)d, seen, out, n_out);
    }
}

/* ---- The service ------------------------------------------------------------------------------
 */

static void answer_files(tdm_h2_stream *s,
                         Grpc__Reflection__V1alpha__ServerReflectionResponse *resp, ssize_t found,
                         const desc_file *files, size_t n,
                         Grpc__Reflection__V1alpha__FileDescriptorResponse *fdr,
                         Grpc__Reflection__V1alpha__ErrorResponse *err)
{
    if (found < 0) {
        err->error_code = TDM_NOT_FOUND;
        err->error_message = (char *)"not found";
        resp->message_response_case =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
        resp->error_response = err;
        return;
    }
    bool *seen = tdm_arena_calloc(s->arena, n, sizeof(*seen));
    ProtobufCBinaryData *out = tdm_arena_calloc(s->arena, n, sizeof(*out));
    if (seen == NULL || out == NULL) {
        err->error_code = TDM_RESOURCE_EXHAUSTED;
        err->error_message = (char *)"out of memory";
        resp->message_response_case =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
        resp->error_response = err;
        return;
    }
    size_t n_out = 0;
    collect_files(files, n, (size_t)found, seen, out, &n_out);
    fdr->n_file_descriptor_proto = n_out;
    fdr->file_descriptor_proto = out;
    resp->message_response_case =
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    resp->file_descriptor_response = fdr;
}

static void reflection_on_message(tdm_h2_stream *s, const uint8_t *msg, size_t len)
{
    if (s->out_finished)
        return;
    Grpc__Reflection__V1alpha__ServerReflectionRequest *req =
        grpc__reflection__v1alpha__server_reflection_request__unpack(
            tdm_arena_protobuf_allocator(s->arena), len, msg);
    if (req == NULL) {
        tdm_call_metrics(s->srv, s->service_label, s->method_label, TDM_INVALID_ARGUMENT,
                         s->start_ns);
        tdm_h2_grpc_finish(s, TDM_INVALID_ARGUMENT, "invalid ServerReflectionRequest", NULL);
        return;
    }
    static desc_file files[MAX_FILES];
    size_t n = load_files(files, MAX_FILES);

    Grpc__Reflection__V1alpha__ServerReflectionResponse resp =
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__INIT;
    Grpc__Reflection__V1alpha__FileDescriptorResponse fdr =
        GRPC__REFLECTION__V1ALPHA__FILE_DESCRIPTOR_RESPONSE__INIT;
    Grpc__Reflection__V1alpha__ListServiceResponse lsr =
        GRPC__REFLECTION__V1ALPHA__LIST_SERVICE_RESPONSE__INIT;
    Grpc__Reflection__V1alpha__ExtensionNumberResponse enr =
        GRPC__REFLECTION__V1ALPHA__EXTENSION_NUMBER_RESPONSE__INIT;
    Grpc__Reflection__V1alpha__ErrorResponse err = GRPC__REFLECTION__V1ALPHA__ERROR_RESPONSE__INIT;
    resp.valid_host = req->host != NULL ? req->host : (char *)"";
    resp.original_request = req;

    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES: {
        const tdm_server *srv = s->srv;
        const char *builtins[8];
        size_t nb = tdm_builtin_service_names(srv, builtins, 8);
        size_t total = srv->n_services + nb;
        Grpc__Reflection__V1alpha__ServiceResponse *sr =
            tdm_arena_calloc(s->arena, total + 1, sizeof(*sr));
        Grpc__Reflection__V1alpha__ServiceResponse **srp =
            tdm_arena_calloc(s->arena, total + 1, sizeof(*srp));
        if (sr == NULL || srp == NULL)
            break;
        for (size_t i = 0; i < total; i++) {
            grpc__reflection__v1alpha__service_response__init(&sr[i]);
            sr[i].name = (char *)(i < srv->n_services ? srv->services[i].def->descriptor->name
                                                      : builtins[i - srv->n_services]);
            srp[i] = &sr[i];
        }
        lsr.n_service = total;
        lsr.service = srp;
        resp.message_response_case =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
        resp.list_services_response = &lsr;
        break;
    }
    case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME: {
        const char *name = req->file_by_filename;
        answer_files(s, &resp, file_index(files, n, (const uint8_t *)name, strlen(name)), files, n,
                     &fdr, &err);
        break;
    }
    case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL: {
        ssize_t found = -1;
        for (size_t i = 0; i < n && found < 0; i++) {
            if (file_defines(&files[i], req->file_containing_symbol))
                found = (ssize_t)i;
        }
        answer_files(s, &resp, found, files, n, &fdr, &err);
        break;
    }
    case GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        /* Tandem declares no extensions: an empty list for any type. */
        enr.base_type_name = req->all_extension_numbers_of_type;
        resp.message_response_case =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
        resp.all_extension_numbers_response = &enr;
        break;
    default:
        err.error_code = TDM_NOT_FOUND;
        err.error_message = (char *)"not found";
        resp.message_response_case =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
        resp.error_response = &err;
        break;
    }
    if (resp.message_response_case ==
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE__NOT_SET) {
        err.error_code = TDM_RESOURCE_EXHAUSTED;
        err.error_message = (char *)"out of memory";
        resp.message_response_case =
            GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
        resp.error_response = &err;
    }
    size_t size = grpc__reflection__v1alpha__server_reflection_response__get_packed_size(&resp);
    uint8_t *buf = tdm_arena_alloc(s->arena, size + 1);
    if (buf == NULL) {
        tdm_h2_grpc_finish(s, TDM_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return;
    }
    grpc__reflection__v1alpha__server_reflection_response__pack(&resp, buf);
    tdm_h2_grpc_append(s, buf, size, true);
}

static void reflection_on_end(tdm_h2_stream *s)
{
    if (s->out_finished)
        return;
    tdm_call_metrics(s->srv, s->service_label, s->method_label, TDM_OK, s->start_ns);
    tdm_h2_grpc_finish(s, TDM_OK, NULL, NULL);
}

const tdm_builtin_method tdm_reflection_methods[2] = {
    {.path = "/" REFLECTION_V1ALPHA "/ServerReflectionInfo",
     .service = REFLECTION_V1ALPHA,
     .method = "ServerReflectionInfo",
     .on_message = reflection_on_message,
     .on_end = reflection_on_end,
     .reflection = true},
    {.path = "/" REFLECTION_V1 "/ServerReflectionInfo",
     .service = REFLECTION_V1,
     .method = "ServerReflectionInfo",
     .on_message = reflection_on_message,
     .on_end = reflection_on_end,
     .reflection = true},
};
