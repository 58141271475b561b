/*
 * json.h - the proto3 canonical JSON mapping, once, for every message.
 *
 * The codec walks protobuf-c's runtime descriptors, so no message has code of its own:
 * lowerCamelCase names on output (both lowerCamelCase and proto names on input), default
 * values omitted, enums by name (names or numbers of known values accepted; proto3's
 * unknown numbers are refused, so handlers never see a value the API does not define),
 * 64-bit integers as strings (numbers accepted up to 2^63-1), bytes as base64 (standard
 * or URL-safe), maps as objects, and the well-known types with
 * their special forms (Timestamp as RFC 3339, Duration as "1.5s", FieldMask as
 * "a.b,fooBar", the wrappers as bare values, Empty as {}, Struct/Value/ListValue as
 * any JSON). jansson parses and holds the JSON; messages live in the caller's arena.
 *
 * Every refusal is an INVALID_ARGUMENT status with one field violation whose field is
 * the path in proto names ("participants[3].skills[0].level", "labels[\"k\"]") and
 * whose description says why ("must be an integer", "unknown field \"foo\"").
 * A JSON null for a field means its default value.
 */
#ifndef TANDEM_JSON_H
#define TANDEM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "tandem/arena.h"
#include "tandem/status.h"

/* Objects and arrays may nest this deep; one more level is refused. */
#define TDM_JSON_MAX_DEPTH 64
/* The largest document decoded at all (the largest per-method limit, BatchEnrol's). */
#define TDM_JSON_MAX_INPUT_BYTES (32u * 1024u * 1024u)
/* Values in one document (containers and list/object members), counted on the raw
 * bytes before jansson builds its tree, so a 32 MiB body of "{}," cannot become
 * millions of allocations. */
#define TDM_JSON_MAX_VALUES 1000000u
/* Elements of one JSON array, or entries of one JSON object, decoded into a field. */
#define TDM_JSON_MAX_LIST_ELEMENTS 100000u
/* Field paths in violations are cut to this many bytes. */
#define TDM_JSON_MAX_PATH_BYTES 256u
/* Messages nest at most this deep when encoded: deeper than any decoded document
 * (each JSON level of a Struct is two messages, Value and Struct). */
#define TDM_JSON_MAX_ENCODE_DEPTH 200

/* Parse a JSON document under the codec's rules (not bounded by the decode budget:
 * the caller holds the whole tree; requests go through tdm_json_merge_text): duplicate keys,
 * invalid UTF-8, NUL characters and nesting deeper than TDM_JSON_MAX_DEPTH are refused. `desc` (may
 * be NULL) is the message the document is meant for, and `field_prefix` (may be NULL or
 * "") the path of that message in the request: both only make error paths speak in
 * proto field names. On success *out holds a new reference (json_decref it). */
tdm_status *tdm_json_parse(const char *json, size_t len, const ProtobufCMessageDescriptor *desc,
                           const char *field_prefix, json_t **out);

/* Parse `json` and decode it into a new message of type `desc`, allocated (with every
 * string, array and sub-message) in `arena`. *out is set only on success. Bounded as
 * tdm_json_merge_text. */
tdm_status *tdm_json_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                            tdm_arena *arena, ProtobufCMessage **out);

/*
 * Parse the document json[0..len) and merge it into `msg` as tdm_json_merge_object
 * does (`path` as there: NULL, "" or "*" for the message itself, else the dotted path
 * of a field, the REST body's), refusing as tdm_json_parse does - and bounded
 * (API.md "The public edge"): what the decode holds at once, jansson's tree and the
 * arena bytes of the message together, may not pass tdm_protobuf_decode_budget(len)
 * (8 times len, at least TDM_DECODE_FLOOR_BYTES, at most TDM_DECODE_BYTES_MAX); past
 * it the decode stops with RESOURCE_EXHAUSTED in protobuf's words
 * (tdm_decode_limit_refusal). A document whose root is an object of a message is
 * decoded member by member, and a repeated message field's list element by element,
 * so jansson's tree never holds more than one of them (json_decode.c). On a refusal
 * `msg` may be partly changed: the caller drops it (and the arena keeps what was
 * allocated until it is freed).
 */
tdm_status *tdm_json_merge_text(const char *json, size_t len, ProtobufCMessage *msg,
                                const char *path, tdm_arena *arena);

/* jansson's json_loadb(text, len, flags, err) for documents kept as jansson trees
 * (SCIM's), within the same bound on the tree alone: NULL with *st set to
 * RESOURCE_EXHAUSTED (tdm_decode_limit_refusal) when the tree would pass it, NULL
 * with *st NULL when jansson refuses the text (err says why). */
json_t *tdm_json_load_bounded(const char *text, size_t len, size_t flags, json_error_t *err,
                              tdm_status **st);

/* The most memory the latest tdm_json_merge_text (or tdm_json_decode) of this thread
 * held at once, in bytes: jansson's blocks (usable size and malloc's header) and the
 * arena bytes of the message. For measurements and tests. */
size_t tdm_json_decode_peak(void);

/* Merge the JSON value `obj` into `msg`: into the message itself when `path` is NULL,
 * "" or "*", otherwise into the field named by the dotted path (e.g. "programme",
 * grpc-gateway's `body: "programme"`), creating intermediate messages. Fields present
 * in `obj` replace those of `msg`; repeated fields are replaced, not appended.
 * Violations are reported under `path` ("programme.name"). Does not take `obj`. */
tdm_status *tdm_json_merge_object(json_t *obj, ProtobufCMessage *msg, const char *path,
                                  tdm_arena *arena);

/* Set the field named by a dotted path ("programme.id", "page_size", "updateMask";
 * each segment in lowerCamelCase or its proto name) from its text form, as grpc-gateway
 * does for path variables and query parameters. The field may be a scalar or enum
 * (name or number), a repeated scalar or enum (the value is appended), a Timestamp or
 * Duration, a FieldMask (comma-separated paths, appended) or a wrapper; intermediate
 * messages are created. `value` must be valid UTF-8 for string fields. */
tdm_status *tdm_json_set_field_path(ProtobufCMessage *msg, const char *dotted_path,
                                    const char *value, tdm_arena *arena);

/* The message as canonical JSON text, NUL-terminated, in `arena`; *len (may be NULL)
 * gets its length. NULL when out of memory or when the message holds a value JSON
 * cannot carry (a Timestamp outside years 1-9999, a non-finite Value number...). */
char *tdm_json_encode(const ProtobufCMessage *msg, tdm_arena *arena, size_t *len);

/*
 * A JSON text written piece by piece into one growing malloc'd buffer, for documents
 * too large to build as jansson trees (the rows of a 10,000-row batch, its events).
 * Zero-initialise it, append, then tdm_json_writer_finish (or _discard). A failed
 * append (out of memory, a string that is not UTF-8, a message JSON cannot carry)
 * marks the writer failed; later appends do nothing and finish returns NULL. The
 * caller writes the punctuation; the writer does values.
 */
typedef struct tdm_json_writer {
    char *data;
    size_t len, cap;
    bool failed;
} tdm_json_writer;

/* Bytes as they are (punctuation, or JSON the caller already holds). */
void tdm_json_writer_raw(tdm_json_writer *w, const char *s, size_t n);
/* A NUL-terminated string as a quoted JSON string (NULL: ""), escaped as the encoder
 * escapes; fails the writer when it is not UTF-8. */
void tdm_json_writer_string(tdm_json_writer *w, const char *s);
void tdm_json_writer_int(tdm_json_writer *w, long long v);
void tdm_json_writer_bool(tdm_json_writer *w, bool v);
/* The message in canonical JSON, exactly as tdm_json_encode writes it. */
void tdm_json_writer_message(tdm_json_writer *w, const ProtobufCMessage *msg);
/* The text, NUL-terminated, copied into `arena` (*len, may be NULL, gets its length);
 * NULL when the writer failed. Frees the buffer either way. */
char *tdm_json_writer_finish(tdm_json_writer *w, tdm_arena *arena, size_t *len);
/* The text as the malloc'd buffer itself (free() it), for callers that hand it on;
 * NULL when the writer failed (then the buffer is freed). */
char *tdm_json_writer_take(tdm_json_writer *w, size_t *len);

/* Serialise any jansson value compactly, with numbers in their shortest round-trip
 * form (0.1, not 0.10000000000000001). NUL-terminated text in `arena`. */
char *tdm_json_dump(const json_t *value, tdm_arena *arena, size_t *len);

/* A field's JSON name by protoc's rule ("check_in_cadence_days" -> "checkInCadenceDays"),
 * written into buf (cap bytes); NULL when it does not fit. */
const char *tdm_json_field_name(const ProtobufCFieldDescriptor *field, char *buf, size_t cap);

/* The field of `desc` whose JSON name or proto name is name[0..len), or NULL. */
const ProtobufCFieldDescriptor *tdm_json_find_field(const ProtobufCMessageDescriptor *desc,
                                                    const char *name, size_t len);

/* A new message of type `desc` in `arena`, initialised to its defaults; NULL when out
 * of memory. */
ProtobufCMessage *tdm_json_message_new(const ProtobufCMessageDescriptor *desc, tdm_arena *arena);

#endif
