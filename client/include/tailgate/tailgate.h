/* tailgate's C ABI (libtailgate.so): for languages that encode their own wire records (see
 * docs/wire-format.md) and hand them over with one foreign call per finished span, or one per
 * batch. The Python module (client/python/tailgate) is built on it. One tracer per process. Every
 * call is safe from any thread; emit never blocks: a full lane drops the record and counts it. */
#ifndef TAILGATE_H
#define TAILGATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

typedef struct tailgate_tracer tailgate_tracer;

typedef struct tailgate_options {
  const char* directory; /* NULL: /dev/shm/tailgate */
  uint32_t lanes;        /* 0: 8 */
  uint64_t lane_bytes;   /* 0: 1 MiB; a power of two */
} tailgate_options;

typedef struct tailgate_stats {
  uint64_t dropped;       /* records lost in this process: lanes full, no segment */
  uint64_t dropped_items; /* attributes and events left out of spans that were too big */
  int attached;           /* 1 if this process has a segment */
} tailgate_stats;

/* Creates the process's tracer with `count` resource attributes (keys[i] = values[i]; must
 * include service.name). `options` may be NULL. Returns NULL if a tracer exists already; without a
 * segment (see tailgate_error) it still returns a tracer that drops and counts. */
tailgate_tracer* tailgate_tracer_new(const char* const* keys, const char* const* values,
                                     size_t count, const tailgate_options* options);
void tailgate_tracer_free(tailgate_tracer* tracer);

/* Why the tracer has no segment, or "". Valid until tailgate_tracer_free. */
const char* tailgate_error(const tailgate_tracer* tracer);

/* One encoded record (header included). Returns 1 if written, 0 if dropped. */
int tailgate_emit(tailgate_tracer* tracer, const void* record, size_t length);

/* Records back to back, each starting at a multiple of 8 bytes from `records` (the wire format's
 * alignment). Returns how many were written; the rest were dropped and counted. A record whose
 * header does not fit in `length` ends the batch. */
size_t tailgate_emit_batch(tailgate_tracer* tracer, const void* records, size_t length);

void tailgate_stats_get(const tailgate_tracer* tracer, tailgate_stats* out);

/* 1 if an agent reads the ring directory (its heartbeat there is under 5 s old), 0 if none does
 * ("no agent": spans wait in the segment and are dropped once it fills; the first such answer is
 * also written once to stderr). `heartbeat_age_ns`, if not NULL, gets the nanoseconds since the
 * agent's last heartbeat, -1 if there is none. A function of its own, not a field of
 * tailgate_stats: callers built against the older, smaller struct keep working. */
int tailgate_agent_reading(const tailgate_tracer* tracer, int64_t* heartbeat_age_ns);

/* Wall-clock unix nanoseconds from the tracer's clock (no syscall). */
uint64_t tailgate_now_ns(const tailgate_tracer* tracer);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* TAILGATE_H */
