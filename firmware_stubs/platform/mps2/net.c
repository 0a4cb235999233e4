/* Just enough IPv4 for platform.h: Ethernet II, ARP (RFC 826), IPv4 (RFC 791) without options
 * or fragments, UDP (RFC 768) with checksums. One static address, one peer: the host. QEMU's
 * user networking (net=192.0.2.0/24,host=192.0.2.2) forwards 192.0.2.2 to the host's
 * loopback; the firmware must never address anything else (DESIGN.md, "Known pitfalls"). */
#include <string.h>

#include "eth.h"
#include "platform.h"

#define OUR_IP 0xC000020Fu      /* 192.0.2.15 */
#define HOST_IP 0xC0000202u     /* 192.0.2.2: the only destination */
#define NETMASK 0xFFFFFF00u
#define LOCAL_PORT 5683u        /* our UDP port (CoAP's) */
#define UDP_MAX 1472u           /* 1500 - IPv4 header - UDP header */
#define ETH_HDR 14u
#define IP_HDR 20u
#define UDP_HDR 8u
#define ETHERTYPE_IP 0x0800u
#define ETHERTYPE_ARP 0x0806u
#define ARP_TRIES 5u
#define ARP_WAIT_MS 200u

static uint8_t our_mac[6];
static int net_up;
static uint8_t frame[1536] __attribute__((aligned(4)));
static uint8_t tx[1536] __attribute__((aligned(4)));
static uint16_t ip_id;

/* A small ARP cache; no aging, the only peer on this link is QEMU's router. */
static struct {
    uint32_t ip;
    uint8_t mac[6];
} arp_cache[4];
static unsigned arp_next;

/* A datagram that arrived while net_send waited for ARP, handed out by the next net_recv. */
static struct {
    uint8_t data[UDP_MAX];
    size_t len;
    uint32_t ip;
    uint16_t port;
} pending;

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }
static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v); }

/* Internet checksum (RFC 1071): one's complement sum of big-endian 16-bit words. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    for (; len > 1; p += 2, len -= 2)
        sum += get16(p);
    if (len)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFFu) + (sum >> 16);
    return (uint16_t)~sum;
}

/* UDP checksum over the pseudo header (source, destination, protocol, UDP length). */
static uint16_t udp_csum(uint32_t src, uint32_t dst, const uint8_t *udp, size_t len)
{
    uint8_t pseudo[12];
    put32(pseudo, src);
    put32(pseudo + 4, dst);
    put16(pseudo + 8, 17);
    put16(pseudo + 10, (uint32_t)len);
    return csum_fold(csum_add(csum_add(0, pseudo, sizeof pseudo), udp, len));
}

static const uint8_t *arp_lookup(uint32_t ip)
{
    for (unsigned i = 0; i < 4; i++)
        if (arp_cache[i].ip == ip)
            return arp_cache[i].mac;
    return 0;
}

static void arp_learn(uint32_t ip, const uint8_t *mac)
{
    if ((ip & NETMASK) != (OUR_IP & NETMASK) || ip == OUR_IP)
        return;
    uint8_t *slot = (uint8_t *)arp_lookup(ip);
    if (!slot) {
        arp_cache[arp_next].ip = ip;
        slot = arp_cache[arp_next].mac;
        arp_next = (arp_next + 1) % 4;
    }
    memcpy(slot, mac, 6);
}

static void eth_header(uint8_t *f, const uint8_t *dst, uint32_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, our_mac, 6);
    put16(f + 12, type);
}

/* ARP for IPv4 over Ethernet: htype 1, ptype 0x0800, hlen 6, plen 4. */
static void arp_send(uint32_t op, const uint8_t *tha, uint32_t tpa)
{
    static const uint8_t broadcast[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    uint8_t *a = tx + ETH_HDR;
    eth_header(tx, op == 1 ? broadcast : tha, ETHERTYPE_ARP);
    put16(a, 1);
    put16(a + 2, ETHERTYPE_IP);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, our_mac, 6);
    put32(a + 14, OUR_IP);
    memset(a + 18, 0, 6);
    if (op == 2)
        memcpy(a + 18, tha, 6);
    put32(a + 24, tpa);
    eth_send(tx, ETH_HDR + 28);
}

static void arp_input(const uint8_t *a, size_t len)
{
    if (len < 28 || get16(a) != 1 || get16(a + 2) != ETHERTYPE_IP || a[4] != 6 || a[5] != 4)
        return;
    uint32_t op = get16(a + 6), spa = get32(a + 14), tpa = get32(a + 24);
    if (tpa != OUR_IP)
        return;
    arp_learn(spa, a + 8);
    if (op == 1)
        arp_send(2, a + 8, spa);     /* who-has 192.0.2.15: is-at our_mac */
}

/* An IPv4 datagram for us: non-empty UDP to our port with valid checksums goes to
 * `pending` (an empty one would read as net_recv's timeout). */
static void ip_input(const uint8_t *ip, size_t len)
{
    if (len < IP_HDR || ip[0] != 0x45)                 /* IPv4, no options (IHL 5) */
        return;
    size_t total = get16(ip + 2);
    if (total < IP_HDR + UDP_HDR || total > len)
        return;
    if ((get16(ip + 6) & 0x3FFFu) != 0)                /* MF set or an offset: a fragment */
        return;
    if (ip[9] != 17 || get32(ip + 16) != OUR_IP || csum_fold(csum_add(0, ip, IP_HDR)) != 0)
        return;
    const uint8_t *udp = ip + IP_HDR;
    size_t ulen = get16(udp + 4);
    if (ulen <= UDP_HDR || ulen > total - IP_HDR || get16(udp + 2) != LOCAL_PORT)
        return;
    uint32_t src = get32(ip + 12);
    if (get16(udp + 6) != 0 && udp_csum(src, OUR_IP, udp, ulen) != 0)
        return;
    if (pending.len)                                   /* one slot: a second one is dropped */
        return;
    pending.ip = src;
    pending.port = get16(udp);
    pending.len = ulen - UDP_HDR;
    memcpy(pending.data, udp + UDP_HDR, pending.len);
}

/* Handles at most one received frame; 1 when there was one. */
static int poll_once(void)
{
    int len = eth_recv(frame, sizeof frame);
    if (len == 0)
        return 0;
    if (len < (int)ETH_HDR)
        return 1;
    uint32_t type = get16(frame + 12);
    if (type == ETHERTYPE_ARP)
        arp_input(frame + ETH_HDR, (size_t)len - ETH_HDR);
    else if (type == ETHERTYPE_IP)
        ip_input(frame + ETH_HDR, (size_t)len - ETH_HDR);
    return 1;
}

static int expired(uint32_t start, uint32_t timeout_ms)
{
    return platform_millis() - start >= timeout_ms;
}

/* Waits for an event (at the latest the next 1 ms SysTick) when nothing is to be done. On
 * the ARM926 of versatilepb (platform/versatile) no interrupt is enabled, so it just polls. */
static void idle(void)
{
#if defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
    __asm__ volatile("wfi");
#endif
}

static const uint8_t *resolve(uint32_t ip)
{
    for (unsigned try = 0; try < ARP_TRIES; try++) {
        const uint8_t *mac = arp_lookup(ip);
        if (mac)
            return mac;
        arp_send(1, 0, ip);
        for (uint32_t start = platform_millis(); !expired(start, ARP_WAIT_MS);) {
            if ((mac = arp_lookup(ip)))
                return mac;
            if (!poll_once())
                idle();
        }
    }
    return 0;
}

int net_init(void)
{
    if (eth_init(our_mac) != 0)
        return -1;
    net_up = 1;
    /* Ask for the gateway (the host) now: a link that does not answer is not up. */
    return resolve(HOST_IP) ? 0 : -2;
}

int net_send(uint32_t ip, uint16_t port, const uint8_t *data, size_t len)
{
    if (!net_up || ip != HOST_IP || len > UDP_MAX)
        return -1;
    const uint8_t *mac = resolve(ip);
    if (!mac)
        return -2;
    uint8_t *iph = tx + ETH_HDR, *udp = iph + IP_HDR;
    eth_header(tx, mac, ETHERTYPE_IP);
    iph[0] = 0x45;                                     /* version 4, IHL 5 */
    iph[1] = 0;                                        /* DSCP/ECN */
    put16(iph + 2, IP_HDR + UDP_HDR + len);
    put16(iph + 4, ip_id++);
    put16(iph + 6, 0x4000u);                           /* DF, offset 0 */
    iph[8] = 64;                                       /* TTL */
    iph[9] = 17;                                       /* UDP */
    put16(iph + 10, 0);
    put32(iph + 12, OUR_IP);
    put32(iph + 16, ip);
    put16(iph + 10, csum_fold(csum_add(0, iph, IP_HDR)));
    put16(udp, LOCAL_PORT);
    put16(udp + 2, port);
    put16(udp + 4, UDP_HDR + len);
    put16(udp + 6, 0);
    memcpy(udp + UDP_HDR, data, len);
    uint16_t sum = udp_csum(OUR_IP, ip, udp, UDP_HDR + len);
    put16(udp + 6, sum ? sum : 0xFFFFu);               /* 0 means "no checksum" */
    return eth_send(tx, ETH_HDR + IP_HDR + UDP_HDR + len) == 0 ? 0 : -3;
}

int net_recv(uint32_t *ip, uint16_t *port, uint8_t *buf, size_t cap, uint32_t timeout_ms)
{
    if (!net_up)
        return -1;
    for (uint32_t start = platform_millis();;) {
        if (pending.len) {
            size_t len = pending.len;
            if (len > cap)
                len = cap;                             /* truncated, like recv(2) */
            memcpy(buf, pending.data, len);
            *ip = pending.ip;
            *port = pending.port;
            pending.len = 0;
            return (int)len;
        }
        if (poll_once())
            continue;
        if (expired(start, timeout_ms))
            return 0;
        idle();
    }
}
