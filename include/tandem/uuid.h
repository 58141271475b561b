/*
 * uuid.h - new random UUIDs (RFC 9562 version 4), many at a time.
 *
 * libuuid's uuid_generate and uuid_generate_random reseed libc's random() from
 * getpid(), getuid() and the clock on every call (util-linux's crank_random) and
 * mix it into the bytes getrandom() gave: about 9 µs a UUID on this kind of
 * machine, 90 ms for the outbox ids of a 10,000-row BatchEnrol (bench/RESULTS.md).
 * These take their 122 random bits from OpenSSL's CSPRNG (RAND_bytes), all the
 * UUIDs of a call in one draw, and fall back to libuuid if it ever fails.
 */
#ifndef TANDEM_UUID_H
#define TANDEM_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* n new UUIDs into out[0..n), as 16 bytes each (the wire form of a uuid column). */
void tdm_uuid_random(uint8_t (*out)[16], size_t n);

/* One new UUID in its 36-character lower-case text form, NUL-terminated. */
void tdm_uuid_text(char out[37]);

/* A UUID's 16 bytes from its text form (tdm_uuid_valid's); false, out untouched,
 * when s is not one. */
bool tdm_uuid_parse(const char *s, uint8_t out[16]);

#endif
