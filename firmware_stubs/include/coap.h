/* CoAP (RFC 7252) over the platform's UDP: message parsing and building, confirmable requests
 * with retransmission, duplicate detection for incoming requests, block options (RFC 7959).
 * Static memory only. */
#ifndef COAP_H
#define COAP_H

#include <stddef.h>
#include <stdint.h>

/* Message types (RFC 7252 3) */
enum { COAP_CON = 0, COAP_NON = 1, COAP_ACK = 2, COAP_RST = 3 };

#define COAP_CODE(c, d) ((uint8_t)(((c) << 5) | (d)))
enum {
    COAP_EMPTY = 0, COAP_GET = 1, COAP_POST = 2, COAP_PUT = 3, COAP_DELETE = 4, COAP_FETCH = 5,
    COAP_CREATED = COAP_CODE(2, 1), COAP_DELETED = COAP_CODE(2, 2), COAP_CHANGED = COAP_CODE(2, 4),
    COAP_CONTENT = COAP_CODE(2, 5), COAP_CONTINUE = COAP_CODE(2, 31),
    COAP_BAD_REQUEST = COAP_CODE(4, 0), COAP_BAD_OPTION = COAP_CODE(4, 2),
    COAP_NOT_FOUND = COAP_CODE(4, 4), COAP_NOT_ALLOWED = COAP_CODE(4, 5),
    COAP_NOT_ACCEPTABLE = COAP_CODE(4, 6), COAP_INCOMPLETE = COAP_CODE(4, 8),
    COAP_TOO_LARGE = COAP_CODE(4, 13), COAP_UNSUPPORTED_CF = COAP_CODE(4, 15),
    COAP_INTERNAL_ERROR = COAP_CODE(5, 0),
};

/* Option numbers (RFC 7252 5.10, RFC 7641 2, RFC 7959 2.1) */
enum {
    OPT_IF_MATCH = 1, OPT_URI_HOST = 3, OPT_ETAG = 4, OPT_IF_NONE_MATCH = 5, OPT_OBSERVE = 6,
    OPT_URI_PORT = 7, OPT_LOCATION_PATH = 8, OPT_URI_PATH = 11, OPT_CONTENT_FORMAT = 12,
    OPT_MAX_AGE = 14, OPT_URI_QUERY = 15, OPT_ACCEPT = 17, OPT_LOCATION_QUERY = 20,
    OPT_BLOCK2 = 23, OPT_BLOCK1 = 27, OPT_SIZE2 = 28, OPT_PROXY_URI = 35, OPT_SIZE1 = 60,
};

/* Content formats used by LwM2M */
enum { CF_TEXT = 0, CF_LINK = 40, CF_OPAQUE = 42, CF_SENML_CBOR = 112, CF_TLV = 11542,
       CF_NONE = 0xFFFF };

#define COAP_MAX_OPTIONS 24
#define COAP_MAX_PDU 1280          /* a 1024-byte block with its header and options */

struct coap_option {
    uint16_t num, len;
    const uint8_t *val;
};

struct coap_msg {
    uint8_t type, code, tkl;
    uint16_t mid;
    uint8_t token[8];
    uint8_t nopt;
    struct coap_option opt[COAP_MAX_OPTIONS];
    const uint8_t *payload;
    size_t plen;
    /* where it came from */
    uint32_t ip;
    uint16_t port;
};

/* Parses a datagram. 0, or COAP_EFORMAT (message format error, RFC 7252 3 and 4.2: reject a
 * CON with RST, drop anything else), or COAP_EOPTIONS (more options than we keep). */
#define COAP_EFORMAT (-1)
#define COAP_EOPTIONS (-2)
int coap_parse(struct coap_msg *m, const uint8_t *buf, size_t len);

const struct coap_option *coap_opt(const struct coap_msg *m, uint16_t num);
/* The next option `num` after `prev` (0 = first). */
const struct coap_option *coap_opt_next(const struct coap_msg *m, uint16_t num,
                                        const struct coap_option *prev);
uint32_t coap_opt_uint(const struct coap_option *o);   /* uint option value (RFC 7252 3.2) */

/* Block1/Block2 option (RFC 7959 2.2): 0 absent, 1 present, -1 invalid (SZX 7, over 3 bytes). */
struct coap_block {
    uint32_t num;
    uint8_t more, szx;
};
int coap_block(const struct coap_msg *m, uint16_t num, struct coap_block *b);
#define BLOCK_SIZE(szx) (16u << (szx))

/* Building a message: options must be added in ascending number order. */
struct coap_pdu {
    uint8_t *buf;
    size_t cap, len;
    uint16_t last;
    int err;   /* set when the buffer overflowed or options went out of order */
};
void coap_pdu_init(struct coap_pdu *p, uint8_t *buf, size_t cap, uint8_t type, uint8_t code,
                   uint16_t mid, const uint8_t *token, uint8_t tkl);
void coap_add_opt(struct coap_pdu *p, uint16_t num, const void *val, size_t len);
void coap_add_uint(struct coap_pdu *p, uint16_t num, uint32_t v);
void coap_add_block(struct coap_pdu *p, uint16_t num, uint32_t n, int more, uint8_t szx);
void coap_add_payload(struct coap_pdu *p, const void *data, size_t len);
/* Reserves room for a payload written in place; returns where it goes (or 0). */
uint8_t *coap_payload_at(struct coap_pdu *p, size_t *room);

/* Transport ------------------------------------------------------------------------------- */

/* Called with the response, or m == 0 when the exchange failed (timeout, or a RST: then
 * `rst` is 1). */
typedef void (*coap_cb)(void *arg, const struct coap_msg *m, int rst);

void coap_init(uint32_t seed);
uint32_t coap_random(void);
uint16_t coap_next_mid(void);
void coap_new_token(uint8_t token[8]);

/* Starts a request or a notification: a fresh MID and token go into `p`. */
void coap_start(struct coap_pdu *p, uint8_t *buf, size_t cap, uint8_t type, uint8_t code);
/* Sends what coap_start built. A CON is kept for retransmission (RFC 7252 4.2) until its ACK,
 * RST or response; `cb` then runs once. A NON with a callback waits for a response by token.
 * Returns 0, or -1 when no exchange slot is free or the PDU is too big to keep. */
int coap_send(const struct coap_pdu *p, uint32_t ip, uint16_t port, coap_cb cb, void *arg);
/* Forgets the exchanges whose callback argument is `arg` (their callbacks will not run). */
void coap_cancel(void *arg);
/* Exchanges in flight. */
int coap_busy(void);

/* Handler of incoming requests: it answers with coap_respond(). */
typedef void (*coap_request_handler)(const struct coap_msg *req);
void coap_set_handler(coap_request_handler h);
/* Handler of a RST that matched none of our exchanges (e.g. one rejecting a NON notification,
 * RFC 7641 3.6): gets its message id. */
void coap_set_rst_handler(void (*h)(uint16_t mid));

/* Starts the response to `req`: ACK piggybacked for a CON, NON for a NON (RFC 7252 5.2). */
void coap_response(struct coap_pdu *p, uint8_t *buf, size_t cap, const struct coap_msg *req,
                   uint8_t code);
/* Sends a response and remembers it for duplicates of a CON request (RFC 7252 4.5). */
void coap_respond(const struct coap_msg *req, const struct coap_pdu *p);
/* A response without options or payload. */
void coap_respond_code(const struct coap_msg *req, uint8_t code);

/* A datagram arrived. */
void coap_input(const uint8_t *buf, size_t len, uint32_t ip, uint16_t port);
/* Retransmissions and exchange timeouts; call often. */
void coap_poll(uint32_t now);

#endif
