/*
 * arena.h - per-call memory.
 *
 * A call (an RPC, an HTTP request) allocates everything it needs from one arena and
 * frees it in bulk when the call completes, so handlers rarely free by hand. The arena
 * also serves protobuf-c as its allocator: messages unpacked with
 * tdm_arena_protobuf_allocator() live exactly as long as the call.
 *
 * Blocks grow geometrically; an allocation larger than half a block gets a block of
 * its own, so a 32 MiB BatchEnrol body does not waste a 64 MiB block.
 * Not thread-safe: an arena belongs to one call on one loop.
 */
#ifndef TANDEM_ARENA_H
#define TANDEM_ARENA_H

#include <stdarg.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct tdm_arena tdm_arena;

/* NULL on allocation failure. first_block_bytes 0 means a sensible default (4 KiB). */
tdm_arena *tdm_arena_new(size_t first_block_bytes);
void tdm_arena_free(tdm_arena *a);

/* 16-byte aligned memory, NULL when out of memory. Zeroed by tdm_arena_calloc. */
void *tdm_arena_alloc(tdm_arena *a, size_t n);
void *tdm_arena_calloc(tdm_arena *a, size_t count, size_t size);
char *tdm_arena_strdup(tdm_arena *a, const char *s);
char *tdm_arena_strndup(tdm_arena *a, const char *s, size_t n);
void *tdm_arena_memdup(tdm_arena *a, const void *p, size_t n);
char *tdm_arena_printf(tdm_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *tdm_arena_vprintf(tdm_arena *a, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Register fn(arg) to run when the arena is freed (e.g. PQclear of a result). */
int tdm_arena_defer(tdm_arena *a, void (*fn)(void *), void *arg);

/* Bytes handed out so far (for limits and metrics). */
size_t tdm_arena_used(const tdm_arena *a);

/* A protobuf-c allocator whose free is a no-op; valid while the arena lives. */
ProtobufCAllocator *tdm_arena_protobuf_allocator(tdm_arena *a);

#endif
