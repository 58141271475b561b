/*
 * protobuf_bounded.c - protobuf-c decoding with a budget (protobuf.h).
 *
 * The decode runs through an allocator that takes from the arena and counts: an
 * allocation that would pass the budget fails, protobuf-c gives up and frees what it
 * built (into the arena, which keeps it until the call ends), and the refusal says
 * which limit was reached. Frees do not give budget back: the arena does not reuse
 * memory, so the count is what the decode really holds.
 *
 * Unknown fields are dropped before decoding: protobuf-c would keep each one (a
 * struct and a copy of its bytes, tens of bytes for a 2-byte `78 00`) for a
 * re-serialisation no Tandem service does. The bytes are scanned against the
 * descriptors first, at every depth of known message fields (UNKNOWN_SCAN_DEPTH_MAX
 * levels, each scanned once per level above it); only a message that has unknown
 * fields is copied without them (the copy, the size of the known fields, is counted
 * in the budget), so ordinary messages cost a scan and unknown fields nothing. Bytes that are not
 * well-formed, or nest deeper, are decoded as they are, and protobuf-c refuses or bounds them as
 * before.
 */
#include <stdbool.h>
#include <string.h>

#include "tandem/protobuf.h"

/* Nesting of known message fields scanned for unknown fields; deeper, they are kept
 * (and counted). Tandem's requests nest 3 levels (BatchEnrol, Participant, Skill). */
#define UNKNOWN_SCAN_DEPTH_MAX 16
/* A length-delimited field's length is written in at most this many varint bytes
 * (lengths below 2^35; messages are far smaller). */
#define VARINT_LEN_MAX 5

typedef struct decode_budget {
    ProtobufCAllocator allocator;
    tdm_arena *arena;
    size_t left;
    bool exceeded;
    bool out_of_memory;
} decode_budget;

static void *budget_alloc(void *data, size_t size)
{
    decode_budget *b = data;
    if (size > b->left) {
        b->exceeded = true;
        return NULL;
    }
    b->left -= size;
    void *p = tdm_arena_alloc(b->arena, size);
    if (p == NULL)
        b->out_of_memory = true;
    return p;
}

static void budget_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr; /* the arena frees everything at once */
}

/* ---- unknown fields ----------------------------------------------------------------- */

typedef struct wire_field {
    uint32_t number;
    unsigned type;              /* 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 */
    const uint8_t *start, *end; /* the whole field, tag included */
    const uint8_t *after_tag;   /* where the value (or its length) starts */
    const uint8_t *value;       /* wire type 2: the payload */
    size_t value_len;
} wire_field;

/* Read a varint at *p (before end); false when malformed or truncated. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* The next field at *p; false when the bytes are not a well-formed field (groups,
 * wire types 3 and 4, included: protobuf-c refuses them). */
static bool next_field(const uint8_t **p, const uint8_t *end, wire_field *f)
{
    uint64_t tag, n = 0;
    f->start = *p;
    if (!read_varint(p, end, &tag) || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
        return false;
    f->number = (uint32_t)(tag >> 3);
    f->type = (unsigned)(tag & 7);
    f->after_tag = *p;
    f->value = NULL;
    f->value_len = 0;
    switch (f->type) {
    case 0:
        if (!read_varint(p, end, &n))
            return false;
        break;
    case 1:
    case 5:
        n = f->type == 1 ? 8 : 4;
        if ((size_t)(end - *p) < n)
            return false;
        *p += n;
        break;
    case 2:
        if (!read_varint(p, end, &n) || n > (uint64_t)(end - *p))
            return false;
        f->value = *p;
        f->value_len = (size_t)n;
        *p += n;
        break;
    default:
        return false;
    }
    f->end = *p;
    return true;
}

/* The descriptor of field f when it is a known message field carried as bytes (then
 * its payload is a message of that type), NULL otherwise. */
static const ProtobufCMessageDescriptor *message_field(const ProtobufCMessageDescriptor *desc,
                                                       const wire_field *f)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(desc, f->number);
    if (fd == NULL || f->type != 2 || fd->type != PROTOBUF_C_TYPE_MESSAGE)
        return NULL;
    return fd->descriptor;
}

static size_t write_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    do {
        out[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    return n;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* The size of `len` bytes of `desc` without their unknown fields, at every depth of
 * known message fields; -1 when they are not well-formed or nest past
 * UNKNOWN_SCAN_DEPTH_MAX (then they are decoded as they are). */
static ptrdiff_t known_size(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
                            int depth, uint32_t skip)
{
    if (depth > UNKNOWN_SCAN_DEPTH_MAX)
        return -1;
    const uint8_t *end = p + len;
    size_t n = 0;
    while (p < end) {
        wire_field f;
        if (!next_field(&p, end, &f))
            return -1;
        if (protobuf_c_message_descriptor_get_field(desc, f.number) == NULL ||
            (f.number == skip && f.type == 2))
            continue;
        const ProtobufCMessageDescriptor *sub = message_field(desc, &f);
        if (sub == NULL) {
            n += (size_t)(f.end - f.start);
            continue;
        }
        ptrdiff_t sub_len = known_size(sub, f.value, f.value_len, depth + 1, 0);
        if (sub_len < 0)
            return -1;
        n += (size_t)(f.after_tag - f.start) + varint_size((uint64_t)sub_len) + (size_t)sub_len;
    }
    return (ptrdiff_t)n;
}

/* Copy well-formed bytes (known_size said so) without their unknown fields into out,
 * which has room for len + VARINT_LEN_MAX per level of nesting; returns the length. */
static size_t copy_known(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
                         uint8_t *out, uint32_t skip)
{
    const uint8_t *end = p + len;
    size_t n = 0;
    while (p < end) {
        wire_field f;
        (void)next_field(&p, end, &f);
        if (protobuf_c_message_descriptor_get_field(desc, f.number) == NULL ||
            (f.number == skip && f.type == 2))
            continue;
        const ProtobufCMessageDescriptor *sub = message_field(desc, &f);
        if (sub == NULL) {
            memcpy(out + n, f.start, (size_t)(f.end - f.start));
            n += (size_t)(f.end - f.start);
            continue;
        }
        /* Tag, then the filtered payload written past room for its length, moved
         * back once the length is known. */
        size_t tag_len = (size_t)(f.after_tag - f.start);
        memcpy(out + n, f.start, tag_len);
        n += tag_len;
        uint8_t *payload = out + n + VARINT_LEN_MAX;
        size_t sub_len = copy_known(sub, f.value, f.value_len, payload, 0);
        size_t len_len = write_varint(out + n, sub_len);
        memmove(out + n + len_len, payload, sub_len);
        n += len_len + sub_len;
    }
    return n;
}

size_t tdm_protobuf_decode_budget(size_t wire_bytes)
{
    size_t budget = TDM_DECODE_BYTES_MAX;
    if (wire_bytes < TDM_DECODE_BYTES_MAX / TDM_DECODE_EXPANSION_MAX)
        budget = wire_bytes * TDM_DECODE_EXPANSION_MAX;
    return budget < TDM_DECODE_FLOOR_BYTES ? TDM_DECODE_FLOOR_BYTES : budget;
}

tdm_status *tdm_decode_limit_refusal(size_t wire_bytes)
{
    if (tdm_protobuf_decode_budget(wire_bytes) == TDM_DECODE_BYTES_MAX)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED,
                              "request message would take more than %u MiB decoded",
                              TDM_DECODE_BYTES_MAX / (1024u * 1024u));
    return tdm_status_new(TDM_RESOURCE_EXHAUSTED,
                          "request message would take more than %u times its %zu bytes "
                          "decoded (too many fields)",
                          TDM_DECODE_EXPANSION_MAX, wire_bytes);
}

/* ---- lazy fields ---------------------------------------------------------------------- */

#define LAZY_FIELDS_MAX 8

static struct {
    const ProtobufCMessageDescriptor *desc;
    uint32_t field;
} lazy_fields[LAZY_FIELDS_MAX];
static size_t n_lazy_fields;

int tdm_protobuf_set_lazy(const ProtobufCMessageDescriptor *desc, uint32_t field)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(desc, field);
    if (fd == NULL || fd->type != PROTOBUF_C_TYPE_MESSAGE || fd->label != PROTOBUF_C_LABEL_REPEATED)
        return -1;
    for (size_t i = 0; i < n_lazy_fields; i++) {
        if (lazy_fields[i].desc == desc)
            return lazy_fields[i].field == field ? 0 : -1;
    }
    if (n_lazy_fields == LAZY_FIELDS_MAX)
        return -1;
    lazy_fields[n_lazy_fields].desc = desc;
    lazy_fields[n_lazy_fields].field = field;
    n_lazy_fields++;
    return 0;
}

static uint32_t lazy_field_of(const ProtobufCMessageDescriptor *desc)
{
    for (size_t i = 0; i < n_lazy_fields; i++) {
        if (lazy_fields[i].desc == desc)
            return lazy_fields[i].field;
    }
    return 0;
}

/* How many elements of field `lazy` (length-delimited) the top level of the bytes
 * holds; -1 when the top level is not well-formed. */
static ptrdiff_t count_lazy(const uint8_t *p, size_t len, uint32_t lazy)
{
    const uint8_t *end = p + len;
    ptrdiff_t n = 0;
    while (p < end) {
        wire_field f;
        if (!next_field(&p, end, &f))
            return -1;
        n += f.number == lazy && f.type == 2;
    }
    return n;
}

size_t tdm_protobuf_lazy_count(const ProtobufCMessage *m)
{
    return m->n_unknown_fields;
}

ProtobufCMessage *tdm_protobuf_lazy_unpack(const ProtobufCMessage *m, size_t i, tdm_arena *arena,
                                           tdm_status **st)
{
    *st = NULL;
    const ProtobufCFieldDescriptor *fd =
        i < m->n_unknown_fields
            ? protobuf_c_message_descriptor_get_field(m->descriptor, m->unknown_fields[i].tag)
            : NULL;
    if (fd == NULL || fd->type != PROTOBUF_C_TYPE_MESSAGE) {
        *st = tdm_status_new(TDM_INTERNAL, "no lazy element %zu in %s", i, m->descriptor->name);
        return NULL;
    }
    /* The slice is the length prefix and the payload, as the wire had them. */
    const uint8_t *p = m->unknown_fields[i].data, *end = p + m->unknown_fields[i].len;
    uint64_t n = 0;
    if (!read_varint(&p, end, &n) || n != (uint64_t)(end - p)) {
        *st = tdm_status_new(TDM_INTERNAL, "lazy element %zu of %s is not length-delimited", i,
                             m->descriptor->name);
        return NULL;
    }
    return tdm_protobuf_unpack(fd->descriptor, arena, p, (size_t)n, st);
}

/* ---- decoding ------------------------------------------------------------------------- */

static tdm_status *refusal(const decode_budget *b, const ProtobufCMessageDescriptor *desc,
                           size_t len)
{
    if (b->out_of_memory)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    if (b->exceeded)
        return tdm_decode_limit_refusal(len);
    return tdm_status_new(TDM_INVALID_ARGUMENT, "request message could not be decoded as %s",
                          desc->name);
}

/* A message with a lazy field: the elements become slices, the rest is decoded
 * without them (and without unknown fields). */
static ProtobufCMessage *unpack_lazy(const ProtobufCMessageDescriptor *desc, decode_budget *b,
                                     const uint8_t *data, size_t len, uint32_t lazy,
                                     tdm_status **st)
{
    ptrdiff_t n = count_lazy(data, len, lazy);
    ptrdiff_t rest_len = n < 0 ? -1 : known_size(desc, data, len, 0, lazy);
    if (rest_len < 0) {
        *st = refusal(b, desc, len);
        return NULL;
    }
    ProtobufCMessageUnknownField *slices = NULL;
    if (n > 0) {
        slices = budget_alloc(b, (size_t)n * sizeof(*slices));
        if (slices == NULL) {
            *st = refusal(b, desc, len);
            return NULL;
        }
        const uint8_t *p = data, *end = data + len;
        size_t k = 0;
        while (p < end) {
            wire_field f;
            (void)next_field(&p, end, &f);
            if (f.number != lazy || f.type != 2)
                continue;
            slices[k++] = (ProtobufCMessageUnknownField){
                .tag = lazy,
                .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
                .len = (size_t)(f.end - f.after_tag),
                .data = (uint8_t *)(uintptr_t)f.after_tag,
            };
        }
    }
    uint8_t *rest =
        budget_alloc(b, (size_t)rest_len + VARINT_LEN_MAX * (UNKNOWN_SCAN_DEPTH_MAX + 1));
    if (rest == NULL) {
        *st = refusal(b, desc, len);
        return NULL;
    }
    size_t rest_n = copy_known(desc, data, len, rest, lazy);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &b->allocator, rest_n, rest);
    if (m == NULL) {
        *st = refusal(b, desc, len);
        return NULL;
    }
    m->n_unknown_fields = (unsigned)n;
    m->unknown_fields = slices;
    return m;
}

ProtobufCMessage *tdm_protobuf_unpack(const ProtobufCMessageDescriptor *desc, tdm_arena *arena,
                                      const uint8_t *data, size_t len, tdm_status **st)
{
    decode_budget b = {
        .allocator = {.alloc = budget_alloc, .free = budget_free},
        .arena = arena,
        .left = tdm_protobuf_decode_budget(len),
    };
    b.allocator.allocator_data = &b;
    *st = NULL;
    uint32_t lazy = lazy_field_of(desc);
    if (lazy != 0)
        return unpack_lazy(desc, &b, data, len, lazy, st);
    const uint8_t *msg = data;
    size_t msg_len = len;
    ptrdiff_t known_len = known_size(desc, data, len, 0, 0);
    if (known_len >= 0 && (size_t)known_len < len) {
        uint8_t *known =
            budget_alloc(&b, (size_t)known_len + VARINT_LEN_MAX * (UNKNOWN_SCAN_DEPTH_MAX + 1));
        if (known != NULL) {
            msg_len = copy_known(desc, data, len, known, 0);
            msg = known;
        }
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &b.allocator, msg_len, msg);
    if (m == NULL)
        *st = refusal(&b, desc, len);
    return m;
}
