/* Objects 1 (Server), 3 (Device), 5 (Firmware Update), 32100 (ML Capability) and 32101
 * (ML Inference): a static resource table and its TLV / text / opaque codecs. */
#include <string.h>

#include "coap.h"
#include "firmware.h"
#include "fmt.h"
#include "objects.h"

struct objects obj;

static int32_t short_id = 1, zero = 0, delivery = 2;
static uint8_t notification_storing;
static char binding[4] = "U";
static char manufacturer[] = "lwm2m-mlaas", fw_version[] = "0.1.0";
static const uint8_t one = 1;

#define STR(o, i, ops, field) {o, i, RT_STR, ops, sizeof(field), field, 0, 0, 0}
#define INT(o, i, ops, ptr) {o, i, RT_INT, ops, 0, ptr, 0, 0, 0}

static uint8_t reset_counters(const uint8_t *args, size_t len);

static const struct resource table[] = {
    INT(1, 0, OP_R, &short_id),
    INT(1, 1, OP_R | OP_W, &obj.lifetime),
    {1, 6, RT_BOOL, OP_R | OP_W, 0, &notification_storing, 0, 0, 0},
    STR(1, 7, OP_R, binding),
    {1, 8, RT_EXEC, OP_E, 0, 0, 0, 0, lwm2m_update_trigger},
    STR(3, 0, OP_R, manufacturer),
    STR(3, 1, OP_R, obj.board),
    STR(3, 2, OP_R, obj.endpoint),
    STR(3, 3, OP_R, fw_version),
    {3, 11, RT_INT, OP_R | OP_MULTI, 0, &zero, &one, 0, 0},
    STR(3, 16, OP_R, binding),
    STR(3, 17, OP_R, obj.board),
    STR(3, 18, OP_R, obj.core),
    STR(3, 19, OP_R, fw_version),
    {5, 0, RT_OPAQUE, OP_W, 0, 0, 0, fw_package_write, 0},
    {5, 1, RT_STR, OP_R | OP_W, sizeof obj.fw_uri, obj.fw_uri, 0, fw_uri_write, 0},
    {5, 2, RT_EXEC, OP_E, 0, 0, 0, 0, fw_update_exec},
    INT(5, 3, OP_R, &obj.fw_state),
    INT(5, 5, OP_R, &obj.fw_result),
    STR(5, 6, OP_R, obj.fw_name),
    STR(5, 7, OP_R, obj.fw_version),
    {5, 8, RT_INT, OP_R | OP_MULTI, 0, &zero, &one, 0, 0},   /* protocols: [0] CoAP */
    INT(5, 9, OP_R, &delivery),                             /* 2: pull and push */
    STR(32100, 0, OP_R, obj.core),
    INT(32100, 1, OP_R, &obj.clock_mhz),
    INT(32100, 2, OP_R, &obj.ml_ram),
    INT(32100, 3, OP_R, &obj.ml_flash),
    {32100, 4, RT_STR, OP_R | OP_MULTI, sizeof obj.runtime, obj.runtime, &one, 0, 0},
    STR(32100, 5, OP_R | OP_W, obj.task),
    STR(32100, 6, OP_R, obj.model),
    STR(32100, 7, OP_R, obj.model_version),
    STR(32100, 8, OP_R, obj.board),
    {32100, 9, RT_STR, OP_R | OP_MULTI, sizeof obj.trusted_kid, obj.trusted_kid,
     &obj.n_trusted, 0, 0},
    STR(32101, 0, OP_R, obj.model),
    STR(32101, 1, OP_R, obj.model_version),
    INT(32101, 2, OP_R, &obj.inferences),
    STR(32101, 3, OP_R, obj.last_output),
    {32101, 4, RT_FLOAT, OP_R, 0, &obj.last_score, 0, 0, 0},
    INT(32101, 5, OP_R, &obj.latency),
    {32101, 6, RT_BOOL, OP_R | OP_W, 0, &obj.enabled, 0, 0, 0},
    {32101, 7, RT_EXEC, OP_E, 0, 0, 0, 0, reset_counters},
    INT(32101, 8, OP_R, &obj.golden_passed),
    INT(32101, 9, OP_R, &obj.golden_total),
};
#define N_RES (sizeof table / sizeof table[0])

void objects_init(void)
{
    obj.enabled = 1;
}

static uint8_t reset_counters(const uint8_t *args, size_t len)
{
    (void)args;
    (void)len;
    obj.inferences = obj.latency = 0;
    obj.last_output[0] = 0;
    obj.last_score = 0;
    return COAP_CHANGED;
}

const struct resource *resource_at(size_t i)
{
    return i < N_RES ? &table[i] : 0;
}

const struct resource *resource_find(uint16_t o, uint8_t r)
{
    size_t i;
    for (i = 0; i < N_RES; i++)
        if (table[i].obj == o && table[i].id == r)
            return &table[i];
    return 0;
}

int instance_exists(uint16_t o, uint16_t i)
{
    return i == 0 && (o == 1 || o == 3 || o == 5 || o == 32100 || o == 32101);
}

/* ---- value encodings ------------------------------------------------------------------- */

/* The value's bytes in TLV form (7.4.3.1: integers in 1, 2, 4 bytes, floats in 4). */
static size_t tlv_value(const struct resource *r, uint8_t *out)
{
    int32_t v;
    uint32_t u;
    size_t n, i;
    switch (r->type) {
    case RT_INT:
        v = *(const int32_t *)r->val;
        n = (v >= -128 && v <= 127) ? 1 : (v >= -32768 && v <= 32767) ? 2 : 4;
        for (i = 0; i < n; i++)
            out[i] = (uint8_t)((uint32_t)v >> (8 * (n - 1 - i)));
        return n;
    case RT_BOOL:
        out[0] = *(const uint8_t *)r->val ? 1 : 0;
        return 1;
    case RT_FLOAT:
        memcpy(&u, r->val, 4);
        for (i = 0; i < 4; i++)
            out[i] = (uint8_t)(u >> (24 - 8 * i));
        return 4;
    default:
        return 0;
    }
}

/* Appends one TLV (type bits: 0 object instance, 1 resource instance, 2 multiple resource,
 * 3 resource with value). Returns the new length, or cap + 1 on overflow. */
static size_t tlv_put(uint8_t *out, size_t len, size_t cap, unsigned kind, uint16_t id,
                      const uint8_t *data, size_t n)
{
    uint8_t h[6];
    size_t hl = 1;
    h[0] = (uint8_t)(kind << 6);
    if (id > 255) {
        h[0] |= 0x20;
        h[hl++] = (uint8_t)(id >> 8);
    }
    h[hl++] = (uint8_t)id;
    if (n < 8) {
        h[0] |= (uint8_t)n;
    } else if (n < 256) {
        h[0] |= 0x08;
        h[hl++] = (uint8_t)n;
    } else if (n < 65536) {
        h[0] |= 0x10;
        h[hl++] = (uint8_t)(n >> 8);
        h[hl++] = (uint8_t)n;
    } else {
        h[0] |= 0x18;
        h[hl++] = (uint8_t)(n >> 16);
        h[hl++] = (uint8_t)(n >> 8);
        h[hl++] = (uint8_t)n;
    }
    if (len > cap || hl + n > cap - len)
        return cap + 1;
    memcpy(out + len, h, hl);
    memmove(out + len + hl, data, n);  /* data may already sit in out (wrapping) */
    return len + hl + n;
}

static size_t tlv_resource(const struct resource *r, uint8_t *out, size_t len, size_t cap)
{
    uint8_t v[8];
    const uint8_t *data = v;
    size_t n;
    if (r->type == RT_STR) {
        data = (const uint8_t *)r->val;
        n = strlen((const char *)r->val);
    } else {
        n = tlv_value(r, v);
    }
    if (r->ops & OP_MULTI) {  /* a multiple resource TLV around the instances */
        uint8_t inner[64];
        size_t m = *r->count ? tlv_put(inner, 0, sizeof inner, 1, 0, data, n) : 0;
        if (m > sizeof inner)
            return cap + 1;
        return tlv_put(out, len, cap, 2, r->id, inner, m);
    }
    return tlv_put(out, len, cap, 3, r->id, data, n);
}

/* Plain text (7.4.1): strings as they are, numbers in decimal, booleans 0/1. */
static size_t text_value(const struct resource *r, char *out, size_t cap)
{
    struct sbuf b;
    sb_init(&b, out, cap);
    switch (r->type) {
    case RT_STR:
        sb_str(&b, (const char *)r->val);
        break;
    case RT_INT:
        sb_i32(&b, *(const int32_t *)r->val);
        break;
    case RT_BOOL:
        sb_str(&b, *(const uint8_t *)r->val ? "1" : "0");
        break;
    case RT_FLOAT:  /* three decimals are all a score needs */
        sb_milli(&b, *(const float *)r->val);
        break;
    default:
        break;
    }
    return b.len;
}

static int readable_instance(const struct path *p)
{
    return instance_exists(p->id[0], p->id[1]);
}

int objects_read(const struct path *p, uint16_t *cf, uint8_t *out, size_t cap)
{
    const struct resource *r = 0;
    size_t len = 0, i;

    if (p->depth == 0)
        return -COAP_NOT_ALLOWED;
    if (p->depth >= 2 && !readable_instance(p))
        return -COAP_NOT_FOUND;
    if (p->depth >= 3) {
        r = resource_find(p->id[0], (uint8_t)p->id[2]);
        if (!r || p->id[2] > 255)
            return -COAP_NOT_FOUND;
        if (!(r->ops & OP_R))
            return -COAP_NOT_ALLOWED;
        if (p->depth == 4 && (!(r->ops & OP_MULTI) || p->id[3] >= *r->count))
            return -COAP_NOT_FOUND;
    } else {
        for (i = 0; i < N_RES && table[i].obj != p->id[0]; i++)
            ;
        if (i == N_RES)
            return -COAP_NOT_FOUND;
    }
    if (*cf == CF_NONE)  /* our choice: TLV but for single values */
        *cf = r && (p->depth == 4 || !(r->ops & OP_MULTI))
                  ? (r->type == RT_OPAQUE ? CF_OPAQUE : CF_TEXT) : CF_TLV;
    if (*cf == CF_TEXT || *cf == CF_OPAQUE) {
        if (!r || (p->depth == 3 && (r->ops & OP_MULTI)) ||
            (*cf == CF_TEXT) != (r->type != RT_OPAQUE))
            return -COAP_NOT_ACCEPTABLE;
        return (int)text_value(r, (char *)out, cap);  /* opaque resources are write-only */
    }
    if (*cf != CF_TLV)
        return -COAP_NOT_ACCEPTABLE;
    if (r) {
        if (p->depth == 4) {
            struct resource one_instance = *r;
            one_instance.ops = OP_R;
            len = tlv_resource(&one_instance, out, 0, cap);
            if (len <= cap)  /* re-tag as a resource instance */
                out[0] = (uint8_t)((out[0] & 0x3F) | 0x40);
        } else {
            len = tlv_resource(r, out, 0, cap);
        }
    } else {
        size_t start = p->depth == 1 ? 5 : 0;  /* room for the object instance header */
        len = start;
        for (i = 0; i < N_RES && len <= cap; i++)
            if (table[i].obj == p->id[0] && (table[i].ops & OP_R))
                len = tlv_resource(&table[i], out, len, cap);
        if (p->depth == 1 && len <= cap)
            len = tlv_put(out, 0, cap, 0, 0, out + start, len - start);
    }
    return len > cap ? -COAP_INTERNAL_ERROR : (int)len;
}

/* ---- SenML CBOR (Send) ------------------------------------------------------------------- */

/* A CBOR head, shortest form. */
static size_t cbor_head(uint8_t *out, size_t len, size_t cap, uint8_t major, uint32_t n)
{
    uint8_t b[5];
    size_t k = 0, i;
    if (n < 24) {
        b[k++] = (uint8_t)(major << 5 | n);
    } else if (n < 0x100) {
        b[k++] = (uint8_t)(major << 5 | 24);
        b[k++] = (uint8_t)n;
    } else if (n < 0x10000) {
        b[k++] = (uint8_t)(major << 5 | 25);
        b[k++] = (uint8_t)(n >> 8);
        b[k++] = (uint8_t)n;
    } else {
        b[k++] = (uint8_t)(major << 5 | 26);
        for (i = 0; i < 4; i++)
            b[k++] = (uint8_t)(n >> (24 - 8 * i));
    }
    for (i = 0; i < k && len + i < cap; i++)
        out[len + i] = b[i];
    return len + k;
}

static size_t cbor_text(uint8_t *out, size_t len, size_t cap, const char *s, size_t n)
{
    len = cbor_head(out, len, cap, 3, (uint32_t)n);
    if (len + n <= cap)
        memcpy(out + len, s, n);
    return len + n;
}

static int senml_value(const struct resource *r)
{
    return (r->ops & OP_R) && !(r->ops & OP_MULTI) &&
           (r->type == RT_STR || r->type == RT_INT || r->type == RT_FLOAT || r->type == RT_BOOL);
}

/* A record's value (label and item) for resource r. */
static size_t senml_put_value(uint8_t *out, size_t len, size_t cap, const struct resource *r)
{
    uint32_t bits;
    switch (r->type) {
    case RT_STR:
        len = cbor_head(out, len, cap, 0, 3);  /* vs */
        len = cbor_text(out, len, cap, (const char *)r->val, strlen((const char *)r->val));
        break;
    case RT_INT: {
        int32_t v = *(const int32_t *)r->val;
        len = cbor_head(out, len, cap, 0, 2);  /* v */
        len = v < 0 ? cbor_head(out, len, cap, 1, (uint32_t)(-(v + 1)))
                    : cbor_head(out, len, cap, 0, (uint32_t)v);
        break;
    }
    case RT_FLOAT:  /* v, a single-precision float (0xfa) */
        len = cbor_head(out, len, cap, 0, 2);
        memcpy(&bits, r->val, 4);
        if (len + 5 <= cap) {
            out[len] = 0xFA;
            out[len + 1] = (uint8_t)(bits >> 24);
            out[len + 2] = (uint8_t)(bits >> 16);
            out[len + 3] = (uint8_t)(bits >> 8);
            out[len + 4] = (uint8_t)bits;
        }
        len += 5;
        break;
    default:  /* RT_BOOL: vb */
        len = cbor_head(out, len, cap, 0, 4);
        len = cbor_head(out, len, cap, 7, *(const uint8_t *)r->val ? 21 : 20);
        break;
    }
    return len;
}

int objects_senml(uint16_t o, uint16_t i, uint8_t *out, size_t cap)
{
    char name[24];
    size_t len = 0, k, records = 0;
    int first = 1;
    struct sbuf s;
    if (!instance_exists(o, i))
        return -1;
    for (k = 0; k < N_RES; k++)
        records += table[k].obj == o && senml_value(&table[k]);
    len = cbor_head(out, len, cap, 4, (uint32_t)records);
    for (k = 0; k < N_RES; k++) {
        const struct resource *r = &table[k];
        if (r->obj != o || !senml_value(r))
            continue;
        len = cbor_head(out, len, cap, 5, first ? 3 : 2);
        if (first) {  /* the first record carries the base name "/o/i/" (label -2) */
            sb_init(&s, name, sizeof name);
            sb_str(&s, "/");
            sb_u32(&s, o);
            sb_str(&s, "/");
            sb_u32(&s, i);
            sb_str(&s, "/");
            len = cbor_head(out, len, cap, 1, 1);
            len = cbor_text(out, len, cap, name, strlen(name));
            first = 0;
        }
        sb_init(&s, name, sizeof name);
        sb_u32(&s, r->id);
        len = cbor_head(out, len, cap, 0, 0);  /* n */
        len = cbor_text(out, len, cap, name, strlen(name));
        len = senml_put_value(out, len, cap, r);
    }
    return len > cap ? -1 : (int)len;
}

/* One record {0: "/o/i/r", value}; the records' count goes up by one. */
static size_t senml_record(uint8_t *out, size_t len, size_t cap, uint16_t i,
                           const struct resource *r, size_t *records)
{
    char name[24];
    struct sbuf s;
    sb_init(&s, name, sizeof name);
    sb_str(&s, "/");
    sb_u32(&s, r->obj);
    sb_str(&s, "/");
    sb_u32(&s, i);
    sb_str(&s, "/");
    sb_u32(&s, r->id);
    len = cbor_head(out, len, cap, 5, 2);
    len = cbor_head(out, len, cap, 0, 0);
    len = cbor_text(out, len, cap, name, strlen(name));
    (*records)++;
    return senml_put_value(out, len, cap, r);
}

/* A name-only record's name (bn + n) from a SenML CBOR reader; -1 when malformed. */
static int senml_name(const uint8_t **p, const uint8_t *end, char *name, size_t cap)
{
    size_t pairs, k, have = 0;
    const uint8_t *q = *p;
    if (q >= end || *q >> 5 != 5 || (*q & 31) >= 24)
        return -1;
    pairs = *q++ & 31;
    for (k = 0; k < pairs; k++) {
        size_t n;
        int label;
        if (q + 2 > end)
            return -1;
        if (*q == 0x00)
            label = 0;      /* n */
        else if (*q == 0x21)
            label = -2;     /* bn */
        else
            return -1;      /* a path carries no value */
        q++;
        if (*q >> 5 != 3 || (*q & 31) >= 24)
            return -1;
        n = *q++ & 31;
        if ((size_t)(end - q) < n || have + n >= cap)
            return -1;
        if (label == -2)  /* (bn precedes n) */
            have = 0;
        memcpy(name + have, q, n);
        have += n;
        q += n;
    }
    name[have] = 0;
    *p = q;
    return 0;
}

static int parse_name(const char *s, struct path *p)
{
    uint32_t v;
    p->depth = 0;
    while (*s == '/' && s[1]) {
        const char *start = ++s;
        while (*s >= '0' && *s <= '9')
            s++;
        if (s == start || p->depth == 4 || parse_u32(start, (size_t)(s - start), &v) ||
            v > 65535)
            return -1;
        p->id[p->depth++] = (uint16_t)v;
    }
    return *s ? -1 : 0;
}

int objects_read_composite(const uint8_t *req, size_t n, uint8_t *out, size_t cap)
{
    const uint8_t *q = req, *end = req + n;
    size_t count, k, t, len = 5, records = 0;  /* (room for the array head) */
    char name[48];
    struct path p;
    if (n == 0 || *q >> 5 != 4 || (*q & 31) >= 24)
        return -COAP_BAD_REQUEST;
    count = *q++ & 31;
    for (k = 0; k < count; k++) {
        if (senml_name(&q, end, name, sizeof name) || parse_name(name, &p))
            return -COAP_BAD_REQUEST;
        if (p.depth == 0 || p.depth == 4)
            return -COAP_BAD_REQUEST;  /* the root, resource instances: not here */
        if (p.depth >= 2 && !instance_exists(p.id[0], p.id[1]))
            continue;
        if (p.depth == 1 && !instance_exists(p.id[0], 0))
            continue;
        for (t = 0; t < N_RES; t++) {
            const struct resource *r = &table[t];
            if (r->obj == p.id[0] && senml_value(r) && (p.depth < 3 || r->id == p.id[2]))
                len = senml_record(out, len, cap, p.depth == 1 ? 0 : p.id[1], r, &records);
        }
    }
    if (q != end)
        return -COAP_BAD_REQUEST;
    if (len > cap)
        return -COAP_INTERNAL_ERROR;
    t = cbor_head(out, 0, 5, 4, (uint32_t)records);  /* the head, then the records after it */
    memmove(out + t, out + 5, len - 5);
    return (int)(len - 5 + t);
}

/* ---- writes ---------------------------------------------------------------------------- */

/* Stores one value given as text (tlv == 0) or TLV value bytes. */
static uint8_t store(const struct resource *r, const uint8_t *d, size_t n, int tlv)
{
    int32_t v = 0;
    size_t i;
    if (r->write)
        return r->write(d, n);
    switch (r->type) {
    case RT_STR:
        if (n >= r->cap || memchr(d, 0, n))
            return COAP_BAD_REQUEST;
        memcpy(r->val, d, n);
        ((char *)r->val)[n] = 0;
        break;
    case RT_INT:
        if (tlv) {
            if (n != 1 && n != 2 && n != 4 && n != 8)
                return COAP_BAD_REQUEST;
            if (n == 8) {  /* only values that fit 32 bits */
                uint8_t sign = d[4] & 0x80 ? 0xFF : 0;
                for (i = 0; i < 4; i++)
                    if (d[i] != sign)
                        return COAP_BAD_REQUEST;
                d += 4;
                n = 4;
            }
            v = (int8_t)d[0];
            for (i = 1; i < n; i++)
                v = (int32_t)((uint32_t)v << 8 | d[i]);
        } else if (parse_i32((const char *)d, n, &v)) {
            return COAP_BAD_REQUEST;
        }
        if (r->obj == 1 && r->id == 1 && v <= 0)
            return COAP_BAD_REQUEST;
        *(int32_t *)r->val = v;
        break;
    case RT_BOOL:
        if (n != 1 || (tlv ? d[0] > 1 : (d[0] != '0' && d[0] != '1')))
            return COAP_BAD_REQUEST;
        *(uint8_t *)r->val = tlv ? d[0] : (uint8_t)(d[0] - '0');
        break;
    default:
        return COAP_BAD_REQUEST;
    }
    if (r->obj == 1 && r->id == 1)
        lwm2m_lifetime_changed();
    if (r->obj == 32100 && r->id == 5)
        log_str("task ", obj.task);
    return COAP_CHANGED;
}

/* One TLV at data[*pos]: its kind, id and value; -1 when malformed. */
static int tlv_next(const uint8_t *data, size_t len, size_t *pos, unsigned *kind, uint16_t *id,
                    const uint8_t **val, size_t *n)
{
    size_t p = *pos, l, i, lt;
    uint8_t t;
    if (p >= len)
        return -1;
    t = data[p++];
    *kind = t >> 6;
    if (len - p < (size_t)((t & 0x20) ? 2 : 1))
        return -1;
    *id = data[p++];
    if (t & 0x20)
        *id = (uint16_t)(*id << 8 | data[p++]);
    lt = (t >> 3) & 3;
    if (lt == 0) {
        l = t & 7;
    } else {
        if (len - p < lt)
            return -1;
        for (l = 0, i = 0; i < lt; i++)
            l = l << 8 | data[p++];
    }
    if (l > len - p)
        return -1;
    *val = data + p;
    *n = l;
    *pos = p + l;
    return 0;
}

/* Checks (apply == 0) or applies the resource TLVs of an instance write. */
static uint8_t write_tlvs(uint16_t o, const uint8_t *data, size_t len, int apply, int single)
{
    size_t pos = 0;
    while (pos < len) {
        unsigned kind;
        uint16_t id;
        const uint8_t *v;
        size_t n;
        const struct resource *r;
        if (tlv_next(data, len, &pos, &kind, &id, &v, &n))
            return COAP_BAD_REQUEST;
        if (kind == 0 && !single) {  /* an object instance wrapper: its content */
            uint8_t c;
            if (id != 0)
                return COAP_NOT_FOUND;
            c = write_tlvs(o, v, n, apply, 0);
            if (c != COAP_CHANGED)
                return c;
            continue;
        }
        r = id < 256 ? resource_find(o, (uint8_t)id) : 0;
        if (kind != 3 || !r)
            return r && (r->ops & OP_MULTI) ? COAP_NOT_ALLOWED : kind == 3 ? COAP_NOT_FOUND
                                                                            : COAP_BAD_REQUEST;
        if (!(r->ops & OP_W))
            return COAP_NOT_ALLOWED;
        if (apply) {
            uint8_t c = store(r, v, n, 1);
            if (c != COAP_CHANGED)
                return c;
        }
    }
    return COAP_CHANGED;
}

uint8_t objects_write(const struct path *p, uint16_t cf, const uint8_t *data, size_t len)
{
    const struct resource *r;
    uint8_t c;
    if (p->depth < 2 || p->depth > 3)
        return COAP_NOT_ALLOWED;
    if (!readable_instance(p))
        return COAP_NOT_FOUND;
    if (cf != CF_TEXT && cf != CF_OPAQUE && cf != CF_TLV)
        return COAP_UNSUPPORTED_CF;
    if (p->depth == 2) {  /* instance: TLV only, checked whole before anything is stored */
        if (cf != CF_TLV)
            return COAP_UNSUPPORTED_CF;
        c = write_tlvs(p->id[0], data, len, 0, 0);
        return c == COAP_CHANGED ? write_tlvs(p->id[0], data, len, 1, 0) : c;
    }
    r = p->id[2] < 256 ? resource_find(p->id[0], (uint8_t)p->id[2]) : 0;
    if (!r)
        return COAP_NOT_FOUND;
    if (!(r->ops & OP_W))
        return COAP_NOT_ALLOWED;
    if (cf == CF_TLV) {
        size_t pos = 0;
        unsigned kind;
        uint16_t id;
        const uint8_t *v;
        size_t n;
        if (tlv_next(data, len, &pos, &kind, &id, &v, &n) || pos != len || kind != 3 ||
            id != r->id)
            return COAP_BAD_REQUEST;
        return store(r, v, n, 1);
    }
    if ((cf == CF_OPAQUE) != (r->type == RT_OPAQUE))
        return COAP_UNSUPPORTED_CF;
    return store(r, data, len, 0);
}

uint8_t objects_exec(const struct path *p, const uint8_t *args, size_t len)
{
    const struct resource *r;
    if (p->depth != 3)
        return COAP_NOT_ALLOWED;
    if (!readable_instance(p))
        return COAP_NOT_FOUND;
    r = p->id[2] < 256 ? resource_find(p->id[0], (uint8_t)p->id[2]) : 0;
    if (!r)
        return COAP_NOT_FOUND;
    if (!(r->ops & OP_E))
        return COAP_NOT_ALLOWED;
    return r->exec(args, len);
}

/* ---- discover (7.4.7 link format) -------------------------------------------------------- */

int objects_discover(const struct path *p, char *out, size_t cap)
{
    struct sbuf b;
    size_t i;
    int found = 0;
    if (p->depth == 0 || p->depth > 3 || (p->depth >= 2 && !readable_instance(p)))
        return -COAP_NOT_FOUND;
    sb_init(&b, out, cap);
    if (p->depth <= 2) {  /* the object and / or the instance first */
        sb_str(&b, "</");
        sb_u32(&b, p->id[0]);
        sb_str(&b, p->depth == 1 ? ">,</" : "/0>");
        if (p->depth == 1) {
            sb_u32(&b, p->id[0]);
            sb_str(&b, "/0>");
        }
    }
    for (i = 0; i < N_RES; i++) {
        const struct resource *r = &table[i];
        if (r->obj != p->id[0] || (p->depth == 3 && r->id != p->id[2]))
            continue;
        found = 1;
        if (b.len)
            sb_str(&b, ",");
        sb_str(&b, "</");
        sb_u32(&b, r->obj);
        sb_str(&b, "/0/");
        sb_u32(&b, r->id);
        sb_str(&b, ">");
        if (r->ops & OP_MULTI) {
            sb_str(&b, ";dim=");
            sb_u32(&b, *r->count);
        }
    }
    if (!found)
        return -COAP_NOT_FOUND;
    return b.len + 1 >= cap ? -COAP_INTERNAL_ERROR : (int)b.len;
}
