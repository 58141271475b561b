/*
 * json_budget.c - what one JSON decode may hold (json_internal.h, API.md "The public
 * edge": decoded memory at most 8x the wire size and at most 64 MiB per call).
 *
 * A decode holds two kinds of memory: jansson's tree of the text being decoded, and
 * the message built in the caller's arena. The arena's part is what tdm_arena_used
 * grew by since the decode began; jansson's part is counted through the allocation
 * functions given to jansson here (json_set_alloc_funcs), once, before main. They
 * are malloc and free themselves plus a count: when the calling thread has no budget
 * active (every thread but a decoding one, and a decoding thread outside its decode:
 * encoding, configuration, the SCIM documents) they only pass the call on, so jansson
 * memory allocated in one state and freed in the other is still one malloc'd block
 * freed by free. The active budget is per thread (_Thread_local), so matching's work
 * pool threads, or any process that links the runtime with threads of its own, never
 * count into, or are refused by, a decode running on the loop.
 *
 * A jansson block is counted as malloc_usable_size plus malloc's own header, taken
 * back when jansson frees it during the decode (the decoder frees each piece of the
 * tree once it is converted). An allocation that would pass the budget fails:
 * jansson gives up, frees what it built and reports out of memory, and the decoder
 * answers with tdm_json_budget_refusal.
 */
#include <malloc.h>
#include <stdlib.h>

#include <jansson.h>

#include "json_internal.h"
#include "tandem/json.h"
#include "tandem/protobuf.h"

/* What glibc's malloc spends on a block beyond its usable size (its size word, and
 * alignment), rounded up. */
#define MALLOC_HEADER_BYTES 16u

static _Thread_local tdm_json_budget *active_budget;
static _Thread_local size_t last_peak;

static size_t held(const tdm_json_budget *b)
{
    return b->dom_bytes + (b->arena != NULL ? tdm_arena_used(b->arena) - b->arena_start : 0);
}

static size_t block_bytes(void *p)
{
    return malloc_usable_size(p) + MALLOC_HEADER_BYTES;
}

bool tdm_json_budget_reserve(tdm_json_budget *b, size_t bytes)
{
    size_t now = held(b);
    if (b->exceeded || bytes > b->limit || now > b->limit - bytes) {
        b->exceeded = true;
        return false;
    }
    if (now + bytes > b->peak)
        b->peak = now + bytes;
    return true;
}

static void *budget_malloc(size_t size)
{
    tdm_json_budget *b = active_budget;
    if (b == NULL)
        return malloc(size);
    if (!tdm_json_budget_reserve(b, size + MALLOC_HEADER_BYTES))
        return NULL;
    void *p = malloc(size);
    if (p != NULL)
        b->dom_bytes += block_bytes(p);
    return p;
}

static void budget_free(void *p)
{
    tdm_json_budget *b = active_budget;
    if (b != NULL && p != NULL) {
        size_t now = held(b);
        if (now > b->peak)
            b->peak = now;
        /* A block allocated before the decode began is not in dom_bytes: never go
         * below zero for it. */
        size_t n = block_bytes(p);
        b->dom_bytes -= n < b->dom_bytes ? n : b->dom_bytes;
    }
    free(p);
}

/* Before main, so that no jansson value of the process predates the hook (they would
 * be freed by free anyway: the hook is malloc and free). */
__attribute__((constructor)) static void budget_install(void)
{
    json_set_alloc_funcs(budget_malloc, budget_free);
}

void tdm_json_budget_begin(tdm_json_budget *b, tdm_arena *arena, size_t wire_bytes)
{
    *b = (tdm_json_budget){
        .arena = arena,
        .arena_start = arena != NULL ? tdm_arena_used(arena) : 0,
        .wire_bytes = wire_bytes,
        .limit = tdm_protobuf_decode_budget(wire_bytes),
        .outer = active_budget,
    };
    active_budget = b;
}

void tdm_json_budget_end(tdm_json_budget *b)
{
    size_t now = held(b);
    if (now > b->peak)
        b->peak = now;
    last_peak = b->peak;
    active_budget = b->outer;
}

tdm_status *tdm_json_budget_refusal(const tdm_json_budget *b)
{
    return tdm_decode_limit_refusal(b->wire_bytes);
}

size_t tdm_json_decode_peak(void)
{
    return last_peak;
}

json_t *tdm_json_load_bounded(const char *text, size_t len, size_t flags, json_error_t *err,
                              tdm_status **st)
{
    tdm_json_budget b;
    *st = NULL;
    tdm_json_budget_begin(&b, NULL, len);
    json_t *doc = json_loadb(text, len, flags, err);
    tdm_json_budget_end(&b);
    if (doc == NULL && b.exceeded)
        *st = tdm_json_budget_refusal(&b);
    return doc;
}
