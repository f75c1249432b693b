/* tailgate from C: an order gateway that traces each order it receives (a SERVER span) and its
 * validation (a child span), encoding the spans itself in tailgate's record format
 * (docs/wire-format.md) and handing each to libtailgate.so with one call.
 *
 *   cc order_gateway.c -ltailgate -o order_gateway
 *   TAILGATE_RING_DIRECTORY=/dev/shm/tailgate ./order_gateway [orders]
 *
 * Prints one JSON line per order: {"trace_id", "order", "accepted"}. Every third order is
 * rejected: its validation span has status ERROR with a message. Exits 1 if a span was dropped. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "tailgate/tailgate.h"

/* A span record being written: the wire format is little-endian, as this host is. */
typedef struct span_record {
  unsigned char bytes[2048];
  size_t used;
  uint16_t items;
  int failed; /* an item did not fit: the record is not sent */
} span_record;

enum { HEADER = 8, FIXED = 56 };
enum { TAG_ATTRIBUTE = 1, TAG_EVENT = 2, TAG_STATUS_MESSAGE = 3 };
enum { VALUE_STRING = 1, VALUE_INT = 2, VALUE_DOUBLE = 3, VALUE_BOOL = 4 };
enum { KIND_INTERNAL = 1, KIND_SERVER = 2 };
enum { STATUS_UNSET = 0, STATUS_ERROR = 2 };

static void put(span_record* r, const void* data, size_t n) {
  if (r->failed || n > sizeof r->bytes - r->used) {
    r->failed = 1;
    return;
  }
  memcpy(r->bytes + r->used, data, n);
  r->used += n;
}
static void put_u8(span_record* r, uint8_t v) {
  put(r, &v, 1);
}
static void put_u16(span_record* r, uint16_t v) {
  put(r, &v, 2);
}
static void put_text(span_record* r, const char* s) {
  const size_t n = strlen(s);
  put_u16(r, (uint16_t)(n > 0xFFFF ? 0xFFFF : n));
  put(r, s, n > 0xFFFF ? 0xFFFF : n);
}

/* The fixed part: ids, start time, kind and name; the end time and status come at the end. */
static void span_begin(span_record* r, const uint8_t trace_id[16], const uint8_t span_id[8],
                       const uint8_t* parent_id, uint64_t start_ns, uint8_t kind,
                       const char* name) {
  static const uint8_t none[8];
  memset(r, 0, sizeof *r);
  r->used = HEADER; /* the record header is written by span_end */
  put(r, trace_id, 16);
  put(r, span_id, 8);
  put(r, parent_id != NULL ? parent_id : none, 8);
  put(r, &start_ns, 8);
  put(r, &start_ns, 8); /* the end time, patched by span_end */
  const uint8_t codes[4] = {kind, STATUS_UNSET, 1 /* sampled */, 0};
  put(r, codes, 4);
  put_u16(r, (uint16_t)strlen(name));
  put_u16(r, 0); /* item count, patched by span_end */
  put(r, name, strlen(name));
}

static void attribute_key(span_record* r, const char* key, uint8_t type) {
  put_u8(r, TAG_ATTRIBUTE);
  put_text(r, key);
  put_u8(r, type);
  ++r->items;
}
static void set_text(span_record* r, const char* key, const char* value) {
  attribute_key(r, key, VALUE_STRING);
  put_text(r, value);
}
static void set_int(span_record* r, const char* key, int64_t value) {
  attribute_key(r, key, VALUE_INT);
  put(r, &value, 8);
}
static void set_double(span_record* r, const char* key, double value) {
  attribute_key(r, key, VALUE_DOUBLE);
  put(r, &value, 8);
}
static void set_bool(span_record* r, const char* key, int value) {
  attribute_key(r, key, VALUE_BOOL);
  put_u8(r, value ? 1 : 0);
}
static void add_event(span_record* r, uint64_t time_ns, const char* name) {
  put_u8(r, TAG_EVENT);
  put(r, &time_ns, 8);
  put_text(r, name);
  put_u8(r, 0); /* no attributes */
  ++r->items;
}
static void set_error(span_record* r, const char* message) {
  r->bytes[HEADER + 49] = STATUS_ERROR;
  put_u8(r, TAG_STATUS_MESSAGE);
  put_text(r, message);
  ++r->items;
}

/* Writes the header, end time and item count; returns 1 if the span was handed over. */
static int span_end(tailgate_tracer* tracer, span_record* r, uint64_t end_ns) {
  if (r->failed) return 0;
  const uint32_t length = (uint32_t)r->used;
  const uint16_t type = 1, schema = 1;
  memcpy(r->bytes, &length, 4);
  memcpy(r->bytes + 4, &type, 2);
  memcpy(r->bytes + 6, &schema, 2);
  memcpy(r->bytes + HEADER + 40, &end_ns, 8);
  memcpy(r->bytes + HEADER + 54, &r->items, 2);
  return tailgate_emit(tracer, r->bytes, r->used);
}

static void new_id(uint8_t* id, size_t n) {
  do {
    if (getrandom(id, n, 0) != (ssize_t)n) abort();
  } while (id[0] == 0); /* never all zero */
}

int main(int argc, char** argv) {
  const int orders = argc > 1 ? atoi(argv[1]) : 3;
  const char* keys[] = {"service.name", "service.version", "telemetry.sdk.language"};
  const char* values[] = {"c-order-gateway", "1.0.0", "c"};
  const tailgate_options options = {getenv("TAILGATE_RING_DIRECTORY"), 0, 0};
  tailgate_tracer* tracer = tailgate_tracer_new(keys, values, 3, &options);
  if (tracer == NULL) return 2;
  if (tailgate_error(tracer)[0] != '\0') {
    fprintf(stderr, "no segment (spans are dropped): %s\n", tailgate_error(tracer));
  }
  for (int i = 0; i < orders; ++i) {
    uint8_t trace_id[16], root_id[8], child_id[8];
    new_id(trace_id, 16);
    new_id(root_id, 8);
    new_id(child_id, 8);
    const int accepted = i % 3 != 2;
    span_record root, child;
    span_begin(&root, trace_id, root_id, NULL, tailgate_now_ns(tracer), KIND_SERVER,
               "gateway.order.receive");
    set_int(&root, "order.id", 1000 + i);
    set_text(&root, "order.symbol", "BTCUSDT");

    span_begin(&child, trace_id, child_id, root_id, tailgate_now_ns(tracer), KIND_INTERNAL,
               "gateway.order.validate");
    set_double(&child, "order.quantity", 0.5 * (i + 1));
    set_bool(&child, "risk.passed", accepted);
    add_event(&child, tailgate_now_ns(tracer), "limits.checked");
    if (!accepted) set_error(&child, "quantity over the position limit");
    span_end(tracer, &child, tailgate_now_ns(tracer)); /* children end first */
    set_bool(&root, "order.accepted", accepted);
    span_end(tracer, &root, tailgate_now_ns(tracer));

    printf("{\"trace_id\": \"");
    for (int b = 0; b < 16; ++b) printf("%02x", trace_id[b]);
    printf("\", \"order\": %d, \"accepted\": %s}\n", 1000 + i, accepted ? "true" : "false");
  }
  tailgate_stats stats;
  tailgate_stats_get(tracer, &stats);
  tailgate_tracer_free(tracer); /* committed spans still reach the agent */
  return stats.dropped == 0 ? 0 : 1;
}
