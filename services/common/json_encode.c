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
 *
 * A message is written straight into one growing buffer as its descriptor is walked,
 * with no jansson tree in between: a BatchEnrol response of 10,000 participants is
 * then a few reallocations instead of a few hundred thousand small allocations. The
 * text is what encoding through jansson and tdm_json_dump gave, byte for byte,
 * including its failures (a string that is not UTF-8 fails the whole message, as
 * json_string() refused it) and its handling of repeated map keys (one member, at
 * the place of the first, with the value of the last, as json_object_set_new left it).
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

/* ---- the serialiser ------------------------------------------------------------- */

typedef tdm_json_writer out_buf;

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

/* The inside of a JSON string: s[0..n) with '"', '\\' and control characters escaped. */
static void put_string_body(out_buf *b, const char *s, size_t n)
{
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
}

static void put_string(out_buf *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    put_string_body(b, s, n);
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

/* ---- messages, straight into the buffer ------------------------------------------ */

static void put_message(out_buf *b, const ProtobufCMessage *msg, int depth);

static void put_cstr(out_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* An integer's decimal digits, without printf's format parsing (the JSON of a
 * large batch writes hundreds of thousands of them). */
static void put_u64(out_buf *b, uint64_t v)
{
    char buf[20];
    size_t at = sizeof(buf);
    do {
        buf[--at] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(b, buf + at, sizeof(buf) - at);
}

static void put_i64(out_buf *b, int64_t v)
{
    if (v < 0) {
        put(b, "-", 1);
        put_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        put_u64(b, (uint64_t)v);
    }
}

/* A string value: text that is not UTF-8 fails the message (json_string's rule). */
static void put_text(out_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (!tdm_json_valid_utf8(s, n)) {
        b->failed = true;
        return;
    }
    put_string(b, s, n);
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

static void put_double(out_buf *b, double v)
{
    if (isnan(v))
        put_cstr(b, "\"NaN\"");
    else if (isinf(v))
        put_cstr(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else
        put_real(b, v);
}

static void put_enum(out_buf *b, const ProtobufCEnumDescriptor *ed, int v)
{
    if (strcmp(ed->name, "google.protobuf.NullValue") == 0) {
        put_cstr(b, "null");
        return;
    }
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
    if (ev != NULL)
        put_text(b, ev->name);
    else
        put_i64(b, v);
}

static void put_bytes(out_buf *b, const ProtobufCBinaryData *data)
{
    char *text = tdm_json_base64_encode(data->data, data->len);
    if (text == NULL) {
        b->failed = true;
        return;
    }
    put_string(b, text, strlen(text));
    free(text);
}

/* One value of field f's type from slot. */
static void put_field_value(out_buf *b, const ProtobufCFieldDescriptor *f, const void *slot,
                            int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        put_i64(b, *(const int32_t *)slot);
        return;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        put_u64(b, *(const uint32_t *)slot);
        return;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        put(b, "\"", 1);
        put_i64(b, *(const int64_t *)slot);
        put(b, "\"", 1);
        return;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        put(b, "\"", 1);
        put_u64(b, *(const uint64_t *)slot);
        put(b, "\"", 1);
        return;
    case PROTOBUF_C_TYPE_FLOAT: {
        float v = *(const float *)slot;
        put_double(b, isfinite(v) ? float_as_shortest_double(v) : (double)v);
        return;
    }
    case PROTOBUF_C_TYPE_DOUBLE:
        put_double(b, *(const double *)slot);
        return;
    case PROTOBUF_C_TYPE_BOOL:
        put_cstr(b, *(const protobuf_c_boolean *)slot ? "true" : "false");
        return;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)slot;
        put_text(b, s != NULL ? s : "");
        return;
    }
    case PROTOBUF_C_TYPE_BYTES:
        put_bytes(b, slot);
        return;
    case PROTOBUF_C_TYPE_ENUM:
        put_enum(b, f->descriptor, *(const int *)slot);
        return;
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)slot;
        if (sub == NULL) /* only a broken message has NULL elements; show the default */
            put_cstr(b, tdm_json_wkt_of(f->descriptor) == TDM_JSON_WKT_VALUE ? "null" : "{}");
        else
            put_message(b, sub, depth + 1);
        return;
    }
    }
    b->failed = true;
}

static void put_repeated(out_buf *b, const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                         int depth)
{
    size_t n = *(const size_t *)tdm_json_member(msg, f->quantifier_offset);
    const char *array = *(const void *const *)tdm_json_member(msg, f->offset);
    size_t size = tdm_json_element_size(f->type);
    put(b, "[", 1);
    for (size_t i = 0; i < n && !b->failed; i++) {
        if (i > 0)
            put(b, ",", 1);
        put_field_value(b, f, array + i * size, depth);
    }
    put(b, "]", 1);
}

/* A map key's text: the string itself, or a bool or integer in decimal, into buf (at
 * least 24 bytes). NULL for a key JSON cannot carry. */
static const char *map_key_text(const ProtobufCFieldDescriptor *kf, const void *slot, char *buf)
{
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)slot;
        return s != NULL && tdm_json_valid_utf8(s, strlen(s)) ? s : NULL;
    }
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)slot ? "true" : "false";
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(buf, 24, "%" PRId32, *(const int32_t *)slot);
        return buf;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        snprintf(buf, 24, "%" PRIu32, *(const uint32_t *)slot);
        return buf;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(buf, 24, "%" PRId64, *(const int64_t *)slot);
        return buf;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, 24, "%" PRIu64, *(const uint64_t *)slot);
        return buf;
    default:
        return NULL;
    }
}

typedef struct map_key {
    const char *text;
    size_t index;
} map_key;

static int map_key_cmp(const void *x, const void *y)
{
    const map_key *a = x, *b = y;
    int c = strcmp(a->text, b->text);
    if (c != 0)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

/*
 * A map as an object. Each key appears once, where it first appeared, with the value of
 * its last entry (a binary message may repeat a key; the last one wins, as protobuf
 * says). Every entry's value is still encoded once, so an entry whose value JSON cannot
 * carry fails the map even when a later one replaces it.
 */
static void put_map(out_buf *b, const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                    int depth)
{
    size_t n = *(const size_t *)tdm_json_member(msg, f->quantifier_offset);
    const ProtobufCMessage *const *entries = *(const void *const *)tdm_json_member(msg, f->offset);
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    map_key *keys = calloc(n > 0 ? n : 1, sizeof(*keys));
    /* winner[i]: for the first entry of a key, the entry whose value it shows; n for
     * every other entry (a repeat, checked and dropped). */
    size_t *winner = calloc(n > 0 ? n : 1, sizeof(*winner));
    char(*numbers)[24] = calloc(n > 0 ? n : 1, sizeof(*numbers));
    size_t n_keys = 0;
    if (keys == NULL || winner == NULL || numbers == NULL)
        b->failed = true;
    for (size_t i = 0; i < n && !b->failed; i++) {
        winner[i] = n;
        if (entries[i] == NULL)
            continue;
        const char *text = map_key_text(kf, tdm_json_member(entries[i], kf->offset), numbers[i]);
        if (text == NULL)
            b->failed = true;
        keys[n_keys++] = (map_key){.text = text, .index = i};
    }
    if (!b->failed && n_keys > 1)
        qsort(keys, n_keys, sizeof(*keys), map_key_cmp);
    for (size_t k = 0; k < n_keys && !b->failed; k++) {
        size_t last = k;
        while (last + 1 < n_keys && strcmp(keys[last + 1].text, keys[k].text) == 0)
            last++;
        winner[keys[k].index] = keys[last].index;
        k = last;
    }
    put(b, "{", 1);
    bool first = true;
    for (size_t i = 0; i < n && !b->failed; i++) {
        if (entries[i] == NULL)
            continue;
        size_t mark = b->len;
        if (!first)
            put(b, ",", 1);
        const char *text = map_key_text(kf, tdm_json_member(entries[i], kf->offset), numbers[i]);
        put_string(b, text, strlen(text));
        put(b, ":", 1);
        size_t from = winner[i] < n ? winner[i] : i;
        put_field_value(b, vf, tdm_json_member(entries[from], vf->offset), depth);
        if (winner[i] < n) {
            first = false;
            if (from != i) { /* the replaced value must still be one JSON can carry */
                size_t kept = b->len;
                put_field_value(b, vf, tdm_json_member(entries[i], vf->offset), depth);
                b->len = kept;
            }
        } else {
            b->len = mark; /* a repeat: encoded, then dropped */
        }
    }
    put(b, "}", 1);
    free(keys);
    free(winner);
    free(numbers);
}

static void put_field_mask(out_buf *b, const ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *f = tdm_json_field_named(msg->descriptor, "paths");
    if (f == NULL) {
        b->failed = true;
        return;
    }
    size_t n = *(const size_t *)tdm_json_member(msg, f->quantifier_offset);
    const char *const *paths = *(const void *const *)tdm_json_member(msg, f->offset);
    put(b, "\"", 1);
    for (size_t i = 0; i < n && !b->failed; i++) {
        if (i > 0)
            put(b, ",", 1);
        if (!tdm_json_valid_utf8(paths[i], strlen(paths[i]))) {
            b->failed = true;
            return;
        }
        const char *seg = paths[i]; /* written verbatim up to the next "_x" */
        for (const char *c = paths[i]; *c != '\0'; c++) {
            if (c[0] == '_' && c[1] >= 'a' && c[1] <= 'z') {
                put_string_body(b, seg, (size_t)(c - seg));
                char upper = (char)(c[1] - 'a' + 'A');
                put(b, &upper, 1);
                c++;
                seg = c + 1;
            }
        }
        put_string_body(b, seg, strlen(seg));
    }
    put(b, "\"", 1);
}

static void put_seconds_nanos(out_buf *b, const ProtobufCMessage *msg, bool timestamp)
{
    const ProtobufCFieldDescriptor *fs = tdm_json_field_named(msg->descriptor, "seconds");
    const ProtobufCFieldDescriptor *fn = tdm_json_field_named(msg->descriptor, "nanos");
    if (fs == NULL || fn == NULL) {
        b->failed = true;
        return;
    }
    int64_t seconds = *(const int64_t *)tdm_json_member(msg, fs->offset);
    int32_t nanos = *(const int32_t *)tdm_json_member(msg, fn->offset);
    char text[40];
    bool ok = timestamp ? tdm_json_format_timestamp(seconds, nanos, text)
                        : tdm_json_format_duration(seconds, nanos, text);
    if (!ok) {
        b->failed = true;
        return;
    }
    put_string(b, text, strlen(text));
}

/* google.protobuf.Value: whichever member of its oneof is set. */
static void put_struct_value(out_buf *b, const ProtobufCMessage *msg, int depth)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (!tdm_json_field_present(msg, f))
            continue;
        const void *slot = tdm_json_member(msg, f->offset);
        if (f->type == PROTOBUF_C_TYPE_DOUBLE && !isfinite(*(const double *)slot)) {
            b->failed = true; /* JSON has no such number, and a string would change its type */
            return;
        }
        put_field_value(b, f, slot, depth);
        return;
    }
    put_cstr(b, "null");
}

static void put_fields(out_buf *b, const ProtobufCMessage *msg, int depth)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    bool first = true;
    put(b, "{", 1);
    for (unsigned i = 0; i < desc->n_fields && !b->failed; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (*(const size_t *)tdm_json_member(msg, f->quantifier_offset) == 0)
                continue;
        } else if (!tdm_json_field_present(msg, f)) {
            continue;
        }
        char stack_name[JSON_NAME_STACK_BYTES];
        char *heap_name = NULL;
        const char *name = tdm_json_field_name(f, stack_name, sizeof stack_name);
        if (name == NULL) {
            size_t cap = strlen(f->name) + 1;
            heap_name = malloc(cap);
            name = heap_name != NULL ? tdm_json_field_name(f, heap_name, cap) : NULL;
        }
        if (name == NULL) {
            b->failed = true;
            break;
        }
        if (!first)
            put(b, ",", 1);
        first = false;
        put_string(b, name, strlen(name));
        put(b, ":", 1);
        free(heap_name);
        if (f->label != PROTOBUF_C_LABEL_REPEATED)
            put_field_value(b, f, tdm_json_member(msg, f->offset), depth);
        else if (tdm_json_is_map_field(f))
            put_map(b, msg, f, depth);
        else
            put_repeated(b, msg, f, depth);
    }
    put(b, "}", 1);
}

static void put_message(out_buf *b, const ProtobufCMessage *msg, int depth)
{
    if (depth > TDM_JSON_MAX_ENCODE_DEPTH) {
        b->failed = true;
        return;
    }
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    const ProtobufCFieldDescriptor *f;
    switch (tdm_json_wkt_of(desc)) {
    case TDM_JSON_WKT_TIMESTAMP:
        put_seconds_nanos(b, msg, true);
        return;
    case TDM_JSON_WKT_DURATION:
        put_seconds_nanos(b, msg, false);
        return;
    case TDM_JSON_WKT_FIELD_MASK:
        put_field_mask(b, msg);
        return;
    case TDM_JSON_WKT_WRAPPER:
        f = tdm_json_field_named(desc, "value");
        if (f != NULL)
            put_field_value(b, f, tdm_json_member(msg, f->offset), depth);
        else
            b->failed = true;
        return;
    case TDM_JSON_WKT_STRUCT:
        f = tdm_json_field_named(desc, "fields");
        if (f != NULL)
            put_map(b, msg, f, depth);
        else
            b->failed = true;
        return;
    case TDM_JSON_WKT_LIST_VALUE:
        f = tdm_json_field_named(desc, "values");
        if (f != NULL)
            put_repeated(b, msg, f, depth);
        else
            b->failed = true;
        return;
    case TDM_JSON_WKT_VALUE:
        put_struct_value(b, msg, depth);
        return;
    case TDM_JSON_WKT_EMPTY:
    case TDM_JSON_WKT_ANY:
    case TDM_JSON_WKT_NONE:
        break;
    }
    put_fields(b, msg, depth);
}

char *tdm_json_encode(const ProtobufCMessage *msg, tdm_arena *arena, size_t *len)
{
    out_buf b = {.data = NULL, .len = 0, .cap = 0, .failed = msg == NULL};
    if (msg != NULL)
        put_message(&b, msg, 0);
    return tdm_json_writer_finish(&b, arena, len);
}

/* ---- the public writer ---------------------------------------------------------- */

void tdm_json_writer_raw(tdm_json_writer *w, const char *s, size_t n)
{
    put(w, s, n);
}

void tdm_json_writer_string(tdm_json_writer *w, const char *s)
{
    put_text(w, s != NULL ? s : "");
}

void tdm_json_writer_int(tdm_json_writer *w, long long v)
{
    put_i64(w, v);
}

void tdm_json_writer_bool(tdm_json_writer *w, bool v)
{
    put_cstr(w, v ? "true" : "false");
}

void tdm_json_writer_message(tdm_json_writer *w, const ProtobufCMessage *msg)
{
    if (msg == NULL)
        w->failed = true;
    else
        put_message(w, msg, 0);
}

char *tdm_json_writer_take(tdm_json_writer *w, size_t *len)
{
    if (w->failed || w->data == NULL) {
        free(w->data);
        *w = (tdm_json_writer){0};
        return NULL;
    }
    w->data[w->len] = '\0'; /* put always leaves room for it */
    char *text = w->data;
    if (len != NULL)
        *len = w->len;
    *w = (tdm_json_writer){0};
    return text;
}

char *tdm_json_writer_finish(tdm_json_writer *w, tdm_arena *arena, size_t *len)
{
    size_t n = 0;
    char *text = tdm_json_writer_take(w, &n);
    char *copy = text != NULL ? tdm_arena_memdup(arena, text, n + 1) : NULL;
    if (copy != NULL && len != NULL)
        *len = n;
    free(text);
    return copy;
}

/* ---- jansson values ------------------------------------------------------------ */

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
    return tdm_json_writer_finish(&b, arena, len);
}
