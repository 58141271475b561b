/*
 * json_path.c - field names and dotted field paths: the JSON name of a field (protoc's
 * rule, since protobuf-c's descriptors carry no json_name), finding a field by either
 * name, and setting a field named by a dotted path from text, the way grpc-gateway
 * binds path variables ("{programme.id}") and query parameters ("?pageSize=10").
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "json_internal.h"

const char *tdm_json_field_name(const ProtobufCFieldDescriptor *field, char *buf, size_t cap)
{
    size_t o = 0;
    bool upper = false;
    for (const char *c = field->name; *c != '\0'; c++) {
        if (*c == '_') {
            upper = true;
            continue;
        }
        if (o + 1 >= cap)
            return NULL;
        buf[o++] = upper ? (char)toupper((unsigned char)*c) : *c;
        upper = false;
    }
    if (cap == 0)
        return NULL;
    buf[o] = '\0';
    return buf;
}

/* Whether name[0..len) is the JSON name of proto_name, without building it. */
static bool json_name_equals(const char *proto_name, const char *name, size_t len)
{
    size_t i = 0;
    bool upper = false;
    for (const char *c = proto_name; *c != '\0'; c++) {
        if (*c == '_') {
            upper = true;
            continue;
        }
        char want = upper ? (char)toupper((unsigned char)*c) : *c;
        upper = false;
        if (i >= len || name[i] != want)
            return false;
        i++;
    }
    return i == len;
}

const ProtobufCFieldDescriptor *tdm_json_find_field(const ProtobufCMessageDescriptor *desc,
                                                    const char *name, size_t len)
{
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0)
            return f;
    }
    for (unsigned i = 0; i < desc->n_fields; i++)
        if (json_name_equals(desc->fields[i].name, name, len))
            return &desc->fields[i];
    return NULL;
}

ProtobufCMessage *tdm_json_message_new(const ProtobufCMessageDescriptor *desc, tdm_arena *arena)
{
    ProtobufCMessage *msg = tdm_arena_alloc(arena, desc->sizeof_message);
    if (msg != NULL)
        protobuf_c_message_init(desc, msg);
    return msg;
}

static bool settable_from_text(const ProtobufCMessageDescriptor *desc)
{
    tdm_json_wkt wkt = tdm_json_wkt_of(desc);
    return wkt == TDM_JSON_WKT_TIMESTAMP || wkt == TDM_JSON_WKT_DURATION ||
           wkt == TDM_JSON_WKT_FIELD_MASK || wkt == TDM_JSON_WKT_WRAPPER;
}

/* Set the last field of the path. `path` is the proto-name path, for refusals. */
static tdm_status *set_leaf(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                            const char *path, const char *value, tdm_arena *arena)
{
    size_t len = strlen(value);
    const char *why;
    if (tdm_json_is_map_field(f) ||
        (f->type == PROTOBUF_C_TYPE_MESSAGE && !settable_from_text(f->descriptor)) ||
        (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label == PROTOBUF_C_LABEL_REPEATED))
        return tdm_json_refusal(path, "cannot be set from a path or query parameter");
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        void *slot = tdm_json_append_element(msg, f, arena);
        if (slot == NULL)
            return tdm_json_refusal(path, "too many values");
        why = tdm_json_set_scalar_from_text(f, slot, value, len, arena);
        if (why != NULL) /* take the half-set element back */
            (*(size_t *)tdm_json_member(msg, f->quantifier_offset))--;
        return why == NULL ? NULL : tdm_json_refusal(path, "%s", why);
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t which = *(const uint32_t *)tdm_json_member(msg, f->quantifier_offset);
        if (which != 0 && which != f->id)
            return tdm_json_refusal(path, "only one field of its oneof may be set");
        if (which != f->id && f->type == PROTOBUF_C_TYPE_MESSAGE)
            *(ProtobufCMessage **)tdm_json_member(msg, f->offset) = NULL;
    }
    void *slot = tdm_json_member(msg, f->offset);
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage **sub = slot;
        if (*sub == NULL)
            *sub = tdm_json_message_new(f->descriptor, arena);
        if (*sub == NULL)
            return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
        why = tdm_json_set_wkt_from_text(*sub, value, len, arena);
    } else {
        why = tdm_json_set_scalar_from_text(f, slot, value, len, arena);
    }
    if (why != NULL)
        return tdm_json_refusal(path, "%s", why);
    tdm_json_mark_present(msg, f);
    return NULL;
}

tdm_status *tdm_json_set_field_path(ProtobufCMessage *msg, const char *dotted_path,
                                    const char *value, tdm_arena *arena)
{
    char path[TDM_JSON_MAX_PATH_BYTES];
    size_t path_len = 0;
    path[0] = '\0';
    ProtobufCMessage *cur = msg;
    const char *seg = dotted_path;
    for (;;) {
        const char *dot = strchr(seg, '.');
        size_t seg_len = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
        const ProtobufCFieldDescriptor *f = tdm_json_find_field(cur->descriptor, seg, seg_len);
        const char *name = f != NULL ? f->name : seg;
        int name_len = f != NULL ? (int)strlen(f->name) : (int)(seg_len > 64 ? 64 : seg_len);
        int n = snprintf(path + path_len, sizeof path - path_len, "%s%.*s", path_len > 0 ? "." : "",
                         name_len, name);
        if (n > 0)
            path_len = path_len + (size_t)n < sizeof path ? path_len + (size_t)n : sizeof path - 1;
        if (f == NULL)
            return tdm_json_refusal(path, "unknown field \"%.*s\"", name_len, seg);
        if (dot == NULL)
            return set_leaf(cur, f, path, value, arena);
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED ||
            tdm_json_wkt_of(f->descriptor) != TDM_JSON_WKT_NONE)
            return tdm_json_refusal(path, "has no field \"%s\"", dot + 1);
        ProtobufCMessage **sub = tdm_json_member(cur, f->offset);
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)tdm_json_member(cur, f->quantifier_offset) != f->id) {
            if (*(const uint32_t *)tdm_json_member(cur, f->quantifier_offset) != 0)
                return tdm_json_refusal(path, "only one field of its oneof may be set");
            *sub = NULL;
        }
        if (*sub == NULL)
            *sub = tdm_json_message_new(f->descriptor, arena);
        if (*sub == NULL)
            return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
        tdm_json_mark_present(cur, f);
        cur = *sub;
        seg = dot + 1;
    }
}
