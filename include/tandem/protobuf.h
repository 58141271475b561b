/*
 * protobuf.h - decoding protobuf messages from outside the process with a bound on
 * what the decoded form may take (API.md "The public edge").
 *
 * protobuf-c builds a decoded message from many small allocations: a 2-byte field
 * (an empty sub-message, or an unknown field such as `78 00`) costs tens to hundreds
 * of bytes decoded, so a 4 MiB message can become hundreds of megabytes. Every
 * allocation of a decode is counted here, unknown fields included, and the decode is
 * refused as soon as the total would pass TDM_DECODE_EXPANSION_MAX times the wire size
 * (at least TDM_DECODE_FLOOR_BYTES, so the fixed size of a small message's struct
 * never refuses it) or TDM_DECODE_BYTES_MAX.
 */
#ifndef TANDEM_PROTOBUF_H
#define TANDEM_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "tandem/arena.h"
#include "tandem/status.h"

#define TDM_DECODE_EXPANSION_MAX 8u
#define TDM_DECODE_FLOOR_BYTES   (64u * 1024u)
#define TDM_DECODE_BYTES_MAX     (64u * 1024u * 1024u)

/* What a message of `wire_bytes` may take decoded. */
size_t tdm_protobuf_decode_budget(size_t wire_bytes);

/*
 * Unpack `len` bytes as `desc` into the arena. Returns the message, or NULL and sets
 * *st (the caller frees it): RESOURCE_EXHAUSTED naming the limit that was reached, or
 * INVALID_ARGUMENT when the bytes are not such a message. What a refused decode
 * allocated stays in the arena until it is freed.
 */
ProtobufCMessage *tdm_protobuf_unpack(const ProtobufCMessageDescriptor *desc, tdm_arena *arena,
                                      const uint8_t *data, size_t len, tdm_status **st);

#endif
