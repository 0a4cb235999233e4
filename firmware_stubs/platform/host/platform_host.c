/* platform.h on a POSIX host, for fast tests: the board's numbers come from `board=` on the
 * command line (the same as the QEMU boards), UDP on 127.0.0.1. As QEMU's user-mode network
 * does, the server address 192.0.2.2 is the host's loopback; nothing else is reachable. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "platform.h"

#define HOST_ALIAS 0xC0000202u   /* 192.0.2.2 */
#define ML_FLASH (1024u * 1024u)
#define ML_RAM (256u * 1024u)

static const struct board_info boards[] = {
    {"mps2-an385", "cortex-m3", 25, ML_RAM, ML_FLASH},
    {"mps2-an386", "cortex-m4f", 25, ML_RAM, ML_FLASH},
    {"mps2-an500", "cortex-m7", 25, ML_RAM, ML_FLASH},
    {"mps2-an505", "cortex-m33", 25, ML_RAM, ML_FLASH},
};

static const struct board_info *board = &boards[1];
static char cmdline[1024];
static size_t slot_cap = ML_FLASH;
static uint8_t slot[ML_FLASH];
static uint8_t arena[ML_RAM];
static int sock = -1;

/* The value of `key=` in the command line, or 0. */
static const char *arg(const char *key, size_t *len)
{
    size_t k = strlen(key);
    const char *p = cmdline;
    while (*p) {
        const char *end = strchr(p, ' ');
        if (!end)
            end = p + strlen(p);
        if ((size_t)(end - p) > k && !strncmp(p, key, k) && p[k] == '=') {
            *len = (size_t)(end - p) - k - 1;
            return p + k + 1;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

void platform_init(void)
{
    FILE *f = fopen("/proc/self/cmdline", "rb");
    size_t n = 0, i, len;
    const char *v;
    if (f) {
        n = fread(cmdline, 1, sizeof cmdline - 1, f);
        fclose(f);
    }
    cmdline[n] = 0;
    /* argv[1..] joined by spaces */
    i = strlen(cmdline) + 1;
    if (i > n)
        i = n;
    memmove(cmdline, cmdline + i, n - i + 1);
    for (n -= i, i = 0; i + 1 < n; i++)
        if (!cmdline[i])
            cmdline[i] = ' ';
    if ((v = arg("board", &len)))
        for (i = 0; i < sizeof boards / sizeof boards[0]; i++)
            if (strlen(boards[i].board) == len && !strncmp(v, boards[i].board, len))
                board = &boards[i];
    if ((v = arg("slot", &len))) {  /* host only: a smaller model slot, for tests */
        unsigned long c = strtoul(v, 0, 10);
        if (c && c < ML_FLASH)
            slot_cap = c;
    }
    setvbuf(stdout, 0, _IOLBF, 0);
}

const struct board_info *platform_board(void)
{
    return board;
}

uint32_t platform_millis(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint32_t)((uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u);
}

/* the host has no emulated core: nanoseconds stand for cycles and instructions */
uint64_t platform_cycles(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

uint64_t platform_instructions(void)
{
    return platform_cycles();
}

void platform_log(const char *text)
{
    printf("%s\n", text);
}

size_t platform_cmdline(char *buf, size_t cap)
{
    size_t n = strlen(cmdline);
    if (!cap)
        return 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, cmdline, n);
    buf[n] = 0;
    return n;
}

void platform_exit(int code)
{
    fflush(stdout);
    exit(code);
}

int net_init(void)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    size_t len;
    const char *v = arg("port", &len);  /* host only: a fixed local port */
    sock = socket(AF_INET, SOCK_DGRAM, 0);
    if (sock < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(v ? (uint16_t)strtoul(v, 0, 10) : 0);
    if (bind(sock, (struct sockaddr *)&a, sizeof a) ||
        getsockname(sock, (struct sockaddr *)&a, &al))
        return -1;
    printf("udp 127.0.0.1:%u\n", ntohs(a.sin_port));
    return 0;
}

int net_send(uint32_t ip, uint16_t port, const uint8_t *data, size_t len)
{
    struct sockaddr_in a;
    if (ip != HOST_ALIAS)
        return -1;  /* as in QEMU: only the host alias is reachable */
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return sendto(sock, data, len, 0, (struct sockaddr *)&a, sizeof a) == (ssize_t)len ? 0 : -1;
}

int net_recv(uint32_t *ip, uint16_t *port, uint8_t *buf, size_t cap, uint32_t timeout_ms)
{
    struct pollfd p = {sock, POLLIN, 0};
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    ssize_t n;
    int r = poll(&p, 1, (int)timeout_ms);
    if (r <= 0)
        return r;
    n = recvfrom(sock, buf, cap, 0, (struct sockaddr *)&a, &al);
    if (n < 0)
        return -1;
    /* the host's loopback appears as the host alias, as from inside QEMU */
    *ip = ntohl(a.sin_addr.s_addr) == INADDR_LOOPBACK ? HOST_ALIAS : ntohl(a.sin_addr.s_addr);
    *port = ntohs(a.sin_port);
    return (int)n;
}

uint8_t *platform_model_slot(size_t *capacity)
{
    *capacity = slot_cap;
    return slot;
}

uint8_t *platform_ml_arena(size_t *capacity)
{
    *capacity = sizeof arena;
    return arena;
}
