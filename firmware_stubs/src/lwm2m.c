/* LwM2M 1.1 client: registration interface (OMA-TS-LightweightM2M_Core 1.1 6.2) and the
 * device management / information reporting interfaces (6.3, 6.4) over CoAP. */
#include <string.h>

#include "coap.h"
#include "firmware.h"
#include "fmt.h"
#include "lwm2m.h"
#include "ml.h"
#include "objects.h"
#include "package.h"
#include "platform.h"

struct client_config cfg;

#define RETRY_MS 5000u
#define OBSERVERS 8
#define ATTRS 8
#define CON_EVERY 4            /* every 4th notification confirmable (RFC 7641 4.5) */
#define BODY_MAX 1024

static const char links[] = "</>;rt=\"oma.lwm2m\";ct=11542,</1/0>,</3/0>,</5/0>,</32100/0>,"
                            "</32101/0>";

enum { REG_NONE, REG_REGISTERING, REG_REGISTERED, REG_UPDATING, REG_LEAVING, REG_DONE };
static uint8_t reg_state, update_now, lifetime_changed;
static uint32_t reg_due;
static char location[4][24];
static uint8_t nlocation;
static uint8_t reg_exchange;          /* its address tags our registration exchanges */
static uint8_t send_exchange;         /* ... and our Sends */
static uint32_t send_due;
static int32_t sent_inferences = -1;  /* the inference count the last Send reported */

static uint8_t pdu_buf[COAP_MAX_PDU];
static uint8_t body[BODY_MAX];

struct observer {
    uint8_t used, tkl, con_in_flight, sent;
    struct path path;
    uint8_t token[8];
    uint32_t ip;
    uint16_t port, cf, mid;
    uint32_t hash, last;
};
static struct observer observers[OBSERVERS];
static uint32_t observe_seq = 2;
static uint8_t changed;
static uint32_t last_check;

struct attrs {
    uint8_t used;
    struct path path;
    uint32_t pmin, pmax;
};
static struct attrs attrs[ATTRS];

/* ---- configuration ----------------------------------------------------------------------- */

static int parse_ipv4(const char *s, size_t n, uint32_t *ip)
{
    uint32_t v = 0, part;
    size_t i = 0, start;
    int dots;
    for (dots = 0; dots < 4; dots++) {
        start = i;
        while (i < n && s[i] != '.')
            i++;
        if (parse_u32(s + start, i - start, &part) || part > 255 || i - start > 3)
            return -1;
        v = v << 8 | part;
        if (dots < 3 && (i == n || s[i++] != '.'))
            return -1;
    }
    *ip = v;
    return i == n ? 0 : -1;
}

static int copy_value(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, v, n);
    dst[n] = 0;
    return 0;
}

int lwm2m_config(const char *line)
{
    const char *p = line;
    memset(&cfg, 0, sizeof cfg);
    strcpy(cfg.ep, "stub");
    cfg.server_ip = SERVER_IP;
    cfg.server_port = 5683;
    cfg.lifetime = 60;
    cfg.interval = 1000;
    while (*p) {
        const char *key = p, *eq, *val;
        size_t klen, vlen;
        int bad = 0;
        uint32_t port;
        while (*p && *p != ' ')
            p++;
        eq = memchr(key, '=', (size_t)(p - key));
        if (eq) {
            klen = (size_t)(eq - key);
            val = eq + 1;
            vlen = (size_t)(p - val);
            if (klen == 2 && !memcmp(key, "ep", 2)) {
                bad = vlen == 0 || copy_value(cfg.ep, sizeof cfg.ep, val, vlen);
            } else if (klen == 6 && !memcmp(key, "server", 6)) {
                const char *colon = memchr(val, ':', vlen);
                size_t hl = colon ? (size_t)(colon - val) : vlen;
                bad = parse_ipv4(val, hl, &cfg.server_ip) ||
                      (colon && (parse_u32(colon + 1, vlen - hl - 1, &port) || !port ||
                                 port > 65535));
                if (!bad && colon)
                    cfg.server_port = (uint16_t)port;
            } else if (klen == 8 && !memcmp(key, "lifetime", 8)) {
                bad = parse_u32(val, vlen, &cfg.lifetime) || cfg.lifetime == 0;
            } else if (klen == 8 && !memcmp(key, "duration", 8)) {
                bad = parse_u32(val, vlen, &cfg.duration);
            } else if (klen == 8 && !memcmp(key, "interval", 8)) {
                bad = parse_u32(val, vlen, &cfg.interval);
            } else if (klen == 4 && !memcmp(key, "send", 4)) {
                bad = parse_u32(val, vlen, &cfg.send);
            } else if (klen == 4 && !memcmp(key, "task", 4)) {
                bad = copy_value(cfg.task, sizeof cfg.task, val, vlen);
            } else if (klen == 5 && !memcmp(key, "trust", 5)) {
                bad = parse_hex(val, vlen, cfg.trust, 32);
                cfg.has_trust = !bad;
            }
        }
        if (bad) {
            char item[64];
            copy_value(item, sizeof item, key, (size_t)(p - key) < 63 ? (size_t)(p - key) : 63);
            log_str("bad argument ", item);
            return -1;
        }
        while (*p == ' ')
            p++;
    }
    return 0;
}

/* ---- registration interface (6.2) -------------------------------------------------------- */

static void on_registered(void *arg, const struct coap_msg *m, int rst);
static void on_updated(void *arg, const struct coap_msg *m, int rst);
static void on_deregistered(void *arg, const struct coap_msg *m, int rst);

static void add_location(struct coap_pdu *p)
{
    uint8_t i;
    for (i = 0; i < nlocation; i++)
        coap_add_opt(p, OPT_URI_PATH, location[i], strlen(location[i]));
}

static void location_text(char *out, size_t cap)
{
    struct sbuf b;
    uint8_t i;
    sb_init(&b, out, cap);
    for (i = 0; i < nlocation; i++) {
        sb_str(&b, "/");
        sb_str(&b, location[i]);
    }
}

static void query(struct coap_pdu *p, const char *key, const char *s, int32_t n)
{
    char q[96];
    struct sbuf b;
    sb_init(&b, q, sizeof q);
    sb_str(&b, key);
    if (s)
        sb_str(&b, s);
    else
        sb_i32(&b, n);
    coap_add_opt(p, OPT_URI_QUERY, q, b.len);
}

/* POST /rd?ep=..&lt=..&lwm2m=1.1&b=U with our objects in link format (6.2.1) */
static void send_register(void)
{
    struct coap_pdu p;
    coap_start(&p, pdu_buf, sizeof pdu_buf, COAP_CON, COAP_POST);
    coap_add_opt(&p, OPT_URI_PATH, "rd", 2);
    coap_add_uint(&p, OPT_CONTENT_FORMAT, CF_LINK);
    query(&p, "ep=", cfg.ep, 0);
    query(&p, "lt=", 0, obj.lifetime);
    query(&p, "lwm2m=1.1", "", 0);
    query(&p, "b=U", "", 0);
    coap_add_payload(&p, links, sizeof links - 1);
    if (coap_send(&p, cfg.server_ip, cfg.server_port, on_registered, &reg_exchange)) {
        reg_due = platform_millis() + 100;  /* no exchange slot free: try again soon */
        return;
    }
    reg_state = REG_REGISTERING;
    lifetime_changed = 0;
}

static void schedule_update(void)
{
    /* update at about half the lifetime (at least once a day) */
    uint32_t half = (uint32_t)obj.lifetime < 172800u ? (uint32_t)obj.lifetime * 500u : 86400000u;
    reg_due = platform_millis() + half;
    reg_state = REG_REGISTERED;
}

static void retry_later(const char *why)
{
    platform_log(why);
    reg_state = REG_NONE;
    reg_due = platform_millis() + RETRY_MS;
}

static void on_registered(void *arg, const struct coap_msg *m, int rst)
{
    const struct coap_option *o = 0;
    char line[96];
    (void)arg;
    (void)rst;
    if (!m || m->code != COAP_CREATED) {
        if (m)
            log_num("register failed ", (m->code >> 5) * 100 + (m->code & 31));
        retry_later("register: no answer, retrying");
        return;
    }
    nlocation = 0;
    while ((o = coap_opt_next(m, OPT_LOCATION_PATH, o)) && nlocation < 4) {
        if (o->len >= sizeof location[0]) {
            retry_later("register: location too long");
            return;
        }
        memcpy(location[nlocation], o->val, o->len);
        location[nlocation++][o->len] = 0;
    }
    location_text(line, sizeof line);
    log_str("registered ", line);
    schedule_update();
}

/* POST /rd/<id>[?lt=..]: only what changed (6.2.2) */
static void send_update(void)
{
    struct coap_pdu p;
    coap_start(&p, pdu_buf, sizeof pdu_buf, COAP_CON, COAP_POST);
    add_location(&p);
    if (lifetime_changed)
        query(&p, "lt=", 0, obj.lifetime);
    if (coap_send(&p, cfg.server_ip, cfg.server_port, on_updated, &reg_exchange)) {
        reg_due = platform_millis() + 100;
        return;
    }
    reg_state = REG_UPDATING;
    update_now = 0;
    lifetime_changed = 0;
}

static void on_updated(void *arg, const struct coap_msg *m, int rst)
{
    (void)arg;
    (void)rst;
    if (m && m->code == COAP_CHANGED) {
        platform_log("updated");
        schedule_update();
    } else if (m && m->code == COAP_NOT_FOUND) {  /* the server forgot us: register again */
        platform_log("update rejected 4.04, registering again");
        send_register();
    } else {
        retry_later("update failed, registering again");
    }
}

static void on_deregistered(void *arg, const struct coap_msg *m, int rst)
{
    (void)arg;
    (void)rst;
    platform_log(m && m->code == COAP_DELETED ? "deregistered" : "deregister: no answer");
    reg_state = REG_DONE;
}

void lwm2m_stop(void)
{
    struct coap_pdu p;
    if (reg_state == REG_LEAVING || reg_state == REG_DONE)
        return;
    coap_cancel(&reg_exchange);
    if (reg_state == REG_NONE || reg_state == REG_REGISTERING || !nlocation) {
        reg_state = REG_DONE;
        return;
    }
    coap_start(&p, pdu_buf, sizeof pdu_buf, COAP_CON, COAP_DELETE);
    add_location(&p);
    reg_state = coap_send(&p, cfg.server_ip, cfg.server_port, on_deregistered, &reg_exchange)
                    ? REG_DONE : REG_LEAVING;
}

int lwm2m_done(void)
{
    return reg_state == REG_DONE;
}

void lwm2m_lifetime_changed(void)
{
    lifetime_changed = 1;
    update_now = 1;
}

uint8_t lwm2m_update_trigger(const uint8_t *args, size_t len)
{
    (void)args;
    (void)len;
    update_now = 1;
    return COAP_CHANGED;
}

/* ---- device management: requests from the server (6.3) ----------------------------------- */

static int uri_path(const struct coap_msg *req, struct path *p)
{
    const struct coap_option *o = 0;
    memset(p, 0, sizeof *p);
    while ((o = coap_opt_next(req, OPT_URI_PATH, o))) {
        uint32_t v;
        if (o->len == 0 && p->depth == 0 && !coap_opt_next(req, OPT_URI_PATH, o))
            break;  /* "/" */
        if (p->depth == 4 || parse_u32((const char *)o->val, o->len, &v) || v > 65535)
            return -1;
        p->id[p->depth++] = (uint16_t)v;
    }
    return 0;
}

static uint16_t opt_or(const struct coap_msg *m, uint16_t num, uint16_t dflt)
{
    const struct coap_option *o = coap_opt(m, num);
    return o ? (uint16_t)coap_opt_uint(o) : dflt;
}

static void path_text(const struct path *p, char *out, size_t cap)
{
    struct sbuf b;
    uint8_t i;
    sb_init(&b, out, cap);
    for (i = 0; i < p->depth; i++) {
        sb_str(&b, "/");
        sb_u32(&b, p->id[i]);
    }
}

static void log_path(const char *what, const struct path *p)
{
    char t[32];
    path_text(p, t, sizeof t);
    log_str(what, t);
}

static int same_path(const struct path *a, const struct path *b)
{
    return a->depth == b->depth && !memcmp(a->id, b->id, a->depth * sizeof a->id[0]);
}

static uint32_t fnv1a(const uint8_t *d, size_t n)
{
    uint32_t h = 2166136261u;
    while (n--)
        h = (h ^ *d++) * 16777619u;
    return h;
}

/* A read answer (2.05), sliced by Block2 when the server asks for blocks (RFC 7959 2.4). */
static void respond_content(const struct coap_msg *req, int len, uint16_t cf, int observe)
{
    struct coap_pdu p;
    struct coap_block b2;
    int has2 = coap_block(req, OPT_BLOCK2, &b2);
    size_t off = 0, n = (size_t)len;
    if (has2 < 0) {
        coap_respond_code(req, COAP_BAD_REQUEST);
        return;
    }
    if (has2 == 0 && n > 1024) {
        has2 = 1;
        b2.num = 0;
        b2.szx = 6;
    }
    if (has2) {
        if (b2.szx > 6)
            b2.szx = 6;
        off = (size_t)b2.num * BLOCK_SIZE(b2.szx);
        if (off >= n && n) {
            coap_respond_code(req, COAP_BAD_REQUEST);
            return;
        }
        n = n - off < BLOCK_SIZE(b2.szx) ? n - off : BLOCK_SIZE(b2.szx);
    }
    coap_response(&p, pdu_buf, sizeof pdu_buf, req, COAP_CONTENT);
    if (observe >= 0)
        coap_add_uint(&p, OPT_OBSERVE, (uint32_t)observe);
    coap_add_uint(&p, OPT_CONTENT_FORMAT, cf);
    if (has2)
        coap_add_block(&p, OPT_BLOCK2, b2.num, off + n < (size_t)len, b2.szx);
    coap_add_payload(&p, body + off, n);
    coap_respond(req, &p);
}

static struct observer *observer_for(const struct coap_msg *req, const struct path *p)
{
    int i;
    for (i = 0; i < OBSERVERS; i++)
        if (observers[i].used && observers[i].ip == req->ip && observers[i].port == req->port &&
            same_path(&observers[i].path, p))
            return &observers[i];
    return 0;
}

static void drop_observer(struct observer *o, const char *why)
{
    log_path(why, &o->path);
    coap_cancel(o);
    o->used = 0;
}

static void handle_read(const struct coap_msg *req, const struct path *p)
{
    uint16_t cf = opt_or(req, OPT_ACCEPT, CF_NONE);
    const struct coap_option *obs = coap_opt(req, OPT_OBSERVE);
    int len = objects_read(p, &cf, body, sizeof body);
    int i;
    if (len < 0) {
        coap_respond_code(req, (uint8_t)-len);
        return;
    }
    if (obs && coap_opt_uint(obs) == 0) {  /* register (RFC 7641 4.1); one entry per path */
        struct observer *o = observer_for(req, p);
        for (i = 0; i < OBSERVERS && !o; i++)
            if (!observers[i].used)
                o = &observers[i];
        if (o) {
            coap_cancel(o);
            memset(o, 0, sizeof *o);
            o->used = 1;
            o->path = *p;
            o->tkl = req->tkl;
            memcpy(o->token, req->token, req->tkl);
            o->ip = req->ip;
            o->port = req->port;
            o->cf = cf;
            o->hash = fnv1a(body, (size_t)len);
            o->last = platform_millis();
            log_path("observe ", p);
            respond_content(req, len, cf, (int)(observe_seq++ & 0xFFFFFF));
            return;
        }  /* no room: answer as a plain read (RFC 7641 4.1) */
    } else if (obs && coap_opt_uint(obs) == 1) {  /* deregister */
        struct observer *o = observer_for(req, p);
        if (o)
            drop_observer(o, "observe cancelled ");
    }
    respond_content(req, len, cf, -1);
}

static void on_notified(void *arg, const struct coap_msg *m, int rst)
{
    struct observer *o = arg;
    if (!m || rst)  /* RST or no ACK: the observer is gone (RFC 7641 3.6, 4.5) */
        drop_observer(o, "observe dropped ");
    else
        o->con_in_flight = 0;
}

static void rejected(uint16_t mid)
{
    int i;
    for (i = 0; i < OBSERVERS; i++)
        if (observers[i].used && observers[i].mid == mid)
            drop_observer(&observers[i], "observe dropped ");
}

static const struct attrs *attrs_for(const struct path *p)
{
    struct path q = *p;
    int i;
    for (;;) {  /* the resource's own attributes, else its instance's, else its object's */
        for (i = 0; i < ATTRS; i++)
            if (attrs[i].used && same_path(&attrs[i].path, &q))
                return &attrs[i];
        if (q.depth == 0)
            return 0;
        q.depth--;
    }
}

static void notify(struct observer *o, uint32_t now)
{
    uint16_t cf = o->cf;
    int len = objects_read(&o->path, &cf, body, sizeof body);
    const struct attrs *a = attrs_for(&o->path);
    uint32_t hash, since = now - o->last;
    struct coap_pdu p;
    uint8_t con;
    if (o->con_in_flight)
        return;
    hash = len < 0 ? 0 : fnv1a(body, (size_t)len);
    if (hash == o->hash && !(a && a->pmax && since >= a->pmax * 1000u))
        return;
    if (a && since < a->pmin * 1000u)
        return;
    /* CON now and then, if that leaves exchange slots for registration and downloads */
    con = (uint8_t)(++o->sent % CON_EVERY == 0 && coap_busy() < 2);
    coap_pdu_init(&p, pdu_buf, sizeof pdu_buf, con ? COAP_CON : COAP_NON,
                  len < 0 ? (uint8_t)-len : COAP_CONTENT, coap_next_mid(), o->token, o->tkl);
    if (len >= 0) {
        coap_add_uint(&p, OPT_OBSERVE, observe_seq++ & 0xFFFFFF);
        coap_add_uint(&p, OPT_CONTENT_FORMAT, cf);
        coap_add_payload(&p, body, (size_t)len);
    }
    o->mid = (uint16_t)(p.buf[2] << 8 | p.buf[3]);
    o->hash = hash;
    o->last = now;
    if (coap_send(&p, o->ip, o->port, con ? on_notified : 0, o) && con) {
        p.buf[0] = (uint8_t)((p.buf[0] & 0xCF) | COAP_NON << 4);  /* no slot: send it NON */
        coap_send(&p, o->ip, o->port, 0, 0);
    } else if (con) {
        o->con_in_flight = 1;
    }
    if (len < 0)  /* an error notification ends the observation (RFC 7641 3.2) */
        o->used = 0;
}

void lwm2m_changed(void)
{
    changed = 1;
}

/* PUT with Uri-Query and no payload: Write-Attributes (6.3.4) */
static void handle_attributes(const struct coap_msg *req, const struct path *p)
{
    const struct coap_option *o = 0;
    uint32_t pmin = 0, pmax = 0;
    struct attrs *a = 0;
    int i;
    while ((o = coap_opt_next(req, OPT_URI_QUERY, o))) {
        const char *q = (const char *)o->val;
        const char *eq = memchr(q, '=', o->len);
        size_t k = eq ? (size_t)(eq - q) : o->len, vl = eq ? o->len - k - 1 : 0;
        if (k == 4 && (!memcmp(q, "pmin", 4) || !memcmp(q, "pmax", 4))) {
            if (eq && parse_u32(eq + 1, vl, q[2] == 'i' ? &pmin : &pmax)) {
                coap_respond_code(req, COAP_BAD_REQUEST);
                return;
            }
        } else if (!((k == 2 && (!memcmp(q, "gt", 2) || !memcmp(q, "lt", 2) ||
                                 !memcmp(q, "st", 2))) ||
                     (k == 4 && (!memcmp(q, "epmin", 4) || !memcmp(q, "epmax", 4))))) {
            coap_respond_code(req, COAP_BAD_REQUEST);
            return;
        }
    }
    for (i = 0; i < ATTRS && !a; i++)
        if (attrs[i].used && same_path(&attrs[i].path, p))
            a = &attrs[i];
    for (i = 0; i < ATTRS && !a; i++)
        if (!attrs[i].used)
            a = &attrs[i];
    if (!a) {
        coap_respond_code(req, COAP_INTERNAL_ERROR);
        return;
    }
    a->used = 1;
    a->path = *p;
    a->pmin = pmin;
    a->pmax = pmax;
    coap_respond_code(req, COAP_CHANGED);
}

static void handle_discover(const struct coap_msg *req, const struct path *p)
{
    struct coap_pdu pdu;
    int len = objects_discover(p, (char *)body, sizeof body);
    if (len < 0) {
        coap_respond_code(req, (uint8_t)-len);
        return;
    }
    coap_response(&pdu, pdu_buf, sizeof pdu_buf, req, COAP_CONTENT);
    coap_add_uint(&pdu, OPT_CONTENT_FORMAT, CF_LINK);
    coap_add_payload(&pdu, body, (size_t)len);
    coap_respond(req, &pdu);
}

static int is_package(const struct path *p)
{
    return p->depth == 3 && p->id[0] == 5 && p->id[1] == 0 && p->id[2] == 0;
}

static void handle(const struct coap_msg *req)
{
    struct path p;
    uint16_t cf = opt_or(req, OPT_CONTENT_FORMAT, CF_TEXT);
    uint8_t code;
    if (uri_path(req, &p)) {
        coap_respond_code(req, COAP_NOT_FOUND);
        return;
    }
    if (req->code == COAP_FETCH && p.depth == 0) {  /* Read-Composite */
        int len;
        if (cf != CF_SENML_CBOR || opt_or(req, OPT_ACCEPT, CF_SENML_CBOR) != CF_SENML_CBOR) {
            coap_respond_code(req, cf != CF_SENML_CBOR ? COAP_UNSUPPORTED_CF
                                                       : COAP_NOT_ACCEPTABLE);
            return;
        }
        len = objects_read_composite(req->payload, req->plen, body, sizeof body);
        if (len < 0)
            coap_respond_code(req, (uint8_t)-len);
        else
            respond_content(req, len, CF_SENML_CBOR, -1);
        return;
    }
    if (req->code == COAP_GET) {
        if (opt_or(req, OPT_ACCEPT, CF_NONE) == CF_LINK)
            handle_discover(req, &p);
        else
            handle_read(req, &p);
        return;
    }
    if ((req->code == COAP_PUT || req->code == COAP_POST) && is_package(&p)) {
        fw_push(req);  /* Block1 stream into the model slot */
        return;
    }
    if (coap_opt(req, OPT_BLOCK1)) {  /* nothing else takes blocks */
        coap_respond_code(req, COAP_TOO_LARGE);
        return;
    }
    if (req->code == COAP_PUT && !req->plen && coap_opt(req, OPT_URI_QUERY)) {
        handle_attributes(req, &p);
        return;
    }
    if (req->code == COAP_PUT || (req->code == COAP_POST && p.depth == 2)) {
        code = objects_write(&p, cf, req->payload, req->plen);  /* replace / partial update */
        if (code == COAP_CHANGED)
            log_path("write ", &p);
    } else if (req->code == COAP_POST && p.depth == 3) {
        code = objects_exec(&p, req->payload, req->plen);
        if (code == COAP_CHANGED)
            log_path("execute ", &p);
    } else {
        code = COAP_NOT_ALLOWED;  /* Create, Delete, iPATCH: none of our objects */
    }
    coap_respond_code(req, code);
    changed = 1;
}

/* ---- life cycle -------------------------------------------------------------------------- */

void lwm2m_start(void)
{
    const struct board_info *b = platform_board();
    size_t slot;
    objects_init();
    obj.lifetime = (int32_t)cfg.lifetime;
    str_copy(obj.board, sizeof obj.board, b->board);
    str_copy(obj.core, sizeof obj.core, b->core);
    str_copy(obj.endpoint, sizeof obj.endpoint, cfg.ep);
    str_copy(obj.task, sizeof obj.task, cfg.task);
    str_copy(obj.runtime, sizeof obj.runtime, ml_native_runtime(b->core));
    obj.clock_mhz = (int32_t)b->clock_mhz;
    obj.ml_ram = (int32_t)b->ml_ram;
    obj.ml_flash = (int32_t)b->ml_flash;
    if (cfg.has_trust) {
        uint8_t kid[8];
        struct sbuf s;
        package_key_id(cfg.trust, kid);
        sb_init(&s, obj.trusted_kid, sizeof obj.trusted_kid);
        sb_hex(&s, kid, 8);
        obj.n_trusted = 1;
    }
    platform_model_slot(&slot);
    fw_init();
    coap_set_handler(handle);
    coap_set_rst_handler(rejected);
    reg_state = REG_NONE;
    reg_due = platform_millis();
}

static void on_sent(void *arg, const struct coap_msg *m, int rst)
{
    (void)arg;
    (void)rst;
    if (!m || m->code != COAP_CHANGED)
        log_num("send failed ", m ? (m->code >> 5) * 100 + (m->code & 31) : 0);
}

/* Send (6.4.3): POST /dp with the inference results (/32101/0) in SenML CBOR. */
static void send_results(uint32_t now)
{
    static uint8_t payload[400];
    struct coap_pdu p;
    int len;
    send_due = now + cfg.send * 1000u;
    if (obj.inferences == sent_inferences)
        return;  /* nothing new */
    len = objects_senml(32101, 0, payload, sizeof payload);
    if (len < 0) {
        platform_log("send: results too large");
        return;
    }
    coap_start(&p, pdu_buf, sizeof pdu_buf, COAP_CON, COAP_POST);
    coap_add_opt(&p, OPT_URI_PATH, "dp", 2);
    coap_add_uint(&p, OPT_CONTENT_FORMAT, CF_SENML_CBOR);
    coap_add_payload(&p, payload, (size_t)len);
    if (coap_send(&p, cfg.server_ip, cfg.server_port, on_sent, &send_exchange) == 0)
        sent_inferences = obj.inferences;
}

void lwm2m_poll(uint32_t now)
{
    int i;
    if (cfg.send && reg_state == REG_REGISTERED && (int32_t)(now - send_due) >= 0)
        send_results(now);
    if (reg_state == REG_NONE && (int32_t)(now - reg_due) >= 0)
        send_register();
    else if (reg_state == REG_REGISTERED && (update_now || (int32_t)(now - reg_due) >= 0))
        send_update();
    if (changed || now - last_check >= 200) {  /* notifications (RFC 7641 4.2) */
        changed = 0;
        last_check = now;
        for (i = 0; i < OBSERVERS; i++)
            if (observers[i].used)
                notify(&observers[i], now);
    }
    fw_poll(now);  /* after the notifications, so that each state is reported */
    ml_poll(now);
}
