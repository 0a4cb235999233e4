/* Network bring-up check: `port=N tag=X [timeout=MS]` on the command line (QEMU -append).
 * Sends "hello <board> <core> <tag>" to 192.0.2.2:N, waits for one datagram (timeout, by
 * platform_millis, default 10000 ms) and sends it back as "echo <datagram>". Exit status:
 * 0 done, 2 bad command line, 3 no reply in time, 4 network down, 5 send failed, 6 wrong
 * floating point (70: a fault, e.g. the FPU left disabled on a hard-float board).
 * Uses platform.h only. */
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "platform.h"

#define HOST_IP 0xC0000202u   /* 192.0.2.2 */

static void append(char *buf, size_t cap, const char *text)
{
    size_t len = strlen(buf);
    size_t n = strlen(text);
    if (len + n >= cap)
        n = cap - len - 1;
    memcpy(buf + len, text, n);
    buf[len + n] = '\0';
}

int main(void)
{
    static char cmdline[256], port_text[8], timeout_text[12], tag[64], msg[160];
    static uint8_t reply[512];

    platform_init();
    const struct board_info *b = platform_board();
    platform_cmdline(cmdline, sizeof cmdline);
    msg[0] = '\0';
    append(msg, sizeof msg, "netcheck on ");
    append(msg, sizeof msg, b->board);
    append(msg, sizeof msg, ": ");
    append(msg, sizeof msg, cmdline);
    platform_log(msg);

    /* Hard-float boards execute this on the FPU: a UsageFault (NOCP) if startup did not
     * enable it in CPACR. */
    volatile float x = 2.5f;
    if (x * x != 6.25f)
        return 6;

    long port = arg(cmdline, "port", port_text, sizeof port_text) ? 0 : atol(port_text);
    long timeout = arg(cmdline, "timeout", timeout_text, sizeof timeout_text)
                       ? 10000 : atol(timeout_text);
    if (port <= 0 || port > 65535 || arg(cmdline, "tag", tag, sizeof tag)) {
        platform_log("usage: port=N tag=X");
        return 2;
    }
    if (net_init() != 0) {
        platform_log("network down");
        return 4;
    }
    msg[0] = '\0';
    append(msg, sizeof msg, "hello ");
    append(msg, sizeof msg, b->board);
    append(msg, sizeof msg, " ");
    append(msg, sizeof msg, b->core);
    append(msg, sizeof msg, " ");
    append(msg, sizeof msg, tag);
    if (net_send(HOST_IP, (uint16_t)port, (const uint8_t *)msg, strlen(msg)) != 0) {
        platform_log("send failed");
        return 5;
    }
    platform_log(msg);

    uint32_t ip;
    uint16_t from;
    memcpy(reply, "echo ", 5);
    int n = net_recv(&ip, &from, reply + 5, sizeof reply - 5, (uint32_t)timeout);
    if (n <= 0) {
        platform_log(n == 0 ? "timeout" : "receive failed");
        return 3;
    }
    if (net_send(ip, from, reply, 5 + (size_t)n) != 0) {
        platform_log("send failed");
        return 5;
    }
    platform_log("echoed");
    return 0;
}
