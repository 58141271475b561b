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
 * TDM_DECODE_EXPANSION_MAX (8) times the wire size (at least TDM_DECODE_FLOOR_BYTES,
 * so the fixed size of a small message's struct never refuses it) or
 * TDM_DECODE_BYTES_MAX.
 *
 * Lazy fields. protobuf-c decodes every element of a repeated message field into a
 * fixed struct of all its fields (a Participant is 256 bytes on x86-64), so compact
 * rows (29 bytes on the wire) would take 12x. A repeated message field registered
 * with tdm_protobuf_set_lazy is not decoded: each element is kept as a slice of the
 * wire bytes (no copy) in the message's unknown_fields - tag the field's number,
 * data its length prefix and payload, sizeof(ProtobufCMessageUnknownField) = 24
 * bytes whatever the element holds - and the handler decodes one element at a time
 * with tdm_protobuf_lazy_unpack into a scratch arena it frees before the next. The
 * rest of the message is decoded as above. Packing the message writes the elements
 * back as they came (protobuf-c packs unknown fields after the known ones), so a
 * hash of the packed request (Idempotency-Key) still covers them. The message
 * points into the wire bytes: they must outlive it (a call's request bytes live in
 * its arena).
 */
#ifndef TANDEM_PROTOBUF_H
#define TANDEM_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "tandem/arena.h"
#include "tandem/status.h"

/* API.md: at most 8x the wire size. BatchEnrol's rows are lazy (tandem-enrolment
 * registers them), so a row costs its 24-byte slice decoded: compact rows of an
 * external id, a display name and a role (29 bytes a row) take under 1x, an HR
 * platform's rows less; empty rows (`12 00`, 2 bytes for a 24-byte slice) are
 * refused. Measured in test_runtime_protobuf. A message without a lazy field is
 * decoded whole, within the same bound. */
#define TDM_DECODE_EXPANSION_MAX 8u
#define TDM_DECODE_FLOOR_BYTES   (64u * 1024u)
#define TDM_DECODE_BYTES_MAX     (64u * 1024u * 1024u)

/* What a message of `wire_bytes` may take decoded. */
size_t tdm_protobuf_decode_budget(size_t wire_bytes);
/* The refusal of a message of `wire_bytes` whose decoding would pass that budget:
 * RESOURCE_EXHAUSTED naming the limit reached (the 64 MiB ceiling, or 8 times the wire
 * size). Shared by every decoder (protobuf, JSON) so each says it in the same words. */
tdm_status *tdm_decode_limit_refusal(size_t wire_bytes);

/*
 * Unpack `len` bytes as `desc` into the arena. Returns the message, or NULL and sets
 * *st (the caller frees it): RESOURCE_EXHAUSTED naming the limit that was reached, or
 * INVALID_ARGUMENT when the bytes are not such a message. What a refused decode
 * allocated stays in the arena until it is freed.
 */
ProtobufCMessage *tdm_protobuf_unpack(const ProtobufCMessageDescriptor *desc, tdm_arena *arena,
                                      const uint8_t *data, size_t len, tdm_status **st);

/* Decode `field` (a repeated message field) of messages of `desc` lazily, in this
 * process, from now on. Call at start-up, before any decode. 0, or -1 when the field
 * is not a repeated message field, desc has another lazy field, or too many are
 * registered. */
int tdm_protobuf_set_lazy(const ProtobufCMessageDescriptor *desc, uint32_t field);
/* How many elements of its lazy field a message decoded by tdm_protobuf_unpack
 * kept (0 for a message without one). */
size_t tdm_protobuf_lazy_count(const ProtobufCMessage *m);
/* Decode element i (< tdm_protobuf_lazy_count) of m's lazy field into the arena,
 * bounded as tdm_protobuf_unpack is; NULL and *st as there (INVALID_ARGUMENT when
 * the element's bytes are not such a message). */
ProtobufCMessage *tdm_protobuf_lazy_unpack(const ProtobufCMessage *m, size_t i, tdm_arena *arena,
                                           tdm_status **st);

#endif
