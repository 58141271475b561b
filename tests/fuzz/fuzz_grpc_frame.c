/*
 * fuzz_grpc_frame.c - the gRPC length-prefixed message deframer (grpc_wire.c,
 * tdm_deframer_feed), fed the same bytes twice: coalesced (one call) and split into
 * chunks whose sizes come from the input (down to one byte, as DATA frames may split a
 * prefix anywhere).
 *
 * Input: byte 0 selects max_bytes (small limits reach TOO_LARGE) and after how many
 * messages on_message stops the reader; byte 1 seeds the chunk sizes; the rest is the
 * stream body.
 *
 * Asserts: both feedings deliver the same messages in the same order and end with the
 * same result and idle state; every delivered message is within max_bytes; re-framing
 * the delivered messages with tdm_grpc_prefix gives back exactly the bytes consumed;
 * no message is delivered after an error; no read or write outside the input or the
 * arena (ASan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/common/transport_internal.h"

#define FRAME_MAX_MESSAGES 4096u

typedef struct frame_log {
    size_t n;
    size_t stop_after; /* on_message returns non-zero for message number stop_after */
    size_t max_bytes;
    uint8_t *bytes; /* the messages re-framed, in order */
    size_t len, cap;
} frame_log;

static void log_append(frame_log *log, const uint8_t *data, size_t len)
{
    if (log->len + len > log->cap) {
        size_t cap = log->cap == 0 ? 256 : log->cap;
        while (cap < log->len + len)
            cap *= 2;
        uint8_t *grown = realloc(log->bytes, cap);
        if (grown == NULL)
            abort();
        log->bytes = grown;
        log->cap = cap;
    }
    if (len > 0)
        memcpy(log->bytes + log->len, data, len);
    log->len += len;
}

static int on_message(void *arg, const uint8_t *msg, size_t len)
{
    frame_log *log = arg;
    if (len > log->max_bytes || log->n >= FRAME_MAX_MESSAGES + 1) {
        fprintf(stderr, "message of %zu bytes over max %zu\n", len, log->max_bytes);
        abort();
    }
    uint8_t prefix[TDM_GRPC_HEADER_BYTES];
    tdm_grpc_prefix(prefix, (uint32_t)len);
    log_append(log, prefix, sizeof(prefix));
    log_append(log, msg, len);
    log->n++;
    return log->n == log->stop_after ? 1 : 0;
}

/* Feed data in chunks (chunk_seed 0: all at once). Returns the last result. */
static tdm_deframe_result feed(const uint8_t *data, size_t len, uint8_t chunk_seed, frame_log *log,
                               bool *idle)
{
    tdm_arena *arena = tdm_arena_new(0);
    if (arena == NULL)
        abort();
    tdm_deframer d;
    tdm_deframer_init(&d, arena, log->max_bytes, on_message, log);
    tdm_deframe_result r = TDM_DEFRAME_OK;
    size_t pos = 0;
    uint32_t rng = chunk_seed * 2654435761u + 1u;
    do {
        size_t take = len - pos;
        if (chunk_seed != 0) {
            rng = rng * 1103515245u + 12345u;
            size_t want = 1 + (rng >> 16) % (chunk_seed & 0x80 ? 3u : 17u);
            if (want < take)
                take = want;
        }
        r = tdm_deframer_feed(&d, data + pos, take);
        pos += take;
        if (r != TDM_DEFRAME_OK) {
            /* After an error or a stop the reader ignores everything. */
            size_t delivered = log->n;
            tdm_deframe_result again = tdm_deframer_feed(&d, data + pos, len - pos);
            if (again == TDM_DEFRAME_OK || log->n != delivered) {
                fprintf(stderr, "deframer went on after result %d\n", (int)r);
                abort();
            }
            break;
        }
    } while (pos < len);
    *idle = tdm_deframer_idle(&d);
    tdm_arena_free(arena);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 1u << 20)
        return 0;
    static const size_t limits[8] = {0, 1, 5, 16, 255, 4096, 65536, TDM_MAX_MESSAGE_BYTES};
    uint8_t control = data[0], chunk_seed = data[1];
    const uint8_t *body = data + 2;
    size_t len = size - 2;
    frame_log whole = {.max_bytes = limits[control & 7], .stop_after = (control >> 3) & 15};
    frame_log split = whole;
    bool idle_whole, idle_split;
    tdm_deframe_result r_whole = feed(body, len, 0, &whole, &idle_whole);
    tdm_deframe_result r_split = feed(body, len, chunk_seed | 1, &split, &idle_split);
    if (r_whole != r_split || whole.n != split.n || whole.len != split.len ||
        (whole.len > 0 && memcmp(whole.bytes, split.bytes, whole.len) != 0) ||
        idle_whole != idle_split) {
        fprintf(stderr, "coalesced and split feeding disagree: %d/%d, %zu/%zu messages\n",
                (int)r_whole, (int)r_split, whole.n, split.n);
        abort();
    }
    /* What was delivered is exactly the head of the input. */
    if (whole.len > len || (whole.len > 0 && memcmp(whole.bytes, body, whole.len) != 0)) {
        fprintf(stderr, "re-framed messages differ from the input\n");
        abort();
    }
    /* A clean end means the input was whole messages plus at most a partial one. */
    if (r_whole == TDM_DEFRAME_OK && idle_whole && whole.len != len) {
        fprintf(stderr, "idle with %zu of %zu bytes delivered\n", whole.len, len);
        abort();
    }
    free(whole.bytes);
    free(split.bytes);
    return 0;
}
