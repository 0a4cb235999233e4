/* CoAP message layer (RFC 7252) and block options (RFC 7959). */
#include <string.h>

#include "coap.h"
#include "platform.h"

/* Transmission parameters (RFC 7252 4.8) */
#define ACK_TIMEOUT_MS 2000u
#define ACK_RANDOM_FACTOR_PCT 150u
#define MAX_RETRANSMIT 4
#define SEPARATE_WAIT_MS 30000u   /* after an empty ACK, how long a separate response may take */

#define EXCHANGES 4
#define EXCHANGE_PDU 640
#define SEEN 4
#define SEEN_PDU 400

struct exchange {
    uint8_t used, acked, tries, tkl;
    uint16_t mid;
    uint8_t token[8];
    uint32_t ip;
    uint16_t port;
    uint32_t deadline, timeout;
    coap_cb cb;
    void *arg;
    size_t len;
    uint8_t pdu[EXCHANGE_PDU];
};

/* Recent responses to CON requests, by (peer, MID): a retransmitted request gets the same
 * answer without being processed again (RFC 7252 4.5). */
struct seen {
    uint8_t used;
    uint16_t mid;
    uint32_t ip;
    uint16_t port;
    size_t len;
    uint8_t pdu[SEEN_PDU];
};

static struct exchange exchanges[EXCHANGES];
static struct seen seen[SEEN];
static unsigned seen_next;
static uint32_t rng_state = 0x2545F491u;
static uint16_t mid_next;
static coap_request_handler request_handler;
static void (*rst_handler)(uint16_t mid);

/* ---- parsing (RFC 7252 3) ---------------------------------------------------------------- */

/* Reads an extended delta or length nibble (RFC 7252 3.1); -1 when malformed. */
static int32_t ext_field(uint8_t nibble, const uint8_t *buf, size_t len, size_t *pos)
{
    if (nibble < 13)
        return nibble;
    if (nibble == 13) {
        if (*pos + 1 > len)
            return -1;
        return 13 + buf[(*pos)++];
    }
    if (nibble == 14) {
        int32_t v;
        if (*pos + 2 > len)
            return -1;
        v = 269 + ((int32_t)buf[*pos] << 8 | buf[*pos + 1]);
        *pos += 2;
        return v;
    }
    return -1;  /* 15 is reserved for the payload marker */
}

int coap_parse(struct coap_msg *m, const uint8_t *buf, size_t len)
{
    size_t pos;
    uint32_t num = 0;
    int overflow = 0;

    memset(m, 0, sizeof *m);
    if (len < 4 || buf[0] >> 6 != 1)
        return COAP_EFORMAT;
    m->type = (buf[0] >> 4) & 3;
    m->tkl = buf[0] & 15;
    m->code = buf[1];
    m->mid = (uint16_t)(buf[2] << 8 | buf[3]);
    if (m->tkl > 8)  /* lengths 9-15 are reserved (3) */
        return COAP_EFORMAT;
    if (m->code == COAP_EMPTY && (len != 4 || m->tkl))  /* an empty message is 4 bytes (4.1) */
        return COAP_EFORMAT;
    pos = 4 + m->tkl;
    if (pos > len)
        return COAP_EFORMAT;
    memcpy(m->token, buf + 4, m->tkl);
    while (pos < len) {
        uint8_t byte = buf[pos++];
        int32_t delta, olen;
        if (byte == 0xFF) {  /* payload marker: a zero-length payload after it is an error */
            if (pos == len)
                return COAP_EFORMAT;
            m->payload = buf + pos;
            m->plen = len - pos;
            break;
        }
        delta = ext_field(byte >> 4, buf, len, &pos);
        olen = ext_field(byte & 15, buf, len, &pos);
        if (delta < 0 || olen < 0 || (size_t)olen > len - pos)
            return COAP_EFORMAT;
        num += (uint32_t)delta;
        if (num > 0xFFFF)
            return COAP_EFORMAT;
        if (m->nopt < COAP_MAX_OPTIONS) {
            struct coap_option *o = &m->opt[m->nopt++];
            o->num = (uint16_t)num;
            o->len = (uint16_t)olen;
            o->val = buf + pos;
        } else {
            overflow = 1;
        }
        pos += (size_t)olen;
    }
    return overflow ? COAP_EOPTIONS : 0;
}

const struct coap_option *coap_opt_next(const struct coap_msg *m, uint16_t num,
                                        const struct coap_option *prev)
{
    const struct coap_option *o = prev ? prev + 1 : m->opt;
    for (; o < m->opt + m->nopt; o++)
        if (o->num == num)
            return o;
    return 0;
}

const struct coap_option *coap_opt(const struct coap_msg *m, uint16_t num)
{
    return coap_opt_next(m, num, 0);
}

uint32_t coap_opt_uint(const struct coap_option *o)
{
    uint32_t v = 0;
    uint16_t i;
    if (o->len > 4)
        return 0xFFFFFFFFu;
    for (i = 0; i < o->len; i++)
        v = v << 8 | o->val[i];
    return v;
}

int coap_block(const struct coap_msg *m, uint16_t num, struct coap_block *b)
{
    const struct coap_option *o = coap_opt(m, num);
    uint32_t v;
    if (!o)
        return 0;
    if (o->len > 3)
        return -1;
    v = coap_opt_uint(o);
    b->num = v >> 4;
    b->more = (v >> 3) & 1;
    b->szx = v & 7;
    return b->szx == 7 ? -1 : 1;  /* SZX 7 is reserved (RFC 7959 2.2; BERT is for TCP only) */
}

/* ---- building ---------------------------------------------------------------------------- */

static void put(struct coap_pdu *p, const void *data, size_t n)
{
    if (p->err || n > p->cap - p->len) {
        p->err = 1;
        return;
    }
    memcpy(p->buf + p->len, data, n);
    p->len += n;
}

void coap_pdu_init(struct coap_pdu *p, uint8_t *buf, size_t cap, uint8_t type, uint8_t code,
                   uint16_t mid, const uint8_t *token, uint8_t tkl)
{
    uint8_t h[4];
    p->buf = buf;
    p->cap = cap;
    p->len = 0;
    p->last = 0;
    p->err = 0;
    h[0] = (uint8_t)(1 << 6 | type << 4 | tkl);
    h[1] = code;
    h[2] = (uint8_t)(mid >> 8);
    h[3] = (uint8_t)mid;
    put(p, h, 4);
    put(p, token, tkl);
}

static size_t nibble(uint32_t v, uint8_t *ext, size_t *n)
{
    if (v < 13)
        return v;
    if (v < 269) {
        ext[(*n)++] = (uint8_t)(v - 13);
        return 13;
    }
    ext[(*n)++] = (uint8_t)((v - 269) >> 8);
    ext[(*n)++] = (uint8_t)(v - 269);
    return 14;
}

void coap_add_opt(struct coap_pdu *p, uint16_t num, const void *val, size_t len)
{
    uint8_t head[5];
    size_t n = 1;
    size_t d, l;
    if (num < p->last || len > 1034) {
        p->err = 1;
        return;
    }
    d = nibble((uint32_t)(num - p->last), head, &n);
    l = nibble((uint32_t)len, head, &n);
    head[0] = (uint8_t)(d << 4 | l);
    put(p, head, n);
    put(p, val, len);
    p->last = num;
}

void coap_add_uint(struct coap_pdu *p, uint16_t num, uint32_t v)
{
    uint8_t b[4];
    size_t n = 0;
    int shift;
    for (shift = 24; shift >= 0; shift -= 8)  /* minimal length, 0 is empty (RFC 7252 3.2) */
        if (n || (v >> shift) & 0xFF)
            b[n++] = (uint8_t)(v >> shift);
    coap_add_opt(p, num, b, n);
}

void coap_add_block(struct coap_pdu *p, uint16_t num, uint32_t n, int more, uint8_t szx)
{
    coap_add_uint(p, num, n << 4 | (uint32_t)(more ? 8 : 0) | szx);
}

void coap_add_payload(struct coap_pdu *p, const void *data, size_t len)
{
    static const uint8_t marker = 0xFF;
    if (!len)
        return;
    put(p, &marker, 1);
    put(p, data, len);
}

uint8_t *coap_payload_at(struct coap_pdu *p, size_t *room)
{
    if (p->err || p->len + 2 > p->cap) {
        p->err = 1;
        *room = 0;
        return 0;
    }
    *room = p->cap - p->len - 1;
    return p->buf + p->len + 1;
}

/* ---- transport --------------------------------------------------------------------------- */

uint32_t coap_random(void)
{
    /* xorshift32: tokens and MIDs need to be hard to guess only off-path (RFC 7252 5.3.1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

void coap_init(uint32_t seed)
{
    rng_state ^= seed * 2654435761u;
    if (!rng_state)
        rng_state = 1;
    mid_next = (uint16_t)coap_random();
    memset(exchanges, 0, sizeof exchanges);
    memset(seen, 0, sizeof seen);
}

uint16_t coap_next_mid(void)
{
    return mid_next++;
}

void coap_new_token(uint8_t token[8])
{
    uint32_t a = coap_random(), b = coap_random();
    memcpy(token, &a, 4);
    memcpy(token + 4, &b, 4);
}

void coap_set_handler(coap_request_handler h)
{
    request_handler = h;
}

void coap_set_rst_handler(void (*h)(uint16_t mid))
{
    rst_handler = h;
}

void coap_start(struct coap_pdu *p, uint8_t *buf, size_t cap, uint8_t type, uint8_t code)
{
    uint8_t token[8];
    coap_new_token(token);
    coap_pdu_init(p, buf, cap, type, code, coap_next_mid(), token, 8);
}

int coap_send(const struct coap_pdu *p, uint32_t ip, uint16_t port, coap_cb cb, void *arg)
{
    struct exchange *x = 0;
    int i;
    uint8_t type = (p->buf[0] >> 4) & 3;

    if (p->err)
        return -1;
    if (type == COAP_CON || cb) {
        if (p->len > EXCHANGE_PDU)
            return -1;
        for (i = 0; i < EXCHANGES && !x; i++)
            if (!exchanges[i].used)
                x = &exchanges[i];
        if (!x)
            return -1;
        memset(x, 0, sizeof *x);
        x->used = 1;
        x->acked = type != COAP_CON;
        x->mid = (uint16_t)(p->buf[2] << 8 | p->buf[3]);
        x->tkl = p->buf[0] & 15;
        memcpy(x->token, p->buf + 4, x->tkl);
        x->ip = ip;
        x->port = port;
        x->cb = cb;
        x->arg = arg;
        x->len = p->len;
        memcpy(x->pdu, p->buf, p->len);
        /* initial timeout random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR] (4.2) */
        x->timeout = x->acked ? SEPARATE_WAIT_MS
                              : ACK_TIMEOUT_MS + coap_random() % (ACK_TIMEOUT_MS *
                                                                  (ACK_RANDOM_FACTOR_PCT - 100) / 100);
        x->deadline = platform_millis() + x->timeout;
    }
    net_send(ip, port, p->buf, p->len);
    return 0;
}

void coap_cancel(void *arg)
{
    int i;
    for (i = 0; i < EXCHANGES; i++)
        if (exchanges[i].used && exchanges[i].arg == arg)
            exchanges[i].used = 0;
}

int coap_busy(void)
{
    int i, n = 0;
    for (i = 0; i < EXCHANGES; i++)
        n += exchanges[i].used;
    return n;
}

static void finish(struct exchange *x, const struct coap_msg *m, int rst)
{
    coap_cb cb = x->cb;
    void *arg = x->arg;
    x->used = 0;  /* free first: the callback may start the next exchange */
    if (cb)
        cb(arg, m, rst);
}

void coap_poll(uint32_t now)
{
    int i;
    for (i = 0; i < EXCHANGES; i++) {
        struct exchange *x = &exchanges[i];
        if (!x->used || (int32_t)(now - x->deadline) < 0)
            continue;
        if (!x->acked && x->tries < MAX_RETRANSMIT) {  /* retransmit, doubling the timeout */
            x->tries++;
            x->timeout *= 2;
            x->deadline = now + x->timeout;
            net_send(x->ip, x->port, x->pdu, x->len);
        } else {
            finish(x, 0, 0);
        }
    }
}

void coap_response(struct coap_pdu *p, uint8_t *buf, size_t cap, const struct coap_msg *req,
                   uint8_t code)
{
    if (req->type == COAP_CON)
        coap_pdu_init(p, buf, cap, COAP_ACK, code, req->mid, req->token, req->tkl);
    else
        coap_pdu_init(p, buf, cap, COAP_NON, code, coap_next_mid(), req->token, req->tkl);
}

void coap_respond(const struct coap_msg *req, const struct coap_pdu *p)
{
    if (p->err)
        return;
    net_send(req->ip, req->port, p->buf, p->len);
    if (req->type == COAP_CON && p->len <= SEEN_PDU) {
        struct seen *s = &seen[seen_next++ % SEEN];
        s->used = 1;
        s->mid = req->mid;
        s->ip = req->ip;
        s->port = req->port;
        s->len = p->len;
        memcpy(s->pdu, p->buf, p->len);
    }
}

void coap_respond_code(const struct coap_msg *req, uint8_t code)
{
    uint8_t buf[16];
    struct coap_pdu p;
    coap_response(&p, buf, sizeof buf, req, code);
    coap_respond(req, &p);
}

static void send_empty(uint8_t type, uint16_t mid, uint32_t ip, uint16_t port)
{
    uint8_t b[4] = {(uint8_t)(1 << 6 | type << 4), 0, (uint8_t)(mid >> 8), (uint8_t)mid};
    net_send(ip, port, b, 4);
}

/* Options a request may carry that we act on; a critical option not listed here is refused
 * with 4.02 (RFC 7252 5.4.1), and so is one of these with a length out of range (5.4.3). */
static int option_ok(const struct coap_option *o)
{
    switch (o->num) {
    case OPT_URI_HOST: return o->len >= 1 && o->len <= 255;
    case OPT_URI_PATH: case OPT_URI_QUERY: return o->len <= 255;
    case OPT_URI_PORT: case OPT_CONTENT_FORMAT: case OPT_ACCEPT: return o->len <= 2;
    case OPT_BLOCK1: case OPT_BLOCK2: case OPT_OBSERVE: return o->len <= 3;
    case OPT_SIZE1: case OPT_SIZE2: return o->len <= 4;
    default: return !(o->num & 1);  /* elective options we do not know are ignored */
    }
}

static struct exchange *by_mid(uint16_t mid, uint32_t ip, uint16_t port)
{
    int i;
    for (i = 0; i < EXCHANGES; i++)
        if (exchanges[i].used && exchanges[i].mid == mid && exchanges[i].ip == ip &&
            exchanges[i].port == port)
            return &exchanges[i];
    return 0;
}

static struct exchange *by_token(const struct coap_msg *m)
{
    int i;
    for (i = 0; i < EXCHANGES; i++) {
        struct exchange *x = &exchanges[i];
        if (x->used && x->ip == m->ip && x->port == m->port && x->tkl == m->tkl &&
            !memcmp(x->token, m->token, m->tkl))
            return x;
    }
    return 0;
}

void coap_input(const uint8_t *buf, size_t len, uint32_t ip, uint16_t port)
{
    static struct coap_msg m;
    int rc = coap_parse(&m, buf, len);
    uint8_t cls = m.code >> 5;
    int i;

    m.ip = ip;
    m.port = port;
    if (rc == COAP_EFORMAT || cls == 1 || cls > 5) {
        /* format errors and reserved code classes: reject a CON with RST, else drop (4.2) */
        if (len >= 4 && buf[0] >> 6 == 1 && ((buf[0] >> 4) & 3) == COAP_CON)
            send_empty(COAP_RST, (uint16_t)(buf[2] << 8 | buf[3]), ip, port);
        return;
    }
    if (m.code == COAP_EMPTY) {
        struct exchange *x = by_mid(m.mid, ip, port);
        if (m.type == COAP_CON) {  /* CoAP ping (4.3) */
            send_empty(COAP_RST, m.mid, ip, port);
        } else if (m.type == COAP_ACK && x && !x->acked) {
            if (x->pdu[1] >> 5) {  /* we sent a response (a notification): it is done */
                finish(x, &m, 0);
            } else {  /* to a request: a separate response follows (5.2.2) */
                x->acked = 1;
                x->deadline = platform_millis() + SEPARATE_WAIT_MS;
            }
        } else if (m.type == COAP_RST) {
            if (x)
                finish(x, 0, 1);
            else if (rst_handler)
                rst_handler(m.mid);
        }
        return;
    }
    if (cls == 0) {  /* a request */
        const struct coap_option *o;
        if (m.type == COAP_ACK || m.type == COAP_RST)
            return;  /* requests are never ACK or RST: ignore */
        if (m.type == COAP_CON)
            for (i = 0; i < SEEN; i++)
                if (seen[i].used && seen[i].mid == m.mid && seen[i].ip == ip &&
                    seen[i].port == port) {
                    net_send(ip, port, seen[i].pdu, seen[i].len);  /* duplicate (4.5) */
                    return;
                }
        if (rc == COAP_EOPTIONS) {
            coap_respond_code(&m, COAP_BAD_OPTION);
            return;
        }
        for (o = m.opt; o < m.opt + m.nopt; o++)
            if (!option_ok(o)) {
                if (m.type == COAP_CON)
                    coap_respond_code(&m, COAP_BAD_OPTION);
                return;
            }
        if (request_handler)
            request_handler(&m);
        return;
    }
    /* a response: piggybacked in an ACK (5.2.1), or separate as CON/NON (5.2.2) */
    if (m.type == COAP_RST)
        return;
    {
        struct exchange *x = m.type == COAP_ACK ? by_mid(m.mid, ip, port) : by_token(&m);
        if (m.type == COAP_CON)
            send_empty(x ? COAP_ACK : COAP_RST, m.mid, ip, port);
        if (!x || x->tkl != m.tkl || memcmp(x->token, m.token, m.tkl))
            return;
        if (rc == COAP_EOPTIONS) {
            finish(x, 0, 0);
            return;
        }
        finish(x, &m, 0);
    }
}
