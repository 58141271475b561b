/*
 * protobuf.h - decoding protobuf messages from outside the process with a bound on
 * what the decoded form may take (API.md "The public edge").
 *
 * protobuf-c builds a decoded message from many small allocations: a 2-byte field
 * (an empty sub-message, or an unknown field such as `78 00`) costs tens to hundreds
 * of bytes decoded, so a 4 MiB message can become hundreds of megabytes. Unknown
 * fields are dropped before decoding, at every depth of known message fields (no
 * Tandem service re-serialises them), so they cost nothing; every allocation of the
 * decode is counted, and the decode is refused as soon as the total would pass
 * TDM_DECODE_EXPANSION_MAX (16) times the wire size (at least TDM_DECODE_FLOOR_BYTES,
 * so the fixed size of a small message's struct never refuses it) or
 * TDM_DECODE_BYTES_MAX.
 */
#ifndef TANDEM_PROTOBUF_H
#define TANDEM_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "tandem/arena.h"
#include "tandem/status.h"

/* API.md asks for 8x. protobuf-c cannot meet that for every legitimate message: a
 * decoded message is a fixed struct of all its fields (a Participant is 256 bytes on
 * x86-64) however few are on the wire. Measured (test_runtime_protobuf): BatchEnrol
 * rows as an HR platform sends them (employee number, full name, work e-mail,
 * seniority, office, department, two languages; 2,500 rows, 290,318 bytes) take 4.2x;
 * compact rows of an external id, a display name and a role (2,500 rows, 72,538
 * bytes, 29 bytes a row, as the enrolment tests send) take 12.0x. 16x admits both and
 * still refuses empty rows (about 130x); unknown fields, once 28x, are dropped; the
 * 64 MiB ceiling bounds every large message anyway. */
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
