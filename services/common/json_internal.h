/*
 * json_internal.h - what the JSON codec's files (json_decode.c, json_encode.c, json_text.c,
 * json_path.c, json_wkt.c) share: descriptor access, the well-known types, and the
 * text forms of values that both JSON and query parameters use. Not a public header.
 */
#ifndef TANDEM_JSON_INTERNAL_H
#define TANDEM_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "tandem/arena.h"
#include "tandem/json.h"
#include "tandem/status.h"

/* The well-known types whose JSON form is not an object of their fields. */
typedef enum tdm_json_wkt {
    TDM_JSON_WKT_NONE = 0,
    TDM_JSON_WKT_TIMESTAMP,
    TDM_JSON_WKT_DURATION,
    TDM_JSON_WKT_FIELD_MASK,
    TDM_JSON_WKT_WRAPPER, /* Int32Value ... BytesValue: the bare "value" field */
    TDM_JSON_WKT_EMPTY,
    TDM_JSON_WKT_STRUCT,
    TDM_JSON_WKT_VALUE,
    TDM_JSON_WKT_LIST_VALUE,
    TDM_JSON_WKT_ANY,
} tdm_json_wkt;

tdm_json_wkt tdm_json_wkt_of(const ProtobufCMessageDescriptor *desc);

/* True for protobuf-c's representation of a map field: a repeated message named
 * "...Entry" with exactly the fields key = 1 and value = 2. */
bool tdm_json_is_map_field(const ProtobufCFieldDescriptor *f);

/* Field storage. */
static inline void *tdm_json_member(const ProtobufCMessage *msg, unsigned offset)
{
    return (char *)msg + offset;
}
size_t tdm_json_element_size(ProtobufCType type);
/* Whether a singular field holds a value that JSON output shows (proto3: not the
 * default; oneof and optional: set). */
bool tdm_json_field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f);
/* Record that a singular field was given: set has_* or the oneof case. */
void tdm_json_mark_present(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f);
/* Grow a repeated field by one zeroed element; returns the element, NULL when out of
 * memory or when the field already holds TDM_JSON_MAX_LIST_ELEMENTS. */
void *tdm_json_append_element(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                              tdm_arena *arena);

/* The smallest double that rounds to infinity as a float (FLT_MAX plus half an ulp):
 * values below it round to a finite float and are accepted, as protobuf does. */
#define TDM_JSON_FLOAT_OVERFLOW 3.4028235677973366e+38

/* Text forms. Each returns NULL on success or a static description of the refusal
 * ("must be an integer", "out of range for int32"). */
const char *tdm_json_parse_integer(const char *s, size_t len, ProtobufCType type, void *out);
const char *tdm_json_parse_float(const char *s, size_t len, ProtobufCType type, void *out);
const char *tdm_json_parse_bool(const char *s, size_t len, protobuf_c_boolean *out);
/* Integral doubles (1e2, 3.0) for integer fields; refuses fractions and range. */
const char *tdm_json_integer_from_double(double v, ProtobufCType type, void *out);
/* Standard or URL-safe base64, padded or not, into arena memory. */
const char *tdm_json_base64_decode(const char *s, size_t len, tdm_arena *arena,
                                   ProtobufCBinaryData *out);
/* Standard padded base64, NUL-terminated, malloc'd; NULL when out of memory. */
char *tdm_json_base64_encode(const uint8_t *data, size_t len);

const char *tdm_json_parse_timestamp(const char *s, size_t len, int64_t *seconds, int32_t *nanos);
/* Writes at most 36 bytes; false when the value is outside 0001-9999 or nanos invalid. */
bool tdm_json_format_timestamp(int64_t seconds, int32_t nanos, char out[40]);
const char *tdm_json_parse_duration(const char *s, size_t len, int64_t *seconds, int32_t *nanos);
bool tdm_json_format_duration(int64_t seconds, int32_t nanos, char out[40]);

/* Setting a WKT message from its text form (Timestamp, Duration, FieldMask appends,
 * wrappers). Returns the refusal description or NULL. */
const char *tdm_json_set_wkt_from_text(ProtobufCMessage *msg, const char *s, size_t len,
                                       tdm_arena *arena);
/* Setting a scalar or enum slot from text (query-parameter rules: bools as
 * true/false/1/0, enums by name or number). */
const char *tdm_json_set_scalar_from_text(const ProtobufCFieldDescriptor *f, void *slot,
                                          const char *s, size_t len, tdm_arena *arena);

/* A FieldMask path from JSON: "fooBar.baz" -> "foo_bar.baz", into arena memory. */
char *tdm_json_camel_to_snake(const char *s, size_t len, tdm_arena *arena);

/* Whether bytes are valid UTF-8 without NUL characters. */
bool tdm_json_valid_utf8(const char *s, size_t len);

/* An INVALID_ARGUMENT status naming `field` ("" means the document as a whole). */
tdm_status *tdm_json_refusal(const char *field, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A field by its proto name (the well-known types' "seconds", "value", "paths"...). */
const ProtobufCFieldDescriptor *tdm_json_field_named(const ProtobufCMessageDescriptor *desc,
                                                     const char *name);

/* ---- the decode budget (json_budget.c) ------------------------------------------ */

/*
 * What one decode may hold (API.md "The public edge"): jansson's allocations, counted
 * through the allocation functions json_budget.c gives jansson, plus the bytes the
 * message takes in the arena since the decode began, against
 * tdm_protobuf_decode_budget(wire bytes). The budget is per thread: allocations of
 * other threads, and jansson's allocations outside a decode (encoding, configuration),
 * are passed to malloc and free uncounted.
 */
typedef struct tdm_json_budget {
    tdm_arena *arena;
    size_t arena_start; /* tdm_arena_used when the decode began */
    size_t wire_bytes;
    size_t limit;
    size_t dom_bytes; /* jansson memory held now (malloc's usable size and header) */
    size_t peak;      /* the most held at once */
    bool exceeded;
    struct tdm_json_budget *outer; /* the budget active before this one, if any */
} tdm_json_budget;

/* Count this thread's jansson allocations against b until tdm_json_budget_end; the
 * arena (may be NULL: jansson's tree alone) is the one the message is built in. */
void tdm_json_budget_begin(tdm_json_budget *b, tdm_arena *arena, size_t wire_bytes);
/* Stop counting; records the decode's peak for tdm_json_decode_peak. */
void tdm_json_budget_end(tdm_json_budget *b);
/* Whether `bytes` more fit; false (and b->exceeded) when they do not. */
bool tdm_json_budget_reserve(tdm_json_budget *b, size_t bytes);
/* The refusal of a decode over its budget, in protobuf's words (tdm_decode_refusal). */
tdm_status *tdm_json_budget_refusal(const tdm_json_budget *b);

/* ---- the decoder (json_decode.c), as json_stream.c uses it ----------------------- */

/* Object keys quoted in paths and messages are cut to this many bytes. */
#define TDM_JSON_KEY_QUOTE_MAX_BYTES 64

/* The proto path of the value being decoded ("participants[3].skills[0]"). */
typedef struct tdm_json_path {
    char text[TDM_JSON_MAX_PATH_BYTES];
    size_t len;
} tdm_json_path;

/* Each push appends, cutting at the buffer's end, and returns the length before it,
 * for tdm_json_path_pop. */
size_t tdm_json_path_push_name(tdm_json_path *p, const char *name, size_t len);
size_t tdm_json_path_push_index(tdm_json_path *p, size_t index);
void tdm_json_path_pop(tdm_json_path *p, size_t before);

typedef struct tdm_json_decoder {
    tdm_arena *arena;
    tdm_status *st;          /* the first refusal; decoding stops there */
    tdm_json_budget *budget; /* NULL: a tree the caller built, not counted */
    tdm_json_path path;
    unsigned nesting; /* json_stream.c: message objects being taken apart */
} tdm_json_decoder;

/* Each sets d->st to its refusal (unless one is set already) and returns false. */
bool tdm_json_fail(tdm_json_decoder *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool tdm_json_out_of_memory(tdm_json_decoder *d);
/* Whether `bytes` more fit in the decode's budget (and what was allocated since the
 * last check still fits); false with the refusal set when not. */
bool tdm_json_reserve(tdm_json_decoder *d, size_t bytes);

/* One value of field f's type into slot (a singular member or an array element). */
bool tdm_json_decode_value(tdm_json_decoder *d, const ProtobufCFieldDescriptor *f, json_t *value,
                           void *slot);
/* The value of field f of msg (null: the default; repeated, map, oneof rules). */
bool tdm_json_decode_field(tdm_json_decoder *d, ProtobufCMessage *msg,
                           const ProtobufCFieldDescriptor *f, json_t *value);
/* The tree obj into msg at path (tdm_json_merge_object), with d's budget; a refusal of
 * the path itself is returned, a refusal of the value left in d->st. */
tdm_status *tdm_json_merge_tree(tdm_json_decoder *d, json_t *obj, ProtobufCMessage *msg,
                                const char *path);
/* NULL, "" or "*": the message itself. */
bool tdm_json_whole_message_path(const char *path);

/* Refusals on the raw text. The checks before anything is built (size, nesting,
 * values); an INVALID_ARGUMENT naming the field open at json[stop]; jansson's
 * refusal of json[base...] (the whole document when base is 0, else one piece of it). */
tdm_status *tdm_json_prescan(const char *json, size_t len, const ProtobufCMessageDescriptor *desc,
                             const char *field_prefix);
tdm_status *tdm_json_refuse_at(const char *json, size_t stop,
                               const ProtobufCMessageDescriptor *desc, const char *prefix,
                               const char *description);
tdm_status *tdm_json_jansson_refusal(const char *json, size_t len, size_t base,
                                     const json_error_t *err,
                                     const ProtobufCMessageDescriptor *desc,
                                     const char *field_prefix);
/* Line and column (1-based, in bytes) of json[at]. */
void tdm_json_line_column(const char *json, size_t at, int *line, int *column);

#endif
