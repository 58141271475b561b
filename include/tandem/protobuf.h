/*
 * protobuf.h - decoding protobuf messages from outside the process with a bound on
 * what the decoded form may take (API.md "The public edge").
 *
 * protobuf-c builds a decoded message from many small allocations: a 2-byte field
 * (an empty sub-message, or an unknown field such as `78 00`) costs tens to hundreds
 * of bytes decoded, so a 4 MiB message can become hundreds of megabytes. Every
 * allocation of a decode is counted here, unknown fields included, and the decode is
 * refused as soon as the total would pass TDM_DECODE_EXPANSION_MAX (16) times the wire size
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

/* API.md asks for 8x. protobuf-c cannot meet that for ordinary messages: a decoded
 * message is a fixed struct of all its fields (a Participant is 256 bytes on x86-64)
 * however few are on the wire, so a BatchEnrol row of 29 bytes takes about 11x
 * decoded (measured: 2,500 such rows, 72,538 bytes, need 11.3x). 16x admits such
 * rows and still refuses the amplifications (unknown `78 00` fields take about 28x,
 * empty rows about 150x); the 64 MiB ceiling bounds every large message anyway. */
#define TDM_DECODE_EXPANSION_MAX 16u
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
