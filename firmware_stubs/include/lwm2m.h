/* LwM2M 1.1 client core: registration interface (register, update, de-register) and the
 * device management and information reporting interfaces on one UDP socket. */
#ifndef LWM2M_H
#define LWM2M_H

#include <stddef.h>
#include <stdint.h>

#define SERVER_IP 0xC0000202u   /* 192.0.2.2: the host as the emulated network sees it */

struct client_config {
    char ep[64];
    char task[32];
    uint32_t server_ip;
    uint16_t server_port;
    uint32_t lifetime;      /* seconds */
    uint32_t duration;      /* seconds to run, 0 = until killed */
    uint32_t interval;      /* milliseconds between inferences, 0 = none */
    uint32_t send;          /* seconds between Sends of the inference results, 0 = none */
    uint8_t trust[32];      /* Ed25519 public key packages must be signed with */
    uint8_t has_trust;
};
extern struct client_config cfg;

/* Parses "ep=.. server=192.0.2.2:5683 lifetime=60 task=.. duration=0 send=0 trust=HEX64":
 * 0, or -1 with a log line naming the bad item. */
int lwm2m_config(const char *cmdline);
void lwm2m_start(void);
void lwm2m_poll(uint32_t now);
/* De-registers; lwm2m_done() tells when that is over (answered or timed out). */
void lwm2m_stop(void);
int lwm2m_done(void);
/* Something observable changed: run the notification check now (RFC 7641 4.2). */
void lwm2m_changed(void);

#endif
