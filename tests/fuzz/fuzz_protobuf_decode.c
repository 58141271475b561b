/*
 * fuzz_protobuf_decode.c - bounded protobuf decoding (protobuf_bounded.c,
 * tdm_protobuf_unpack) of every request message a Tandem service accepts.
 *
 * Input: byte 0 picks the request type (a method of the enrolment, matching,
 * feedback, tenant or webhook service); the rest is the message.
 *
 * Asserts: a decode either returns a message and no status, or no message and a
 * status that is RESOURCE_EXHAUSTED or INVALID_ARGUMENT; what the decode left in the
 * arena stays within the budget (8x the wire size, at least 64 KiB, at most 64 MiB)
 * plus the arena's block rounding, the copy without unknown fields included; a decoded
 * message packs again; no read or write outside the input or the arena (ASan).
 * BatchEnrol's rows are lazy, as in tandem-enrolment: each kept row is decoded on its
 * own in a scratch arena, within the same budget of its own bytes.
 * The corpus holds the amplifications: unknown fields at the top and inside rows,
 * empty rows, unknown fields mixed with known ones at three depths, compact rows
 * (29 bytes each: 12x decoded eagerly) and the smallest valid rows.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tandem/protobuf.h"
#include "tandem/v1/enrolment.pb-c.h"
#include "tandem/v1/feedback.pb-c.h"
#include "tandem/v1/matching.pb-c.h"
#include "tandem/v1/tenant.pb-c.h"
#include "tandem/v1/webhook.pb-c.h"

/* The arena hands out memory from blocks; a refused decode may have opened one. */
#define ARENA_SLACK_BYTES (128u * 1024u)

static const ProtobufCServiceDescriptor *const SERVICES[] = {
    &tandem__v1__enrolment_service__descriptor, &tandem__v1__matching_service__descriptor,
    &tandem__v1__feedback_service__descriptor,  &tandem__v1__tenant_service__descriptor,
    &tandem__v1__webhook_service__descriptor,
};

static const ProtobufCMessageDescriptor *pick(uint8_t b)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof(SERVICES) / sizeof(SERVICES[0]); i++)
        n += SERVICES[i]->n_methods;
    size_t k = b % n;
    for (size_t i = 0; i < sizeof(SERVICES) / sizeof(SERVICES[0]); i++) {
        if (k < SERVICES[i]->n_methods)
            return SERVICES[i]->methods[k].input;
        k -= SERVICES[i]->n_methods;
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static bool lazy_set;
    if (!lazy_set) {
        /* BatchEnrolRequest.participants, as tandem-enrolment registers it. */
        if (tdm_protobuf_set_lazy(&tandem__v1__batch_enrol_request__descriptor, 2) != 0)
            abort();
        lazy_set = true;
    }
    const ProtobufCMessageDescriptor *desc = pick(data[0]);
    const uint8_t *msg = data + 1;
    size_t len = size - 1;
    tdm_arena *arena = tdm_arena_new(0);
    if (arena == NULL)
        abort();
    tdm_status *st = NULL;
    ProtobufCMessage *m = tdm_protobuf_unpack(desc, arena, msg, len, &st);
    if (m != NULL && st != NULL)
        abort();
    if (m == NULL &&
        (st == NULL || (st->code != TDM_RESOURCE_EXHAUSTED && st->code != TDM_INVALID_ARGUMENT)))
        abort();
    if (tdm_arena_used(arena) > tdm_protobuf_decode_budget(len) + ARENA_SLACK_BYTES) {
        fprintf(stderr, "decode of %zu bytes as %s holds %zu bytes\n", len, desc->name,
                tdm_arena_used(arena));
        abort();
    }
    for (size_t i = 0; m != NULL && i < tdm_protobuf_lazy_count(m); i++) {
        tdm_arena *scratch = tdm_arena_new(0);
        if (scratch == NULL)
            abort();
        tdm_status *row_st = NULL;
        ProtobufCMessage *row = tdm_protobuf_lazy_unpack(m, i, scratch, &row_st);
        if ((row == NULL) == (row_st == NULL))
            abort();
        if (row == NULL && row_st->code != TDM_RESOURCE_EXHAUSTED &&
            row_st->code != TDM_INVALID_ARGUMENT)
            abort();
        if (tdm_arena_used(scratch) >
            tdm_protobuf_decode_budget(m->unknown_fields[i].len) + ARENA_SLACK_BYTES)
            abort();
        tdm_status_free(row_st);
        tdm_arena_free(scratch);
    }
    if (m != NULL) {
        size_t packed = protobuf_c_message_get_packed_size(m);
        uint8_t *out = malloc(packed + 1);
        if (out == NULL || protobuf_c_message_pack(m, out) != packed)
            abort();
        free(out);
    }
    tdm_status_free(st);
    tdm_arena_free(arena);
    return 0;
}
