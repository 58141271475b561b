/*
 * json_encode.c - protobuf-c message -> JSON, by the proto3 canonical JSON mapping, and
 * the compact serialiser the gateway writes every JSON body with.
 *
 * Output follows protobuf's own encoders: fields in descriptor order under their
 * lowerCamelCase names, values equal to their proto3 default left out, 64-bit integers
 * as decimal strings, enums by name (by number when the name is unknown to this
 * build), non-finite floats as "NaN"/"Infinity"/"-Infinity", and the well-known types
 * in their special forms. Numbers are written in their shortest round-trip form, which
 * jansson's own dumper does not do (it prints 0.1 as 0.10000000000000001).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* JSON values nest at most this deep when serialised (decoded documents stop at 64,
 * encoded messages at TDM_JSON_MAX_ENCODE_DEPTH, each level of which may add two). */
#define DUMP_MAX_DEPTH (2 * TDM_JSON_MAX_ENCODE_DEPTH + 8)
/* Longest field name written as a JSON key without a heap copy. */
#define JSON_NAME_STACK_BYTES 128

static json_t *encode_message(const ProtobufCMessage *msg, int depth);

static json_t *string_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *string_printf(const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return json_string(buf);
}

/* A float's shortest decimal form, as the double that prints the same (0.1f -> 0.1). */
static double float_as_shortest_double(float v)
{
    char buf[32];
    for (int precision = 1; precision <= 9; precision++) {
        snprintf(buf, sizeof buf, "%.*g", precision, (double)v);
        double d = strtod(buf, NULL);
        if ((float)d == v)
            return d;
    }
    return (double)v;
}

static json_t *encode_double(double v)
{
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

static json_t *encode_enum(const ProtobufCEnumDescriptor *ed, int v)
{
    if (strcmp(ed->name, "google.protobuf.NullValue") == 0)
        return json_null();
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
    return ev != NULL ? json_string(ev->name) : json_integer(v);
}

/* One value of field f's type from slot. */
static json_t *encode_value(const ProtobufCFieldDescriptor *f, const void *slot, int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)slot);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)slot);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return string_printf("%" PRId64, *(const int64_t *)slot);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return string_printf("%" PRIu64, *(const uint64_t *)slot);
    case PROTOBUF_C_TYPE_FLOAT: {
        float v = *(const float *)slot;
        return isfinite(v) ? json_real(float_as_shortest_double(v)) : encode_double(v);
    }
    case PROTOBUF_C_TYPE_DOUBLE:
        return encode_double(*(const double *)slot);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)slot);
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)slot;
        return json_string(s != NULL ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = slot;
        char *text = tdm_json_base64_encode(b->data, b->len);
        if (text == NULL)
            return NULL;
        json_t *out = json_string(text);
        free(text);
        return out;
    }
    case PROTOBUF_C_TYPE_ENUM:
        return encode_enum(f->descriptor, *(const int *)slot);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)slot;
        if (sub == NULL) /* only a broken message has NULL elements; show the default */
            return tdm_json_wkt_of(f->descriptor) == TDM_JSON_WKT_VALUE ? json_null()
                                                                        : json_object();
        return encode_message(sub, depth + 1);
    }
    }
    return NULL;
}

static json_t *encode_repeated(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                               int depth)
{
    size_t n = *(const size_t *)tdm_json_member(msg, f->quantifier_offset);
    const char *array = *(const void *const *)tdm_json_member(msg, f->offset);
    size_t size = tdm_json_element_size(f->type);
    json_t *out = json_array();
    for (size_t i = 0; out != NULL && i < n; i++) {
        if (json_array_append_new(out, encode_value(f, array + i * size, depth)) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

static json_t *encode_map_key(const ProtobufCFieldDescriptor *kf, const void *slot)
{
    if (kf->type == PROTOBUF_C_TYPE_STRING)
        return NULL; /* the caller uses the string itself */
    if (kf->type == PROTOBUF_C_TYPE_BOOL)
        return json_string(*(const protobuf_c_boolean *)slot ? "true" : "false");
    json_t *v = encode_value(kf, slot, 0);
    if (json_is_integer(v)) {
        json_t *s = string_printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        json_decref(v);
        return s;
    }
    return v;
}

static json_t *encode_map(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, int depth)
{
    size_t n = *(const size_t *)tdm_json_member(msg, f->quantifier_offset);
    const ProtobufCMessage *const *entries = *(const void *const *)tdm_json_member(msg, f->offset);
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    json_t *out = json_object();
    for (size_t i = 0; out != NULL && i < n; i++) {
        const ProtobufCMessage *entry = entries[i];
        if (entry == NULL)
            continue;
        const void *key_slot = tdm_json_member(entry, ed->fields[0].offset);
        json_t *key = encode_map_key(&ed->fields[0], key_slot);
        const char *key_text =
            key != NULL ? json_string_value(key) : *(const char *const *)key_slot;
        json_t *value =
            encode_value(&ed->fields[1], tdm_json_member(entry, ed->fields[1].offset), depth);
        int rc = key_text != NULL ? json_object_set_new(out, key_text, value) : -1;
        if (key_text == NULL)
            json_decref(value);
        json_decref(key);
        if (rc != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

static json_t *encode_field_mask(const ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *f = tdm_json_field_named(msg->descriptor, "paths");
    if (f == NULL)
        return NULL;
    size_t n = *(const size_t *)tdm_json_member(msg, f->quantifier_offset);
    const char *const *paths = *(const void *const *)tdm_json_member(msg, f->offset);
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(paths[i]) + 1;
    char *text = malloc(total);
    if (text == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            text[o++] = ',';
        for (const char *c = paths[i]; *c != '\0'; c++) {
            if (c[0] == '_' && c[1] >= 'a' && c[1] <= 'z')
                text[o++] = (char)(*++c - 'a' + 'A');
            else
                text[o++] = *c;
        }
    }
    text[o] = '\0';
    json_t *out = json_string(text);
    free(text);
    return out;
}

static json_t *encode_seconds_nanos(const ProtobufCMessage *msg, bool timestamp)
{
    const ProtobufCFieldDescriptor *fs = tdm_json_field_named(msg->descriptor, "seconds");
    const ProtobufCFieldDescriptor *fn = tdm_json_field_named(msg->descriptor, "nanos");
    if (fs == NULL || fn == NULL)
        return NULL;
    int64_t seconds = *(const int64_t *)tdm_json_member(msg, fs->offset);
    int32_t nanos = *(const int32_t *)tdm_json_member(msg, fn->offset);
    char text[40];
    bool ok = timestamp ? tdm_json_format_timestamp(seconds, nanos, text)
                        : tdm_json_format_duration(seconds, nanos, text);
    return ok ? json_string(text) : NULL;
}

/* google.protobuf.Value: whichever member of its oneof is set. */
static json_t *encode_struct_value(const ProtobufCMessage *msg, int depth)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (!tdm_json_field_present(msg, f))
            continue;
        const void *slot = tdm_json_member(msg, f->offset);
        if (f->type == PROTOBUF_C_TYPE_DOUBLE && !isfinite(*(const double *)slot))
            return NULL; /* JSON has no such number, and a string would change its type */
        return encode_value(f, slot, depth);
    }
    return json_null();
}

static json_t *encode_fields(const ProtobufCMessage *msg, int depth)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    json_t *out = json_object();
    for (unsigned i = 0; out != NULL && i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        json_t *value = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (*(const size_t *)tdm_json_member(msg, f->quantifier_offset) == 0)
                continue;
            value = tdm_json_is_map_field(f) ? encode_map(msg, f, depth)
                                             : encode_repeated(msg, f, depth);
        } else {
            if (!tdm_json_field_present(msg, f))
                continue;
            value = encode_value(f, tdm_json_member(msg, f->offset), depth);
        }
        char stack_name[JSON_NAME_STACK_BYTES];
        char *heap_name = NULL;
        const char *name = tdm_json_field_name(f, stack_name, sizeof stack_name);
        if (name == NULL) {
            size_t cap = strlen(f->name) + 1;
            heap_name = malloc(cap);
            name = heap_name != NULL ? tdm_json_field_name(f, heap_name, cap) : NULL;
        }
        int rc = value != NULL && name != NULL ? json_object_set_new(out, name, value) : -1;
        if (rc != 0 && name == NULL)
            json_decref(value);
        free(heap_name);
        if (rc != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

static json_t *encode_message(const ProtobufCMessage *msg, int depth)
{
    if (depth > TDM_JSON_MAX_ENCODE_DEPTH)
        return NULL;
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    const ProtobufCFieldDescriptor *f;
    switch (tdm_json_wkt_of(desc)) {
    case TDM_JSON_WKT_TIMESTAMP:
        return encode_seconds_nanos(msg, true);
    case TDM_JSON_WKT_DURATION:
        return encode_seconds_nanos(msg, false);
    case TDM_JSON_WKT_FIELD_MASK:
        return encode_field_mask(msg);
    case TDM_JSON_WKT_WRAPPER:
        f = tdm_json_field_named(desc, "value");
        return f != NULL ? encode_value(f, tdm_json_member(msg, f->offset), depth) : NULL;
    case TDM_JSON_WKT_STRUCT:
        f = tdm_json_field_named(desc, "fields");
        return f != NULL ? encode_map(msg, f, depth) : NULL;
    case TDM_JSON_WKT_LIST_VALUE:
        f = tdm_json_field_named(desc, "values");
        return f != NULL ? encode_repeated(msg, f, depth) : NULL;
    case TDM_JSON_WKT_VALUE:
        return encode_struct_value(msg, depth);
    case TDM_JSON_WKT_EMPTY:
    case TDM_JSON_WKT_ANY:
    case TDM_JSON_WKT_NONE:
        break;
    }
    return encode_fields(msg, depth);
}

json_t *tdm_json_encode_value(const ProtobufCMessage *msg)
{
    return msg != NULL ? encode_message(msg, 0) : NULL;
}

char *tdm_json_encode(const ProtobufCMessage *msg, tdm_arena *arena, size_t *len)
{
    json_t *value = tdm_json_encode_value(msg);
    if (value == NULL)
        return NULL;
    char *text = tdm_json_dump(value, arena, len);
    json_decref(value);
    return text;
}

/* ---- the serialiser ------------------------------------------------------------- */

typedef struct out_buf {
    char *data;
    size_t len, cap;
    bool failed;
} out_buf;

static void put(out_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void put_string(out_buf *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    size_t run = 0; /* bytes copied verbatim, flushed before each escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char hex[8];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            if (c < 0x20) {
                snprintf(hex, sizeof hex, "\\u%04x", c);
                esc = hex;
            }
            break;
        }
        if (esc == NULL) {
            run++;
            continue;
        }
        put(b, s + i - run, run);
        run = 0;
        put(b, esc, strlen(esc));
    }
    put(b, s + n - run, run);
    put(b, "\"", 1);
}

static void put_real(out_buf *b, double v)
{
    char buf[40];
    int n = 0;
    /* Whole numbers print as integers (20, not 2e+01, which %g's shortest form
     * gives); every integer below 2^53 is exact in a double. */
    if (v == 0 && signbit(v)) {
        put(b, "-0.0", 4); /* "-0" would read back as the integer 0, losing the sign */
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        n = snprintf(buf, sizeof buf, "%.0f", v);
        put(b, buf, (size_t)n);
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        n = snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    put(b, buf, (size_t)n);
}

static void put_value(out_buf *b, const json_t *v, int depth)
{
    char buf[32];
    if (depth > DUMP_MAX_DEPTH) {
        b->failed = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *item;
        bool first = true;
        put(b, "{", 1);
        json_object_foreach((json_t *)v, key, item)
        {
            if (!first)
                put(b, ",", 1);
            first = false;
            put_string(b, key, strlen(key));
            put(b, ":", 1);
            put_value(b, item, depth + 1);
        }
        put(b, "}", 1);
        break;
    }
    case JSON_ARRAY:
        put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                put(b, ",", 1);
            put_value(b, json_array_get(v, i), depth + 1);
        }
        put(b, "]", 1);
        break;
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: {
        int n = snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        put(b, buf, (size_t)n);
        break;
    }
    case JSON_REAL:
        put_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        put(b, "true", 4);
        break;
    case JSON_FALSE:
        put(b, "false", 5);
        break;
    case JSON_NULL:
        put(b, "null", 4);
        break;
    }
}

char *tdm_json_dump(const json_t *value, tdm_arena *arena, size_t *len)
{
    out_buf b = {.data = NULL, .len = 0, .cap = 0, .failed = value == NULL};
    if (value != NULL)
        put_value(&b, value, 0);
    char *text = NULL;
    if (!b.failed) {
        b.data[b.len] = '\0';
        text = tdm_arena_memdup(arena, b.data, b.len + 1);
        if (text != NULL && len != NULL)
            *len = b.len;
    }
    free(b.data);
    return text;
}
