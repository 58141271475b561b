/*
 * json_stream.c - decoding a JSON document piece by piece, within the decode budget
 * (tdm_json_merge_text, tdm_json_decode; json.h, API.md "The public edge").
 *
 * jansson builds a tree of the whole document before the decoder sees any of it, and
 * the tree is heavy: a member such as "office":"London" takes about ten times its
 * bytes in jansson's structures, so a batch of HR rows would pass 8x in the tree
 * alone. A document whose root is a message's object is therefore taken apart here:
 * the object's members are found on the raw bytes, and each member's value is given
 * to jansson alone, converted, and freed before the next; a member that is itself a
 * message's object is taken apart the same way (a MatchingRun's stats, with their
 * thousands of unmatched mentees), and the elements of a repeated message field
 * (BatchEnrol's rows, a programme's objectives) are given to jansson one element at a
 * time. So the tree never holds more than one scalar member, list of scalars, map or
 * element, and what a decode holds is the message plus that. jansson still checks
 * every value's syntax; the punctuation between them (braces, colons, commas) is
 * checked here, and fuzz_json_codec checks that both ways agree. Any other document
 * (a bare well-known type, a list, null) is parsed whole, within the same budget.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"

/* Message objects inside message objects taken apart; deeper ones are given to
 * jansson whole. Tandem's messages nest 4 deep (a template's programme's policy's
 * weights); the bound keeps the scans of a recursive message's document (each level
 * scans its own bytes) linear. */
#define STREAM_NESTING_MAX 8

typedef struct doc_text {
    const char *s;
    size_t len;
    const ProtobufCMessageDescriptor *desc; /* the document's message, for error paths */
    const char *prefix;                     /* its path in the request, or NULL */
} doc_text;

static bool is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_space(const doc_text *t, size_t i, size_t end)
{
    while (i < end && is_json_space(t->s[i]))
        i++;
    return i;
}

static size_t trim_space(const doc_text *t, size_t start, size_t end)
{
    while (end > start && is_json_space(t->s[end - 1]))
        end--;
    return end;
}

/* The index after the string token that starts at s[i] ('"'); > end when it is not
 * terminated before end. */
static size_t string_end(const doc_text *t, size_t i, size_t end)
{
    for (i++; i < end; i++) {
        if (t->s[i] == '\\')
            i++;
        else if (t->s[i] == '"')
            return i + 1;
    }
    return end + 1;
}

/* From s[i], where one value ends: the index of the first ',', ']' or '}' outside
 * strings and outside the containers the value opens; end when there is none. */
static size_t value_end(const doc_text *t, size_t i, size_t end)
{
    size_t depth = 0;
    while (i < end) {
        char c = t->s[i];
        if (c == '"') {
            i = string_end(t, i, end);
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return i;
            depth--;
        } else if (c == ',' && depth == 0) {
            return i;
        }
        i++;
    }
    return end;
}

static bool malformed_at(tdm_json_decoder *d, const doc_text *t, size_t at, const char *what)
{
    if (d->st != NULL)
        return false;
    int line, column;
    tdm_json_line_column(t->s, at, &line, &column);
    char description[128];
    snprintf(description, sizeof description, "malformed JSON at line %d column %d: %s", line,
             column, what);
    d->st = tdm_json_refuse_at(t->s, at, t->desc, t->prefix, description);
    return false;
}

/* jansson's tree of s[start..end), counted in the budget; NULL with the refusal set. */
static json_t *load_piece(tdm_json_decoder *d, const doc_text *t, size_t start, size_t end)
{
    json_error_t err;
    json_t *v =
        json_loadb(t->s + start, end - start, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (v != NULL || d->st != NULL)
        return v;
    if (d->budget->exceeded)
        d->st = tdm_json_budget_refusal(d->budget);
    else
        d->st = tdm_json_jansson_refusal(t->s, t->len, start, &err, t->desc, t->prefix);
    return NULL;
}

/* The list s[vs..ve) ('[' at vs) into repeated message field f, one element at a
 * time. */
static bool stream_list(tdm_json_decoder *d, const doc_text *t, ProtobufCMessage *msg,
                        const ProtobufCFieldDescriptor *f, size_t vs, size_t ve)
{
    size_t n = 0, i = skip_space(t, vs + 1, ve), close;
    if (i < ve && t->s[i] == ']') {
        close = i;
    } else {
        for (;;) {
            size_t e = value_end(t, i, ve);
            n++;
            if (e >= ve)
                return malformed_at(d, t, ve, "']' expected");
            if (t->s[e] == ']') {
                close = e;
                break;
            }
            if (t->s[e] == '}')
                return malformed_at(d, t, e, "',' or ']' expected");
            i = e + 1;
        }
    }
    if (skip_space(t, close + 1, ve) != ve)
        return malformed_at(d, t, close + 1, "',' or '}' expected");
    size_t size = tdm_json_element_size(f->type);
    char *array = NULL;
    if (!tdm_json_list_alloc(d, f, n, &array))
        return false;
    i = vs + 1;
    for (size_t k = 0; k < n; k++) {
        size_t e = value_end(t, i, ve);
        size_t es = skip_space(t, i, e), ee = trim_space(t, es, e);
        size_t before = tdm_json_path_push_index(&d->path, k);
        json_t *element = es < ee ? load_piece(d, t, es, ee) : NULL;
        bool ok = element != NULL ? tdm_json_decode_value(d, f, element, array + k * size)
                                  : malformed_at(d, t, es, "value expected");
        json_decref(element);
        tdm_json_path_pop(&d->path, before);
        if (!ok)
            return false;
        i = e + 1;
    }
    *(size_t *)tdm_json_member(msg, f->quantifier_offset) = n;
    *(void **)tdm_json_member(msg, f->offset) = array;
    return true;
}

static bool stream_object(tdm_json_decoder *d, const doc_text *t, ProtobufCMessage *msg,
                          size_t start, size_t len);

/* Whether a member of field f whose value starts with c is taken apart too: a list
 * of messages element by element, a message (of fields, outside a oneof) member by
 * member. */
static bool streams_list(const ProtobufCFieldDescriptor *f, char c)
{
    return c == '[' && f->type == PROTOBUF_C_TYPE_MESSAGE &&
           f->label == PROTOBUF_C_LABEL_REPEATED && !tdm_json_is_map_field(f);
}

static bool streams_message(const ProtobufCFieldDescriptor *f, char c)
{
    return c == '{' && f->type == PROTOBUF_C_TYPE_MESSAGE &&
           f->label != PROTOBUF_C_LABEL_REPEATED && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
           tdm_json_wkt_of(f->descriptor) == TDM_JSON_WKT_NONE;
}

/* A member's message value s[vs..ve) into the field f of msg, as decode_field would
 * (merged into the message already there, if any). */
static bool stream_sub_message(tdm_json_decoder *d, const doc_text *t, ProtobufCMessage *msg,
                               const ProtobufCFieldDescriptor *f, size_t vs, size_t ve)
{
    ProtobufCMessage **sub = tdm_json_member(msg, f->offset);
    if (*sub == NULL) {
        if (!tdm_json_reserve(d,
                              ((const ProtobufCMessageDescriptor *)f->descriptor)->sizeof_message))
            return false;
        *sub = tdm_json_message_new(f->descriptor, d->arena);
        if (*sub == NULL)
            return tdm_json_out_of_memory(d);
    }
    d->nesting++;
    bool ok = stream_object(d, t, *sub, vs, ve);
    d->nesting--;
    if (!ok)
        return false;
    tdm_json_mark_present(msg, f);
    return true;
}

/* One member of an object: the key token s[ks..ke), the value s[vs..ve).
 * seen_at[i] is where the key that gave field i starts (+1; 0: not given). */
static bool stream_member(tdm_json_decoder *d, const doc_text *t, ProtobufCMessage *msg,
                          size_t *seen_at, size_t ks, size_t ke, size_t vs, size_t ve)
{
    json_t *key_json = load_piece(d, t, ks, ke);
    if (key_json == NULL)
        return false;
    const char *key = json_string_value(key_json);
    size_t key_len = json_string_length(key_json);
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    const ProtobufCFieldDescriptor *f = tdm_json_find_field(desc, key, key_len);
    size_t before;
    bool ok;
    if (f == NULL) {
        before = tdm_json_path_push_name(&d->path, key, key_len);
        ok = tdm_json_fail(d, "unknown field \"%.*s\"", TDM_JSON_KEY_QUOTE_MAX_BYTES, key);
        tdm_json_path_pop(&d->path, before);
        json_decref(key_json);
        return ok;
    }
    json_decref(key_json);
    before = tdm_json_path_push_name(&d->path, f->name, strlen(f->name));
    size_t index = (size_t)(f - desc->fields);
    if (seen_at[index] != 0) {
        size_t first = seen_at[index] - 1;
        bool same = string_end(t, first, t->len) - first == ke - ks &&
                    memcmp(t->s + first, t->s + ks, ke - ks) == 0;
        ok = tdm_json_fail(d, same ? "duplicate key" : "duplicate key (given by both names)");
    } else if (vs == ve) {
        ok = malformed_at(d, t, vs, "value expected");
    } else if (streams_list(f, t->s[vs])) {
        ok = stream_list(d, t, msg, f, vs, ve);
    } else if (streams_message(f, t->s[vs]) && d->nesting < STREAM_NESTING_MAX) {
        ok = stream_sub_message(d, t, msg, f, vs, ve);
    } else {
        json_t *value = load_piece(d, t, vs, ve);
        ok = value != NULL && tdm_json_decode_field(d, msg, f, value);
        json_decref(value);
    }
    seen_at[index] = ks + 1;
    tdm_json_path_pop(&d->path, before);
    return ok;
}

/* The object s[start..len) ('{' at start, nothing but spaces after its '}') into msg:
 * the document's root object, or a member's value. */
static bool stream_object(tdm_json_decoder *d, const doc_text *t, ProtobufCMessage *msg,
                          size_t start, size_t len)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    if (!tdm_json_reserve(d, desc->n_fields * sizeof(size_t)))
        return false;
    size_t *seen_at =
        desc->n_fields > 0 ? tdm_arena_calloc(d->arena, desc->n_fields, sizeof(size_t)) : NULL;
    if (desc->n_fields > 0 && seen_at == NULL)
        return tdm_json_out_of_memory(d);
    size_t i = skip_space(t, start + 1, len);
    if (i < len && t->s[i] == '}') {
        i++;
    } else {
        for (;;) {
            if (i >= len || t->s[i] != '"')
                return malformed_at(d, t, i, "string or '}' expected");
            size_t ks = i, ke = string_end(t, i, len);
            if (ke > len)
                return malformed_at(d, t, len, "unterminated string");
            i = skip_space(t, ke, len);
            if (i >= len || t->s[i] != ':')
                return malformed_at(d, t, i, "':' expected");
            size_t vs = skip_space(t, i + 1, len);
            size_t e = value_end(t, vs, len);
            if (e >= len)
                return malformed_at(d, t, len, "'}' expected");
            if (t->s[e] == ']')
                return malformed_at(d, t, e, "',' or '}' expected");
            if (!stream_member(d, t, msg, seen_at, ks, ke, vs, trim_space(t, vs, e)))
                return false;
            i = e + 1;
            if (t->s[e] == '}')
                break;
            i = skip_space(t, i, len);
        }
    }
    if (skip_space(t, i, len) != len)
        return malformed_at(d, t, skip_space(t, i, len),
                            len == t->len ? "end of file expected" : "',' or '}' expected");
    return true;
}

/* The message the document's root object goes into when it can be taken apart (a
 * message of fields, reached by `path` through singular message fields outside
 * oneofs), creating it and the messages on the way; NULL when the document must be
 * parsed whole (or on a refusal, then d->st is set). */
static ProtobufCMessage *stream_target(tdm_json_decoder *d, ProtobufCMessage *msg, const char *path)
{
    if (tdm_json_whole_message_path(path))
        return tdm_json_wkt_of(msg->descriptor) == TDM_JSON_WKT_NONE ? msg : NULL;
    /* Check the whole path before changing anything. */
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    for (const char *seg = path; seg != NULL;) {
        const char *dot = strchr(seg, '.');
        size_t seg_len = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
        const ProtobufCFieldDescriptor *f = tdm_json_find_field(desc, seg, seg_len);
        if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE ||
            f->label == PROTOBUF_C_LABEL_REPEATED || (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            return NULL;
        desc = f->descriptor;
        seg = dot != NULL ? dot + 1 : NULL;
    }
    if (tdm_json_wkt_of(desc) != TDM_JSON_WKT_NONE)
        return NULL;
    ProtobufCMessage *cur = msg;
    for (const char *seg = path; seg != NULL;) {
        const char *dot = strchr(seg, '.');
        size_t seg_len = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
        const ProtobufCFieldDescriptor *f = tdm_json_find_field(cur->descriptor, seg, seg_len);
        tdm_json_path_push_name(&d->path, f->name, strlen(f->name));
        ProtobufCMessage **sub = tdm_json_member(cur, f->offset);
        if (*sub == NULL) {
            if (!tdm_json_reserve(
                    d, ((const ProtobufCMessageDescriptor *)f->descriptor)->sizeof_message))
                return NULL;
            *sub = tdm_json_message_new(f->descriptor, d->arena);
        }
        if (*sub == NULL) {
            tdm_json_out_of_memory(d);
            return NULL;
        }
        tdm_json_mark_present(cur, f);
        cur = *sub;
        seg = dot != NULL ? dot + 1 : NULL;
    }
    return cur;
}

/* The descriptor of the message `path` names in `desc`'s messages, for error paths;
 * NULL when it names none. */
static const ProtobufCMessageDescriptor *path_descriptor(const ProtobufCMessageDescriptor *desc,
                                                         const char *path)
{
    if (tdm_json_whole_message_path(path))
        return desc;
    for (const char *seg = path; desc != NULL && seg != NULL;) {
        const char *dot = strchr(seg, '.');
        size_t seg_len = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
        const ProtobufCFieldDescriptor *f = tdm_json_find_field(desc, seg, seg_len);
        if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
            return NULL;
        desc = f->descriptor;
        seg = dot != NULL ? dot + 1 : NULL;
    }
    return desc;
}

tdm_status *tdm_json_merge_text(const char *json, size_t len, ProtobufCMessage *msg,
                                const char *path, tdm_arena *arena)
{
    const char *prefix = tdm_json_whole_message_path(path) ? NULL : path;
    doc_text t = {
        .s = json, .len = len, .desc = path_descriptor(msg->descriptor, path), .prefix = prefix};
    tdm_status *st = tdm_json_prescan(json, len, t.desc, prefix);
    if (st != NULL)
        return st;
    tdm_json_budget budget;
    tdm_json_budget_begin(&budget, arena, len);
    tdm_json_decoder d = {.arena = arena, .st = NULL, .budget = &budget, .path = {.len = 0}};
    size_t first = skip_space(&t, 0, len);
    ProtobufCMessage *target =
        first < len && json[first] == '{' ? stream_target(&d, msg, path) : NULL;
    if (target != NULL) {
        stream_object(&d, &t, target, first, len);
    } else if (d.st == NULL) {
        json_error_t err;
        json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
        if (root == NULL && budget.exceeded) {
            d.st = tdm_json_budget_refusal(&budget);
        } else if (root == NULL) {
            d.st = tdm_json_jansson_refusal(json, len, 0, &err, t.desc, prefix);
        } else {
            st = tdm_json_merge_tree(&d, root, msg, path);
            json_decref(root);
            if (st != NULL) {
                tdm_status_free(d.st);
                d.st = st;
            }
        }
    }
    tdm_json_budget_end(&budget);
    return d.st;
}

tdm_status *tdm_json_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                            tdm_arena *arena, ProtobufCMessage **out)
{
    ProtobufCMessage *msg = tdm_json_message_new(desc, arena);
    if (msg == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory decoding JSON");
    tdm_status *st = tdm_json_merge_text(json, len, msg, NULL, arena);
    if (st == NULL)
        *out = msg;
    return st;
}
