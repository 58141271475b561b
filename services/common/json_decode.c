/*
 * json_decode.c - JSON -> protobuf-c message, by the proto3 canonical JSON mapping.
 *
 * Two passes. tdm_json_parse first scans the raw bytes for nesting depth (so a
 * document nested a million deep is refused before jansson builds anything), then lets
 * jansson parse with duplicate keys refused; when jansson refuses, the same scanner
 * finds where the error was so the violation names the field. The decoder then walks
 * the jansson tree against the message descriptor, allocating everything in the
 * caller's arena, and stops at the first refusal (one violation, always naming the
 * field by its proto path). Work is linear in the input: each JSON value is visited
 * once and each key is looked up among its message's fields. Requests are decoded
 * through json_stream.c, which gives jansson the document one piece at a time and
 * uses this decoder on each piece, within the decode budget (json_budget.c).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* ---- field paths ---------------------------------------------------------------- */

static size_t path_appendf(tdm_json_path *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends, cutting at the buffer's end; returns the length before, for path_pop. */
static size_t path_appendf(tdm_json_path *p, const char *fmt, ...)
{
    size_t before = p->len;
    if (p->len + 1 >= sizeof p->text)
        return before;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->text + p->len, sizeof p->text - p->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        p->len += (size_t)n < sizeof p->text - p->len ? (size_t)n : sizeof p->text - p->len - 1;
    return before;
}

size_t tdm_json_path_push_name(tdm_json_path *p, const char *name, size_t len)
{
    int n = len > TDM_JSON_KEY_QUOTE_MAX_BYTES ? TDM_JSON_KEY_QUOTE_MAX_BYTES : (int)len;
    return path_appendf(p, "%s%.*s", p->len > 0 ? "." : "", n, name);
}

size_t tdm_json_path_push_index(tdm_json_path *p, size_t index)
{
    return path_appendf(p, "[%zu]", index);
}

static size_t path_push_key(tdm_json_path *p, const char *key, size_t len)
{
    int n = len > TDM_JSON_KEY_QUOTE_MAX_BYTES ? TDM_JSON_KEY_QUOTE_MAX_BYTES : (int)len;
    return path_appendf(p, "[\"%.*s\"]", n, key);
}

void tdm_json_path_pop(tdm_json_path *p, size_t before)
{
    p->len = before;
    p->text[before] = '\0';
}

/* ---- locating an error in the raw text ------------------------------------------ */

typedef struct scan_level {
    bool is_object;
    bool expect_key;
    const char *key; /* raw text of the current key, escapes and all */
    size_t key_len;
    size_t index; /* current element of an array */
} scan_level;

typedef struct scan_state {
    scan_level levels[TDM_JSON_MAX_DEPTH];
    size_t depth;
    bool too_deep;
    size_t values; /* containers opened and separators seen */
    bool too_many;
} scan_state;

/* Scan json[0..stop) tracking containers and keys; stops early at the first container
 * that would be nested deeper than TDM_JSON_MAX_DEPTH. Tolerates invalid JSON. */
static void scan_structure(const char *json, size_t stop, scan_state *st)
{
    bool in_string = false;
    size_t string_start = 0;
    st->depth = 0;
    st->too_deep = false;
    st->values = 0;
    st->too_many = false;
    for (size_t i = 0; i < stop; i++) {
        char c = json[i];
        if (in_string) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_string = false;
                scan_level *top = st->depth > 0 ? &st->levels[st->depth - 1] : NULL;
                if (top != NULL && top->is_object && top->expect_key) {
                    top->key = json + string_start;
                    top->key_len = i - string_start;
                    top->expect_key = false;
                }
            }
            continue;
        }
        if ((c == '{' || c == '[' || c == ',') && ++st->values > TDM_JSON_MAX_VALUES) {
            st->too_many = true;
            return;
        }
        switch (c) {
        case '"':
            in_string = true;
            string_start = i + 1;
            break;
        case '{':
        case '[':
            if (st->depth == TDM_JSON_MAX_DEPTH) {
                st->too_deep = true;
                return;
            }
            st->levels[st->depth++] = (scan_level){.is_object = c == '{', .expect_key = c == '{'};
            break;
        case '}':
        case ']':
            if (st->depth > 0)
                st->depth--;
            break;
        case ',':
            if (st->depth > 0) {
                scan_level *top = &st->levels[st->depth - 1];
                if (top->is_object) {
                    top->expect_key = true;
                    top->key = NULL;
                } else {
                    top->index++;
                }
            }
            break;
        default:
            break;
        }
    }
}

/* Where a descriptor walk stands while naming a scanned path. */
typedef enum walk_kind { WALK_MESSAGE, WALK_LIST, WALK_MAP, WALK_OPAQUE } walk_kind;

typedef struct walk {
    walk_kind kind;
    const ProtobufCMessageDescriptor *desc; /* WALK_MESSAGE */
    const ProtobufCFieldDescriptor *field;  /* WALK_LIST, WALK_MAP: the repeated field */
} walk;

static walk walk_into_message(const ProtobufCMessageDescriptor *desc)
{
    switch (tdm_json_wkt_of(desc)) {
    case TDM_JSON_WKT_NONE:
    case TDM_JSON_WKT_EMPTY:
        return (walk){.kind = WALK_MESSAGE, .desc = desc};
    case TDM_JSON_WKT_STRUCT:
        return (walk){.kind = WALK_MAP, .field = tdm_json_field_named(desc, "fields")};
    case TDM_JSON_WKT_LIST_VALUE:
        return (walk){.kind = WALK_LIST, .field = tdm_json_field_named(desc, "values")};
    default:
        return (walk){.kind = WALK_OPAQUE};
    }
}

static walk walk_into_element(const ProtobufCFieldDescriptor *f)
{
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return walk_into_message(f->descriptor);
    return (walk){.kind = WALK_OPAQUE};
}

/* Name the scanned position in proto field names ("participants[3].skills[0]"). */
static void name_scanned_path(const scan_state *st, const ProtobufCMessageDescriptor *desc,
                              tdm_json_path *p)
{
    walk w = desc != NULL ? walk_into_message(desc) : (walk){.kind = WALK_OPAQUE};
    for (size_t k = 0; k < st->depth; k++) {
        const scan_level *lv = &st->levels[k];
        if (lv->is_object && lv->key == NULL)
            return;
        if (!lv->is_object) {
            tdm_json_path_push_index(p, lv->index);
            w = w.kind == WALK_LIST && w.field != NULL ? walk_into_element(w.field)
                                                       : (walk){.kind = WALK_OPAQUE};
            continue;
        }
        if (w.kind == WALK_MAP && w.field != NULL) {
            const ProtobufCMessageDescriptor *entry = w.field->descriptor;
            path_push_key(p, lv->key, lv->key_len);
            w = walk_into_element(&entry->fields[1]);
            continue;
        }
        const ProtobufCFieldDescriptor *f =
            w.kind == WALK_MESSAGE ? tdm_json_find_field(w.desc, lv->key, lv->key_len) : NULL;
        if (f == NULL) {
            tdm_json_path_push_name(p, lv->key, lv->key_len);
            w = (walk){.kind = WALK_OPAQUE};
        } else {
            tdm_json_path_push_name(p, f->name, strlen(f->name));
            if (tdm_json_is_map_field(f))
                w = (walk){.kind = WALK_MAP, .field = f};
            else if (f->label == PROTOBUF_C_LABEL_REPEATED)
                w = (walk){.kind = WALK_LIST, .field = f};
            else
                w = walk_into_element(f);
        }
    }
}

tdm_status *tdm_json_refuse_at(const char *json, size_t stop,
                               const ProtobufCMessageDescriptor *desc, const char *prefix,
                               const char *description)
{
    scan_state *st = calloc(1, sizeof *st);
    tdm_json_path p = {.len = 0};
    if (prefix != NULL && prefix[0] != '\0' && strcmp(prefix, "*") != 0)
        path_appendf(&p, "%s", prefix);
    p.text[p.len] = '\0';
    if (st != NULL) {
        scan_structure(json, stop, st);
        name_scanned_path(st, desc, &p);
        free(st);
    }
    return tdm_json_refusal(p.text, "%s", description);
}

/* The checks on the raw bytes before anything is built: size, nesting, values. */
tdm_status *tdm_json_prescan(const char *json, size_t len, const ProtobufCMessageDescriptor *desc,
                             const char *field_prefix)
{
    if (len > TDM_JSON_MAX_INPUT_BYTES)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "JSON document larger than %u bytes",
                              TDM_JSON_MAX_INPUT_BYTES);
    scan_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    scan_structure(json, len, st);
    bool too_deep = st->too_deep, too_many = st->too_many;
    free(st);
    if (too_many)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "JSON document holds more than %u values",
                              TDM_JSON_MAX_VALUES);
    if (too_deep) {
        /* Re-scan to the point where the 65th level opens; stop == len finds it again. */
        return tdm_json_refuse_at(json, len, desc, field_prefix, "nesting deeper than 64");
    }
    return NULL;
}

/* Line and column (1-based, in bytes) of json[at]. */
void tdm_json_line_column(const char *json, size_t at, int *line, int *column)
{
    size_t line_start = 0;
    *line = 1;
    for (size_t i = 0; i < at; i++) {
        if (json[i] == '\n') {
            (*line)++;
            line_start = i + 1;
        }
    }
    *column = (int)(at - line_start) + 1;
}

/* jansson's refusal of json[base...] (the whole document when base is 0, else one
 * piece of it), naming the field where it broke. */
tdm_status *tdm_json_jansson_refusal(const char *json, size_t len, size_t base,
                                     const json_error_t *err_in,
                                     const ProtobufCMessageDescriptor *desc,
                                     const char *field_prefix)
{
    json_error_t e = *err_in;
    const json_error_t *err = &e;
    if (base > 0) {
        /* Positions in the piece -> positions in the document. */
        int line, column;
        tdm_json_line_column(json, base, &line, &column);
        e.column = e.line <= 1 ? column + e.column - 1 : e.column;
        e.line = line + (e.line > 1 ? e.line - 1 : 0);
    }
    char description[256];
    switch (json_error_code(err)) {
    case json_error_duplicate_key:
        snprintf(description, sizeof description, "duplicate key");
        break;
    case json_error_invalid_utf8:
        snprintf(description, sizeof description, "invalid UTF-8");
        break;
    case json_error_null_character:
    case json_error_null_byte_in_key:
        snprintf(description, sizeof description, "NUL characters are not allowed");
        break;
    case json_error_numeric_overflow:
        snprintf(description, sizeof description, "number out of range");
        break;
    case json_error_out_of_memory:
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    default:
        snprintf(description, sizeof description, "malformed JSON at line %d column %d: %.160s",
                 err->line, err->column, err->text);
        break;
    }
    /* No position: the end of the whole document, as before, or the piece's start. */
    size_t stop = err->position > 0 ? base + (size_t)err->position : base > 0 ? base : len;
    if (stop > len)
        stop = len;
    /* A syntax error is reported after the offending token was read; name the place
     * before it, so that `{"a":}` blames "a" rather than the object that `}` closed. */
    if (json_error_code(err) == json_error_invalid_syntax && stop > 0)
        stop--;
    return tdm_json_refuse_at(json, stop, desc, field_prefix, description);
}

tdm_status *tdm_json_parse(const char *json, size_t len, const ProtobufCMessageDescriptor *desc,
                           const char *field_prefix, json_t **out)
{
    tdm_status *st = tdm_json_prescan(json, len, desc, field_prefix);
    if (st != NULL)
        return st;
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (root != NULL) {
        *out = root;
        return NULL;
    }
    return tdm_json_jansson_refusal(json, len, 0, &err, desc, field_prefix);
}

/* ---- the decoder ---------------------------------------------------------------- */

bool tdm_json_fail(tdm_json_decoder *d, const char *fmt, ...)
{
    if (d->st != NULL)
        return false;
    char description[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(description, sizeof description, fmt, ap);
    va_end(ap);
    d->st = tdm_json_refusal(d->path.text, "%s", description);
    return false;
}

bool tdm_json_out_of_memory(tdm_json_decoder *d)
{
    if (d->st == NULL)
        d->st = tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory decoding JSON");
    return false;
}

/* Whether `bytes` more fit in the decode's budget (and what was allocated since the
 * last check still fits); false with the refusal set when not. */
bool tdm_json_reserve(tdm_json_decoder *d, size_t bytes)
{
    if (d->budget == NULL || tdm_json_budget_reserve(d->budget, bytes))
        return true;
    if (d->st == NULL)
        d->st = tdm_json_budget_refusal(d->budget);
    return false;
}

static bool decode_message_value(tdm_json_decoder *d, ProtobufCMessage *msg, json_t *value);

static const char *integer_from_json(json_t *value, ProtobufCType type, void *slot)
{
    if (json_is_integer(value)) {
        json_int_t v = json_integer_value(value);
        switch (tdm_json_element_size(type) * 10 +
                (type == PROTOBUF_C_TYPE_UINT32 || type == PROTOBUF_C_TYPE_FIXED32 ||
                 type == PROTOBUF_C_TYPE_UINT64 || type == PROTOBUF_C_TYPE_FIXED64)) {
        case 40:
            if (v < INT32_MIN || v > INT32_MAX)
                return "out of range for int32";
            *(int32_t *)slot = (int32_t)v;
            return NULL;
        case 41:
            if (v < 0 || v > (json_int_t)UINT32_MAX)
                return "out of range for uint32";
            *(uint32_t *)slot = (uint32_t)v;
            return NULL;
        case 80:
            *(int64_t *)slot = (int64_t)v;
            return NULL;
        default:
            if (v < 0)
                return "out of range for uint64";
            *(uint64_t *)slot = (uint64_t)v;
            return NULL;
        }
    }
    if (json_is_real(value))
        return tdm_json_integer_from_double(json_real_value(value), type, slot);
    if (json_is_string(value))
        return tdm_json_parse_integer(json_string_value(value), json_string_length(value), type,
                                      slot);
    return "must be an integer";
}

static const char *float_from_json(json_t *value, ProtobufCType type, void *slot)
{
    double v;
    if (json_is_string(value))
        return tdm_json_parse_float(json_string_value(value), json_string_length(value), type,
                                    slot);
    if (json_is_integer(value))
        v = (double)json_integer_value(value);
    else if (json_is_real(value))
        v = json_real_value(value);
    else
        return "must be a number";
    if (type == PROTOBUF_C_TYPE_FLOAT) {
        if (fabs(v) >= TDM_JSON_FLOAT_OVERFLOW)
            return "out of range for float";
        *(float *)slot = (float)v;
    } else {
        *(double *)slot = v;
    }
    return NULL;
}

static bool is_null_value_enum(const ProtobufCFieldDescriptor *f)
{
    return f->type == PROTOBUF_C_TYPE_ENUM &&
           strcmp(((const ProtobufCEnumDescriptor *)f->descriptor)->name,
                  "google.protobuf.NullValue") == 0;
}

static bool decode_enum(tdm_json_decoder *d, const ProtobufCFieldDescriptor *f, json_t *value,
                        int *slot)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    const ProtobufCEnumValue *ev = NULL;
    if (json_is_null(value) && is_null_value_enum(f)) {
        *slot = 0;
        return true;
    }
    if (json_is_string(value)) {
        ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(value));
        if (ev == NULL)
            return tdm_json_fail(d, "unknown enum value \"%.*s\" for %s",
                                 TDM_JSON_KEY_QUOTE_MAX_BYTES, json_string_value(value), ed->name);
    } else if (json_is_integer(value)) {
        json_int_t n = json_integer_value(value);
        if (n >= INT32_MIN && n <= INT32_MAX)
            ev = protobuf_c_enum_descriptor_get_value(ed, (int)n);
        if (ev == NULL)
            return tdm_json_fail(d, "unknown enum value %" JSON_INTEGER_FORMAT " for %s", n,
                                 ed->name);
    } else {
        return tdm_json_fail(d, "must be a %s name or number", ed->name);
    }
    *slot = ev->value;
    return true;
}

/* One value of field f's type into slot (a singular member or an array element). */
static bool decode_value_into(tdm_json_decoder *d, const ProtobufCFieldDescriptor *f, json_t *value,
                              void *slot)
{
    const char *why = NULL;
    if (json_is_null(value) && !is_null_value_enum(f) &&
        !(f->type == PROTOBUF_C_TYPE_MESSAGE &&
          tdm_json_wkt_of(f->descriptor) == TDM_JSON_WKT_VALUE))
        return tdm_json_fail(d, "must not be null");
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        why = integer_from_json(value, f->type, slot);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        why = float_from_json(value, f->type, slot);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(value))
            return tdm_json_fail(d, "must be true or false");
        *(protobuf_c_boolean *)slot = json_is_true(value);
        return true;
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(value))
            return tdm_json_fail(d, "must be a string");
        if (!tdm_json_reserve(d, json_string_length(value) + 1))
            return false;
        char *copy =
            tdm_arena_memdup(d->arena, json_string_value(value), json_string_length(value) + 1);
        if (copy == NULL)
            return tdm_json_out_of_memory(d);
        *(char **)slot = copy;
        return true;
    }
    case PROTOBUF_C_TYPE_BYTES:
        if (!json_is_string(value))
            return tdm_json_fail(d, "must be a base64 string");
        if (!tdm_json_reserve(d, json_string_length(value)))
            return false;
        why = tdm_json_base64_decode(json_string_value(value), json_string_length(value), d->arena,
                                     slot);
        break;
    case PROTOBUF_C_TYPE_ENUM:
        return decode_enum(d, f, value, slot);
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage **sub = slot;
        if (*sub == NULL &&
            !tdm_json_reserve(d,
                              ((const ProtobufCMessageDescriptor *)f->descriptor)->sizeof_message))
            return false;
        if (*sub == NULL)
            *sub = tdm_json_message_new(f->descriptor, d->arena);
        if (*sub == NULL)
            return tdm_json_out_of_memory(d);
        return decode_message_value(d, *sub, value);
    }
    }
    return why == NULL ? true : tdm_json_fail(d, "%s", why);
}

/* decode_value_into, then a check that what it allocated (a well-known type's text
 * forms allocate as they go) still fits the budget. */
bool tdm_json_decode_value(tdm_json_decoder *d, const ProtobufCFieldDescriptor *f, json_t *value,
                           void *slot)
{
    return decode_value_into(d, f, value, slot) && tdm_json_reserve(d, 0);
}

bool tdm_json_list_alloc(tdm_json_decoder *d, const ProtobufCFieldDescriptor *f, size_t n,
                         char **array)
{
    *array = NULL;
    if (n > TDM_JSON_MAX_LIST_ELEMENTS)
        return tdm_json_fail(d, "more than %u elements", TDM_JSON_MAX_LIST_ELEMENTS);
    size_t size = tdm_json_element_size(f->type);
    if (!tdm_json_reserve(d, n * size))
        return false;
    *array = n > 0 ? tdm_arena_calloc(d->arena, n, size) : NULL;
    if (n > 0 && *array == NULL)
        return tdm_json_out_of_memory(d);
    return true;
}

static bool decode_repeated(tdm_json_decoder *d, ProtobufCMessage *msg,
                            const ProtobufCFieldDescriptor *f, json_t *value)
{
    if (!json_is_array(value))
        return tdm_json_fail(d, "must be a list");
    size_t n = json_array_size(value), size = tdm_json_element_size(f->type);
    char *array = NULL;
    if (!tdm_json_list_alloc(d, f, n, &array))
        return false;
    for (size_t i = 0; i < n; i++) {
        size_t before = tdm_json_path_push_index(&d->path, i);
        bool ok = tdm_json_decode_value(d, f, json_array_get(value, i), array + i * size);
        tdm_json_path_pop(&d->path, before);
        if (!ok)
            return false;
    }
    *(size_t *)tdm_json_member(msg, f->quantifier_offset) = n;
    *(void **)tdm_json_member(msg, f->offset) = array;
    return true;
}

static bool decode_map_key(tdm_json_decoder *d, const ProtobufCFieldDescriptor *kf, const char *key,
                           void *slot)
{
    const char *why = NULL;
    size_t len = strlen(key);
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (!tdm_json_reserve(d, len + 1))
            return false;
        *(char **)slot = tdm_arena_memdup(d->arena, key, len + 1);
        return *(char **)slot != NULL ? true : tdm_json_out_of_memory(d);
    case PROTOBUF_C_TYPE_BOOL:
        if (strcmp(key, "true") != 0 && strcmp(key, "false") != 0)
            return tdm_json_fail(d, "map key must be \"true\" or \"false\"");
        *(protobuf_c_boolean *)slot = key[0] == 't';
        return true;
    default:
        why = tdm_json_parse_integer(key, len, kf->type, slot);
        return why == NULL ? true : tdm_json_fail(d, "map key %s", why);
    }
}

static bool decode_map(tdm_json_decoder *d, ProtobufCMessage *msg,
                       const ProtobufCFieldDescriptor *f, json_t *value)
{
    if (!json_is_object(value))
        return tdm_json_fail(d, "must be an object (a map)");
    size_t n = json_object_size(value);
    if (n > TDM_JSON_MAX_LIST_ELEMENTS)
        return tdm_json_fail(d, "more than %u entries", TDM_JSON_MAX_LIST_ELEMENTS);
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    if (!tdm_json_reserve(d, n * sizeof(ProtobufCMessage *)))
        return false;
    ProtobufCMessage **entries = n > 0 ? tdm_arena_calloc(d->arena, n, sizeof *entries) : NULL;
    if (n > 0 && entries == NULL)
        return tdm_json_out_of_memory(d);
    size_t i = 0;
    const char *key;
    json_t *item;
    json_object_foreach(value, key, item)
    {
        size_t before = path_push_key(&d->path, key, strlen(key));
        ProtobufCMessage *entry =
            tdm_json_reserve(d, ed->sizeof_message) ? tdm_json_message_new(ed, d->arena) : NULL;
        bool ok = entry != NULL ? true : tdm_json_out_of_memory(d);
        ok = ok &&
             decode_map_key(d, &ed->fields[0], key, tdm_json_member(entry, ed->fields[0].offset));
        ok = ok && tdm_json_decode_value(d, &ed->fields[1], item,
                                         tdm_json_member(entry, ed->fields[1].offset));
        tdm_json_path_pop(&d->path, before);
        if (!ok)
            return false;
        entries[i++] = entry;
    }
    *(size_t *)tdm_json_member(msg, f->quantifier_offset) = i;
    *(void **)tdm_json_member(msg, f->offset) = entries;
    return true;
}

/* google.protobuf.Value from any JSON value. */
static bool decode_struct_value(tdm_json_decoder *d, ProtobufCMessage *msg, json_t *value)
{
    const char *name;
    switch (json_typeof(value)) {
    case JSON_NULL:
        name = "null_value";
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        name = "bool_value";
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        name = "number_value";
        break;
    case JSON_STRING:
        name = "string_value";
        break;
    case JSON_OBJECT:
        name = "struct_value";
        break;
    default:
        name = "list_value";
        break;
    }
    const ProtobufCFieldDescriptor *f = tdm_json_field_named(msg->descriptor, name);
    if (f == NULL)
        return tdm_json_fail(d, "google.protobuf.Value lacks field %s", name);
    void *slot = tdm_json_member(msg, f->offset);
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        *(ProtobufCMessage **)slot = NULL;
    if (!tdm_json_decode_value(d, f, value, slot))
        return false;
    tdm_json_mark_present(msg, f);
    return true;
}

static bool decode_object(tdm_json_decoder *d, ProtobufCMessage *msg, json_t *value)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    if (!json_is_object(value))
        return tdm_json_fail(d, "must be an object");
    if (!tdm_json_reserve(d, desc->n_fields))
        return false;
    uint8_t *seen = desc->n_fields > 0 ? tdm_arena_calloc(d->arena, desc->n_fields, 1) : NULL;
    if (desc->n_fields > 0 && seen == NULL)
        return tdm_json_out_of_memory(d);
    const char *key;
    json_t *item;
    json_object_foreach(value, key, item)
    {
        size_t key_len = strlen(key);
        const ProtobufCFieldDescriptor *f = tdm_json_find_field(desc, key, key_len);
        size_t before;
        if (f == NULL) {
            before = tdm_json_path_push_name(&d->path, key, key_len);
            tdm_json_fail(d, "unknown field \"%.*s\"", TDM_JSON_KEY_QUOTE_MAX_BYTES, key);
            tdm_json_path_pop(&d->path, before);
            return false;
        }
        before = tdm_json_path_push_name(&d->path, f->name, strlen(f->name));
        size_t index = (size_t)(f - desc->fields);
        bool ok = seen[index] == 0 ? true : tdm_json_fail(d, "duplicate key (given by both names)");
        seen[index] = 1;
        ok = ok && tdm_json_decode_field(d, msg, f, item);
        tdm_json_path_pop(&d->path, before);
        if (!ok)
            return false;
    }
    return true;
}

static bool decode_message_value(tdm_json_decoder *d, ProtobufCMessage *msg, json_t *value)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    const ProtobufCFieldDescriptor *f;
    switch (tdm_json_wkt_of(desc)) {
    case TDM_JSON_WKT_TIMESTAMP:
    case TDM_JSON_WKT_DURATION:
    case TDM_JSON_WKT_FIELD_MASK: {
        if (!json_is_string(value))
            return tdm_json_fail(d, "must be a string");
        f = tdm_json_field_named(desc, "paths");
        if (f != NULL) /* a mask given twice is replaced, not appended */
            *(size_t *)tdm_json_member(msg, f->quantifier_offset) = 0;
        if (!tdm_json_reserve(d, json_string_length(value) + 1))
            return false;
        const char *why = tdm_json_set_wkt_from_text(msg, json_string_value(value),
                                                     json_string_length(value), d->arena);
        return why == NULL ? true : tdm_json_fail(d, "%s", why);
    }
    case TDM_JSON_WKT_WRAPPER:
        f = tdm_json_field_named(desc, "value");
        return f != NULL && tdm_json_decode_value(d, f, value, tdm_json_member(msg, f->offset));
    case TDM_JSON_WKT_STRUCT:
        f = tdm_json_field_named(desc, "fields");
        return f != NULL && decode_map(d, msg, f, value);
    case TDM_JSON_WKT_LIST_VALUE:
        f = tdm_json_field_named(desc, "values");
        return f != NULL && decode_repeated(d, msg, f, value);
    case TDM_JSON_WKT_VALUE:
        return decode_struct_value(d, msg, value);
    case TDM_JSON_WKT_ANY:
        return tdm_json_fail(d, "google.protobuf.Any is not supported");
    case TDM_JSON_WKT_EMPTY:
    case TDM_JSON_WKT_NONE:
        break;
    }
    return decode_object(d, msg, value);
}

/* Reset a field to its default (JSON null). */
static void clear_field(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    void *member = tdm_json_member(msg, f->offset);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        *(size_t *)tdm_json_member(msg, f->quantifier_offset) = 0;
        *(void **)member = NULL;
        return;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *which = tdm_json_member(msg, f->quantifier_offset);
        if (*which == f->id)
            *which = 0;
        return;
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
        f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)tdm_json_member(msg, f->quantifier_offset) = 0;
    if (f->type == PROTOBUF_C_TYPE_STRING)
        *(const char **)member =
            f->default_value != NULL ? f->default_value : protobuf_c_empty_string;
    else
        memset(member, 0, tdm_json_element_size(f->type));
}

bool tdm_json_decode_field(tdm_json_decoder *d, ProtobufCMessage *msg,
                           const ProtobufCFieldDescriptor *f, json_t *value)
{
    bool is_value_message =
        f->type == PROTOBUF_C_TYPE_MESSAGE && tdm_json_wkt_of(f->descriptor) == TDM_JSON_WKT_VALUE;
    if (json_is_null(value) && (f->label == PROTOBUF_C_LABEL_REPEATED || !is_value_message)) {
        clear_field(msg, f);
        return true;
    }
    if (tdm_json_is_map_field(f))
        return decode_map(d, msg, f, value);
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return decode_repeated(d, msg, f, value);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t which = *(const uint32_t *)tdm_json_member(msg, f->quantifier_offset);
        if (which != 0 && which != f->id) {
            const ProtobufCFieldDescriptor *other =
                protobuf_c_message_descriptor_get_field(msg->descriptor, which);
            return tdm_json_fail(d, "only one field of its oneof may be set (already set: %s)",
                                 other != NULL ? other->name : "another field");
        }
        if (which != f->id && f->type == PROTOBUF_C_TYPE_MESSAGE)
            *(ProtobufCMessage **)tdm_json_member(msg, f->offset) = NULL;
    }
    if (!tdm_json_decode_value(d, f, value, tdm_json_member(msg, f->offset)))
        return false;
    tdm_json_mark_present(msg, f);
    return true;
}

/* ---- entry points --------------------------------------------------------------- */

bool tdm_json_whole_message_path(const char *path)
{
    return path == NULL || path[0] == '\0' || strcmp(path, "*") == 0;
}

/* The JSON value obj into msg at path (tdm_json_merge_object), with d's budget;
 * a refusal of the path itself is returned, a refusal of the value left in d->st. */
tdm_status *tdm_json_merge_tree(tdm_json_decoder *d, json_t *obj, ProtobufCMessage *msg,
                                const char *path)
{
    tdm_arena *arena = d->arena;
    if (tdm_json_whole_message_path(path)) {
        decode_message_value(d, msg, obj);
        return NULL;
    }
    ProtobufCMessage *cur = msg;
    const char *seg = path;
    for (;;) {
        const char *dot = strchr(seg, '.');
        size_t seg_len = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
        const ProtobufCFieldDescriptor *f = tdm_json_find_field(cur->descriptor, seg, seg_len);
        if (f == NULL)
            return tdm_status_set_detail(
                tdm_status_new(TDM_INTERNAL, "request body cannot be mapped"),
                "body path \"%s\" names no field of %s", path, cur->descriptor->name);
        tdm_json_path_push_name(&d->path, f->name, strlen(f->name));
        if (dot == NULL) {
            tdm_json_decode_field(d, cur, f, obj);
            return NULL;
        }
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
            return tdm_status_set_detail(
                tdm_status_new(TDM_INTERNAL, "request body cannot be mapped"),
                "body path \"%s\" crosses a non-message field", path);
        ProtobufCMessage **sub = tdm_json_member(cur, f->offset);
        if (*sub == NULL &&
            !tdm_json_reserve(d,
                              ((const ProtobufCMessageDescriptor *)f->descriptor)->sizeof_message))
            return NULL;
        if (*sub == NULL)
            *sub = tdm_json_message_new(f->descriptor, arena);
        if (*sub == NULL)
            return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory decoding JSON");
        tdm_json_mark_present(cur, f);
        cur = *sub;
        seg = dot + 1;
    }
}

tdm_status *tdm_json_merge_object(json_t *obj, ProtobufCMessage *msg, const char *path,
                                  tdm_arena *arena)
{
    tdm_json_decoder d = {.arena = arena, .st = NULL, .budget = NULL, .path = {.len = 0}};
    tdm_status *st = tdm_json_merge_tree(&d, obj, msg, path);
    if (st != NULL) {
        tdm_status_free(d.st);
        return st;
    }
    return d.st;
}
