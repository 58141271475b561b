/*
 * protobuf_bounded.c - protobuf-c decoding with a budget (protobuf.h).
 *
 * The decode runs through an allocator that takes from the arena and counts: an
 * allocation that would pass the budget fails, protobuf-c gives up and frees what it
 * built (into the arena, which keeps it until the call ends), and the refusal says
 * which limit was reached. Frees do not give budget back: the arena does not reuse
 * memory, so the count is what the decode really holds.
 */
#include <stdbool.h>

#include "tandem/protobuf.h"

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

size_t tdm_protobuf_decode_budget(size_t wire_bytes)
{
    size_t budget = TDM_DECODE_BYTES_MAX;
    if (wire_bytes < TDM_DECODE_BYTES_MAX / TDM_DECODE_EXPANSION_MAX)
        budget = wire_bytes * TDM_DECODE_EXPANSION_MAX;
    return budget < TDM_DECODE_FLOOR_BYTES ? TDM_DECODE_FLOOR_BYTES : budget;
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
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &b.allocator, len, data);
    if (m != NULL)
        return m;
    if (b.out_of_memory)
        *st = tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    else if (b.exceeded && tdm_protobuf_decode_budget(len) == TDM_DECODE_BYTES_MAX)
        *st = tdm_status_new(TDM_RESOURCE_EXHAUSTED,
                             "request message would take more than %u MiB decoded",
                             TDM_DECODE_BYTES_MAX / (1024u * 1024u));
    else if (b.exceeded)
        *st = tdm_status_new(TDM_RESOURCE_EXHAUSTED,
                             "request message would take more than %u times its %zu bytes "
                             "decoded (too many fields, unknown fields included)",
                             TDM_DECODE_EXPANSION_MAX, len);
    else
        *st = tdm_status_new(TDM_INVALID_ARGUMENT, "request message could not be decoded as %s",
                             desc->name);
    return NULL;
}
