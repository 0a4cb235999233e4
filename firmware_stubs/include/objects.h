/* The LwM2M object tree of the stub: a static table of resources with their values, and their
 * encodings (TLV, OMA-TS-LightweightM2M_Core 1.1 7.4.3; plain text 7.4.1; opaque 7.4.2). */
#ifndef OBJECTS_H
#define OBJECTS_H

#include <stddef.h>
#include <stdint.h>

enum { RT_STR, RT_INT, RT_BOOL, RT_FLOAT, RT_OPAQUE, RT_EXEC };
#define OP_R 1u
#define OP_W 2u
#define OP_E 4u
#define OP_MULTI 8u   /* multiple-instance resource: instance 0 when *count is 1 */

struct resource {
    uint16_t obj;
    uint8_t id, type, ops;
    uint16_t cap;                  /* RT_STR: size of the char array */
    void *val;                     /* char[cap], int32_t, uint8_t (bool), float */
    const uint8_t *count;          /* OP_MULTI: number of instances (0 or 1) */
    /* instead of storing: returns a CoAP code (COAP_CHANGED when done) */
    uint8_t (*write)(const uint8_t *data, size_t len);
    uint8_t (*exec)(const uint8_t *args, size_t len);
};

/* A request path /o/i/r/ri: depth 0..4. */
struct path {
    uint8_t depth;
    uint16_t id[4];
};

/* Object values the rest of the client sets. */
struct objects {
    int32_t lifetime;
    char board[32], core[24], endpoint[64], task[32];
    char runtime[32];
    char trusted_kid[17];
    uint8_t n_trusted;
    /* Firmware Update (5) */
    int32_t fw_state, fw_result;
    char fw_uri[200], fw_name[48], fw_version[65];
    /* ML Capability (32100) and Inference (32101) */
    char model[48], model_version[32];
    int32_t clock_mhz, ml_ram, ml_flash;
    int32_t inferences, latency;
    int32_t golden_passed, golden_total;
    char last_output[32];
    float last_score;
    uint8_t enabled;
};
extern struct objects obj;

void objects_init(void);
const struct resource *resource_find(uint16_t o, uint8_t r);
/* Whether object o has instance i. */
int instance_exists(uint16_t o, uint16_t i);
/* Index-based iteration over the table: 0 past the end. */
const struct resource *resource_at(size_t i);

/* Encodes the readable content of `p` in content format `cf` into out; its length, or a
 * negative CoAP code (-COAP_NOT_FOUND, -COAP_NOT_ALLOWED, -COAP_NOT_ACCEPTABLE, ...).
 * `*cf` is CF_NONE to let it choose (and then tells which). */
int objects_read(const struct path *p, uint16_t *cf, uint8_t *out, size_t cap);
/* Writes `data` (format cf) to p: a CoAP code. */
uint8_t objects_write(const struct path *p, uint16_t cf, const uint8_t *data, size_t len);
uint8_t objects_exec(const struct path *p, const uint8_t *args, size_t len);
/* The readable single-value resources of instance o/i as SenML CBOR (RFC 8428 6): its
 * length, or -1 when it does not fit `cap`. */
int objects_senml(uint16_t o, uint16_t i, uint8_t *out, size_t cap);
/* Read-Composite (LwM2M 1.1 6.3.7): `req`, SenML CBOR name-only records of paths, answered in
 * SenML CBOR with every readable single value under them (paths that are absent or not
 * readable are left out); its length, or a negative CoAP code. */
int objects_read_composite(const uint8_t *req, size_t n, uint8_t *out, size_t cap);
/* Discover (link format) of an object, instance or resource. */
int objects_discover(const struct path *p, char *out, size_t cap);

/* Hooks the objects call (lwm2m.c). */
void lwm2m_lifetime_changed(void);
uint8_t lwm2m_update_trigger(const uint8_t *args, size_t len);

#endif
