/*
 * arena.c - bump allocation in growing blocks, freed in bulk with the call.
 * See include/tandem/arena.h.
 */
#include "tandem/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_DEFAULT_BLOCK_BYTES 4096
#define ARENA_MAX_BLOCK_BYTES     (1024 * 1024)
#define ARENA_ALIGN               16

typedef struct arena_block {
    struct arena_block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} arena_block;

typedef struct arena_deferred {
    struct arena_deferred *next;
    void (*fn)(void *);
    void *arg;
} arena_deferred;

struct tdm_arena {
    arena_block *head; /* the block being filled; big blocks are linked behind it */
    size_t next_block_bytes;
    size_t used_total;
    arena_deferred *deferred;
    ProtobufCAllocator pb_allocator;
};

static arena_block *block_new(size_t size)
{
    arena_block *b = malloc(sizeof(*b) + size);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

static void *pb_alloc(void *data, size_t size)
{
    return tdm_arena_alloc(data, size);
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

tdm_arena *tdm_arena_new(size_t first_block_bytes)
{
    tdm_arena *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    if (first_block_bytes == 0)
        first_block_bytes = ARENA_DEFAULT_BLOCK_BYTES;
    a->head = block_new(first_block_bytes);
    if (a->head == NULL) {
        free(a);
        return NULL;
    }
    a->next_block_bytes = first_block_bytes * 2;
    a->pb_allocator.alloc = pb_alloc;
    a->pb_allocator.free = pb_free;
    a->pb_allocator.allocator_data = a;
    return a;
}

void tdm_arena_free(tdm_arena *a)
{
    if (a == NULL)
        return;
    /* Deferred actions run newest first, like destructors. */
    for (arena_deferred *d = a->deferred; d != NULL; d = d->next)
        d->fn(d->arg);
    arena_block *b = a->head;
    while (b != NULL) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void *tdm_arena_alloc(tdm_arena *a, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - ARENA_ALIGN)
        return NULL;
    size_t rounded = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    arena_block *b = a->head;
    if (b->size - b->used >= rounded) {
        void *p = b->data + b->used;
        b->used += rounded;
        a->used_total += rounded;
        return p;
    }
    if (rounded > a->next_block_bytes / 2) {
        /* A large allocation gets a block of its own, linked behind the head so the
         * head keeps serving small allocations. */
        arena_block *big = block_new(rounded);
        if (big == NULL)
            return NULL;
        big->used = rounded;
        big->next = b->next;
        b->next = big;
        a->used_total += rounded;
        return big->data;
    }
    arena_block *fresh = block_new(a->next_block_bytes);
    if (fresh == NULL)
        return NULL;
    if (a->next_block_bytes < ARENA_MAX_BLOCK_BYTES)
        a->next_block_bytes *= 2;
    fresh->next = b;
    a->head = fresh;
    fresh->used = rounded;
    a->used_total += rounded;
    return fresh->data;
}

void *tdm_arena_calloc(tdm_arena *a, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    void *p = tdm_arena_alloc(a, count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

void *tdm_arena_memdup(tdm_arena *a, const void *p, size_t n)
{
    void *copy = tdm_arena_alloc(a, n);
    if (copy != NULL && n > 0)
        memcpy(copy, p, n);
    return copy;
}

char *tdm_arena_strndup(tdm_arena *a, const char *s, size_t n)
{
    char *copy = tdm_arena_alloc(a, n + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}

char *tdm_arena_strdup(tdm_arena *a, const char *s)
{
    return s == NULL ? NULL : tdm_arena_strndup(a, s, strlen(s));
}

char *tdm_arena_vprintf(tdm_arena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = tdm_arena_alloc(a, (size_t)n + 1);
    if (s != NULL)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *tdm_arena_printf(tdm_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = tdm_arena_vprintf(a, fmt, ap);
    va_end(ap);
    return s;
}

int tdm_arena_defer(tdm_arena *a, void (*fn)(void *), void *arg)
{
    arena_deferred *d = tdm_arena_alloc(a, sizeof(*d));
    if (d == NULL)
        return -1;
    d->fn = fn;
    d->arg = arg;
    d->next = a->deferred;
    a->deferred = d;
    return 0;
}

size_t tdm_arena_used(const tdm_arena *a)
{
    return a->used_total;
}

ProtobufCAllocator *tdm_arena_protobuf_allocator(tdm_arena *a)
{
    return &a->pb_allocator;
}
