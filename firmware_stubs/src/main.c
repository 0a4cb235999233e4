/* The stub's main loop: one UDP socket, one thread, no heap. */
#include "coap.h"
#include "fmt.h"
#include "lwm2m.h"
#include "platform.h"

#define LEAVE_WAIT_MS 10000u

static uint8_t rx[COAP_MAX_PDU];
static char cmdline[512];

int main(void)
{
    uint32_t start, now, seed = 0, leaving = 0;
    size_t i;

    platform_init();
    platform_cmdline(cmdline, sizeof cmdline);
    if (lwm2m_config(cmdline))
        platform_exit(2);
    if (net_init()) {
        platform_log("network down");
        platform_exit(3);
    }
    start = platform_millis();
    for (i = 0; cfg.ep[i]; i++)  /* tokens and MIDs differ per device and per boot */
        seed = seed * 31 + (uint8_t)cfg.ep[i];
    coap_init(seed ^ start);
    log_str("stub ", cfg.ep);
    lwm2m_start();
    for (;;) {
        uint32_t ip;
        uint16_t port;
        int n = net_recv(&ip, &port, rx, sizeof rx, 20);
        if (n > 0)
            coap_input(rx, (size_t)n, ip, port);
        now = platform_millis();
        coap_poll(now);
        lwm2m_poll(now);
        if (cfg.duration && !leaving && now - start >= cfg.duration * 1000u) {
            leaving = now;
            lwm2m_stop();  /* de-register, then exit */
        }
        if (leaving && (lwm2m_done() || now - leaving >= LEAVE_WAIT_MS)) {
            platform_log("exit");
            platform_exit(0);
        }
    }
}
