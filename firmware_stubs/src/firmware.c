/* Firmware Update object (5): the package goes into the platform's model slot, by push
 * (Block1 writes to /5/0/0, RFC 7959 2.5) or pull (Block2 GETs of /5/0/1, RFC 7959 2.4); then
 * it is checked (package.h) and, on Execute /5/0/2, handed to ml_install(). */
#include <string.h>

#include "coap.h"
#include "firmware.h"
#include "fmt.h"
#include "lwm2m.h"
#include "ml.h"
#include "objects.h"
#include "package.h"
#include "platform.h"

#define OUR_SZX 6          /* the largest block we take: 1024 bytes */
#define PULL_SZX 5         /* the block size we ask for when pulling: 512 (Zephyr's samples) */
#define PUSH_IDLE_MS 60000u  /* a push whose next block does not come gives up: result 4 */
#define SLOT_ALIGN 8u        /* room kept in the slot to align the payload (a module) */

enum { MODE_NONE, MODE_PUSH, MODE_PULL };

static uint8_t *slot;
static size_t slot_cap, received;
static uint8_t mode, install_pending, get_pending;
static uint32_t last_block;
static struct package pkg;
static uint8_t pkg_sha[32];
/* pull */
static uint32_t dl_ip;
static uint16_t dl_port;
static size_t dl_path;     /* offset of the path in obj.fw_uri */
static uint8_t dl_szx;
static uint8_t dl_tag;     /* its address tags the download's exchanges */

static void set_state(int32_t state, int32_t result)
{
    if (state == FW_DOWNLOADING && obj.fw_state != FW_DOWNLOADING) {
        ml_uninstall();  /* one slot: the new package overwrites the running model */
        obj.fw_name[0] = obj.fw_version[0] = 0;
    }
    if (obj.fw_state != state)
        log_num("fw state ", state);
    if (obj.fw_result != result)
        log_num("fw result ", result);
    obj.fw_state = state;
    obj.fw_result = result;
    lwm2m_changed();
}

static void cancel(void)
{
    coap_cancel(&dl_tag);
    mode = MODE_NONE;
    received = 0;
    install_pending = get_pending = 0;
    set_state(FW_IDLE, FW_INITIAL);
}

static void fail(int32_t result)
{
    coap_cancel(&dl_tag);
    mode = MODE_NONE;
    get_pending = 0;
    set_state(FW_IDLE, result);
}

void fw_init(void)
{
    slot = platform_model_slot(&slot_cap);
    slot_cap -= SLOT_ALIGN;
    obj.fw_state = FW_IDLE;
    obj.fw_result = FW_INITIAL;
}

/* The whole package is in the slot: check it (digest, signature, backend). */
static void downloaded(void)
{
    struct sha256 h;
    int r;
    log_num("fw received ", (int32_t)received);
    mode = MODE_NONE;
    sha256_init(&h);
    sha256_update(&h, slot, received);
    sha256_final(&h, pkg_sha);
    r = package_parse(slot, received, &pkg);
    if (!r)
        r = package_check_payload(&pkg);
    if (!r && cfg.has_trust)
        r = package_check_signature(&pkg, (const uint8_t(*)[32])&cfg.trust, 1);
    if (!r && !ml_supports(pkg.backend)) {
        log_str("fw backend not supported: ", pkg.backend);
        r = FW_UNSUPPORTED_PACKAGE;
    }
    if (!r) {  /* move the package so that its payload, a module, is 8-byte aligned */
        size_t shift = (SLOT_ALIGN - ((uintptr_t)pkg.payload.data & (SLOT_ALIGN - 1u))) &
                       (SLOT_ALIGN - 1u);
        if (shift) {
            memmove(slot + shift, slot, received);
            r = package_parse(slot + shift, received, &pkg);
        }
    }
    if (r)
        set_state(FW_IDLE, r);
    else
        set_state(FW_DOWNLOADED, FW_INITIAL);
}

static void too_big(const struct coap_msg *req)
{
    struct coap_pdu p;
    uint8_t buf[32];
    log_num("fw package too big for the slot of ", (int32_t)slot_cap);
    received = 0;
    fail(FW_NOT_ENOUGH_STORAGE);
    if (!req)
        return;
    coap_response(&p, buf, sizeof buf, req, COAP_TOO_LARGE);
    coap_add_uint(&p, OPT_SIZE1, (uint32_t)slot_cap);  /* what we could take (RFC 7959 4) */
    coap_respond(req, &p);
}

uint8_t fw_package_write(const uint8_t *data, size_t len)
{
    if (!len) {
        cancel();
        return COAP_CHANGED;
    }
    if (obj.fw_state != FW_IDLE)
        return COAP_BAD_REQUEST;
    if (len > slot_cap) {
        too_big(0);
        return COAP_CHANGED;
    }
    memcpy(slot, data, len);
    received = len;
    set_state(FW_DOWNLOADING, FW_INITIAL);
    downloaded();
    return COAP_CHANGED;
}

void fw_push(const struct coap_msg *req)
{
    struct coap_block b1;
    struct coap_pdu p;
    uint8_t buf[32];
    int has = coap_block(req, OPT_BLOCK1, &b1);
    size_t off;
    const struct coap_option *size1 = coap_opt(req, OPT_SIZE1);

    if (has < 0) {
        coap_respond_code(req, COAP_BAD_REQUEST);
        return;
    }
    if (!has) {
        coap_respond_code(req, fw_package_write(req->payload, req->plen));
        return;
    }
    off = (size_t)b1.num * BLOCK_SIZE(b1.szx);
    if (b1.num == 0) {
        if (!b1.more && !req->plen) {
            cancel();
            coap_respond_code(req, COAP_CHANGED);
            return;
        }
        /* a restart from block 0 (e.g. at a smaller size) is fine while we receive */
        if (obj.fw_state != FW_IDLE && !(obj.fw_state == FW_DOWNLOADING && mode == MODE_PUSH)) {
            coap_respond_code(req, COAP_BAD_REQUEST);
            return;
        }
        if (size1 && coap_opt_uint(size1) > slot_cap) {
            too_big(req);
            return;
        }
        mode = MODE_PUSH;
        received = 0;
        set_state(FW_DOWNLOADING, FW_INITIAL);
    } else if (mode != MODE_PUSH) {
        coap_respond_code(req, COAP_INCOMPLETE);
        return;
    }
    if (off != received && !(off < received && off + req->plen == received)) {
        log_num("fw block out of order ", (int32_t)b1.num);
        coap_respond_code(req, COAP_INCOMPLETE);  /* 4.08 (RFC 7959 2.9.2) */
        return;
    }
    if (b1.more && req->plen != BLOCK_SIZE(b1.szx)) {  /* only the last block may be short */
        coap_respond_code(req, COAP_BAD_REQUEST);
        return;
    }
    last_block = platform_millis();
    if (off == received) {
        if (req->plen > slot_cap - received) {
            too_big(req);
            return;
        }
        memcpy(slot + received, req->payload, req->plen);
        received += req->plen;
    }  /* else: the previous block again (a retransmission with a new MID): acknowledge it */
    if (!b1.more)
        downloaded();
    /* 2.31 Continue asks for the next block at our size if the server's is larger (2.3) */
    coap_response(&p, buf, sizeof buf, req, b1.more ? COAP_CONTINUE : COAP_CHANGED);
    coap_add_block(&p, OPT_BLOCK1, b1.num, b1.more, b1.szx < OUR_SZX ? b1.szx : OUR_SZX);
    coap_respond(req, &p);
}

/* ---- pull: GET the URI block by block ---------------------------------------------------- */

static void on_block(void *arg, const struct coap_msg *m, int rst);

static void send_get(void)
{
    struct coap_pdu p;
    uint8_t buf[300];
    const char *s = obj.fw_uri + dl_path, *end;
    coap_start(&p, buf, sizeof buf, COAP_CON, COAP_GET);
    while (*s == '/') {  /* Uri-Path per segment (RFC 7252 6.4) */
        s++;
        for (end = s; *end && *end != '/' && *end != '?'; end++)
            ;
        if (end > s)
            coap_add_opt(&p, OPT_URI_PATH, s, (size_t)(end - s));
        s = end;
    }
    while (*s == '?' || *s == '&') {
        s++;
        for (end = s; *end && *end != '&'; end++)
            ;
        coap_add_opt(&p, OPT_URI_QUERY, s, (size_t)(end - s));
        s = end;
    }
    coap_add_block(&p, OPT_BLOCK2, (uint32_t)(received / BLOCK_SIZE(dl_szx)), 0, dl_szx);
    get_pending = coap_send(&p, dl_ip, dl_port, on_block, &dl_tag) != 0;  /* retried in poll */
}

static void on_block(void *arg, const struct coap_msg *m, int rst)
{
    struct coap_block b2;
    int has;
    const struct coap_option *size2;
    (void)arg;
    (void)rst;
    if (mode != MODE_PULL)
        return;
    if (!m) {
        platform_log("fw download: no answer");
        fail(FW_CONNECTION_LOST);
        return;
    }
    if (m->code != COAP_CONTENT) {
        log_num("fw download answered ", (m->code >> 5) * 100 + (m->code & 31));
        fail(m->code >> 5 == 4 ? FW_INVALID_URI : FW_CONNECTION_LOST);
        return;
    }
    has = coap_block(m, OPT_BLOCK2, &b2);
    if (!has) {
        b2.num = 0;
        b2.more = 0;
        b2.szx = dl_szx;
    }
    size2 = coap_opt(m, OPT_SIZE2);
    if (size2 && coap_opt_uint(size2) > slot_cap) {
        too_big(0);
        return;
    }
    if (has < 0 || (size_t)b2.num * BLOCK_SIZE(b2.szx) != received ||
        (b2.more && m->plen != BLOCK_SIZE(b2.szx))) {
        platform_log("fw download: unexpected block");
        fail(FW_CONNECTION_LOST);
        return;
    }
    if (m->plen > slot_cap - received) {
        too_big(0);
        return;
    }
    memcpy(slot + received, m->payload, m->plen);
    received += m->plen;
    if (b2.more) {
        dl_szx = b2.szx;  /* the server may pick a smaller size than we asked (2.4) */
        send_get();
    } else {
        downloaded();
    }
}

static int prefix(const char *s, const char *p)
{
    return !strncmp(s, p, strlen(p));
}

uint8_t fw_uri_write(const uint8_t *data, size_t len)
{
    const char *u = obj.fw_uri, *host, *port;
    size_t hl;
    uint32_t p = 5683;
    if (!len) {
        obj.fw_uri[0] = 0;
        cancel();
        return COAP_CHANGED;
    }
    if (obj.fw_state != FW_IDLE)
        return COAP_BAD_REQUEST;
    if (len >= sizeof obj.fw_uri || memchr(data, 0, len)) {
        fail(FW_INVALID_URI);
        return COAP_CHANGED;
    }
    memcpy(obj.fw_uri, data, len);
    obj.fw_uri[len] = 0;
    log_str("fw uri ", u);
    if (!prefix(u, "coap://")) {  /* coaps, http, ...: a protocol we lack; else not a URI */
        fail(strstr(u, "://") ? FW_UNSUPPORTED_PROTOCOL : FW_INVALID_URI);
        return COAP_CHANGED;
    }
    host = u + 7;
    for (hl = 0; host[hl] && host[hl] != ':' && host[hl] != '/' && host[hl] != '?'; hl++)
        ;
    port = host + hl;
    dl_path = (size_t)(port - u);
    if (*port == ':') {
        const char *e = ++port;
        while (*e && *e != '/' && *e != '?')
            e++;
        dl_path = (size_t)(e - u);
        if (parse_u32(port, (size_t)(e - port), &p) || !p || p > 65535) {
            fail(FW_INVALID_URI);
            return COAP_CHANGED;
        }
    }
    /* only the server's host, as an IPv4 literal: the emulated network reaches nothing else */
    if (hl != 9 || memcmp(host, "192.0.2.2", 9)) {
        fail(FW_INVALID_URI);
        return COAP_CHANGED;
    }
    dl_ip = SERVER_IP;
    dl_port = (uint16_t)p;
    dl_szx = PULL_SZX;
    received = 0;
    mode = MODE_PULL;
    set_state(FW_DOWNLOADING, FW_INITIAL);
    get_pending = 1;  /* the first GET goes out from the main loop */
    return COAP_CHANGED;
}

uint8_t fw_update_exec(const uint8_t *args, size_t len)
{
    (void)args;
    (void)len;
    if (obj.fw_state != FW_DOWNLOADED)
        return COAP_NOT_ALLOWED;  /* Update is only valid in state DOWNLOADED */
    set_state(FW_UPDATING, obj.fw_result);
    install_pending = 1;
    return COAP_CHANGED;
}

void fw_poll(uint32_t now)
{
    int r;
    if (get_pending && mode == MODE_PULL)
        send_get();
    if (mode == MODE_PUSH && now - last_block > PUSH_IDLE_MS) {
        platform_log("fw push: no next block");
        received = 0;
        fail(FW_CONNECTION_LOST);
    }
    if (install_pending) {
        struct sbuf b;
        install_pending = 0;
        r = ml_install(&pkg);
        if (r == FW_SUCCESS) {
            str_copy(obj.fw_name, sizeof obj.fw_name, pkg.model);
            sb_init(&b, obj.fw_version, sizeof obj.fw_version);
            sb_hex(&b, pkg_sha, sizeof pkg_sha);  /* the server names packages by digest */
            str_copy(obj.model, sizeof obj.model, pkg.model);
            str_copy(obj.model_version, sizeof obj.model_version, pkg.version);
        }
        set_state(FW_IDLE, r);
    }
}
