/*
 * timestamp.h - google.protobuf.Timestamp from the microseconds since the epoch
 * that PostgreSQL's timestamptz columns are read as (extract(epoch ...) * 1e6).
 */
#ifndef TANDEM_TIMESTAMP_H
#define TANDEM_TIMESTAMP_H

#include <stdint.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "tandem/arena.h"

/* A new Timestamp in the arena for us microseconds since the epoch (before it too:
 * nanos stay in [0, 1e9) as the type requires). NULL when out of memory. */
Google__Protobuf__Timestamp *tdm_timestamp_from_us(int64_t us, tdm_arena *arena);

/* The same, NULL also for 0: a column that is NULL reads as 0 (e.g. "never used"). */
Google__Protobuf__Timestamp *tdm_timestamp_from_us_or_unset(int64_t us, tdm_arena *arena);

#endif
