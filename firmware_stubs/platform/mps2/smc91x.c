/* SMSC LAN91C111 Ethernet controller, polled, 16-bit PIO: the NIC of the renode-an385 board
 * (Renode's Network.SMC91X) and of QEMU's versatilepb (hw/net/smc91c111.c), selected by
 * tools/board_config.py --nic. Written from the SMSC LAN91C111 datasheet (rev. 1.91):
 * section 8 "Registers" (four banks of 16-bit registers behind the Bank Select Register),
 * 8.13 "MMU Command Register" and 8.5 "Packet Memory" (status word, byte count, data,
 * control byte; 2 KB pages shared by transmit and receive).
 *
 * The chip keeps its own memory: a frame to send goes into a page allocated by the MMU and is
 * queued with "enqueue into TX FIFO"; a received frame sits in a page whose number waits in the
 * RX FIFO until "remove and release". Only 16-bit accesses are used (8-bit registers are read and
 * written as the low or high byte of their word); the bank stays 2 between calls. */
#include <string.h>

#include "board.h"
#include "eth.h"

#define REG16(off) (*(volatile uint16_t *)(uintptr_t)(BOARD_ETH_BASE + (off)))
#define BANK_SELECT REG16(0x0Eu)   /* all banks: bits 2:0 bank, high byte reads 0x33 */

/* Bank 0 */
#define TCR REG16(0x00u)           /* transmit control */
#define RCR REG16(0x04u)           /* receive control */
#define RPCR REG16(0x0Au)          /* receive/PHY control */
#define TCR_TXENA 0x0001u
#define TCR_PAD_EN 0x0080u         /* pad frames shorter than 64 bytes */
#define RCR_RXEN 0x0100u
#define RCR_STRIP_CRC 0x0200u
#define RCR_SOFT_RST 0x8000u
#define RPCR_ANEG 0x0800u          /* PHY auto-negotiation */
#define RPCR_DPLX 0x1000u
#define RPCR_SPEED 0x2000u
/* Bank 1 */
#define IA(i) REG16(0x04u + 2u * (i))   /* individual address, bytes 2i (low) and 2i+1 */
#define CTR REG16(0x0Cu)           /* control */
#define CTR_AUTO_RELEASE 0x0800u   /* free a page once its frame went out successfully */
/* Bank 2 */
#define MMUCR REG16(0x00u)         /* write: command in bits 7:5; read: bit 0 busy */
#define PNR_ARR REG16(0x02u)       /* low byte: packet number; high byte: allocation result */
#define FIFO REG16(0x04u)          /* low byte: TX done FIFO; high byte: RX FIFO */
#define PTR REG16(0x06u)           /* pointer into the page */
#define DATA REG16(0x08u)          /* data window at the pointer */
#define IST REG16(0x0Cu)           /* low byte: interrupt status (write: acknowledge); high: mask */
#define MMU_BUSY 0x0001u
#define MMU_ALLOC 0x0020u          /* allocate a page for TX */
#define MMU_RESET 0x0040u          /* free every page, empty the FIFOs */
#define MMU_REMOVE_RELEASE 0x0080u /* drop the RX FIFO's head and free its page */
#define MMU_RELEASE 0x00A0u        /* free the page in PNR */
#define MMU_ENQUEUE 0x00C0u        /* queue the page in PNR for transmission */
#define ARR_FAILED 0x8000u         /* in PNR_ARR: allocation failed or pending */
#define FIFO_TEMPTY 0x0080u        /* in FIFO: no TX completion */
#define FIFO_REMPTY 0x8000u        /* in FIFO: no received frame */
#define PTR_RCV 0x8000u            /* the pointer addresses the RX FIFO's head page */
#define PTR_AUTO_INCR 0x4000u
#define PTR_READ 0x2000u
#define PTR_NOT_EMPTY 0x0800u      /* (read) write data not yet in memory */
#define INT_TX 0x02u
/* Bank 3 */
#define REV REG16(0x0Au)           /* bits 7:4 chip id (9: LAN91C111), 3:0 revision */

/* Receive status word: any of these makes the frame bad. Control byte: the frame's length is
 * odd and its last byte is the low byte of the control word. */
#define RS_ERRORS 0xAC00u          /* ALGNERR, BADCRC, TOOLNG, TOOSHORT */
#define CTL_ODD 0x20u
#define PAGE_BYTES 2048u
#define SPIN 100000u               /* polls of a busy bit before giving up */

static void bank(unsigned n)
{
    BANK_SELECT = (uint16_t)n;
}

static int mmu(uint16_t command)
{
    for (uint32_t n = 0; MMUCR & MMU_BUSY; n++)
        if (n > SPIN)
            return -1;
    MMUCR = command;
    return 0;
}

int eth_init(uint8_t mac[6])
{
    /* The Bank Select Register's high byte is 0x33 in every bank; the chip id sits in REV. */
    bank(3);
    if ((BANK_SELECT >> 8) != 0x33u || ((REV >> 4) & 0xFu) != 9u)
        return -1;
    bank(0);
    RCR = RCR_SOFT_RST;            /* reset the MAC; the bit must be cleared again */
    RCR = 0;
    bank(0);
    RPCR = RPCR_ANEG | RPCR_SPEED | RPCR_DPLX;
    bank(1);
    CTR = CTR | CTR_AUTO_RELEASE;
    /* The station address comes from the EEPROM at reset (QEMU: -nic ...,macaddr=; Renode: the
     * model's MAC). Without one it reads 0: then a fixed locally administered address. */
    uint8_t any = 0;
    for (unsigned i = 0; i < 3; i++) {
        uint16_t w = IA(i);
        mac[2 * i] = (uint8_t)w;
        mac[2 * i + 1] = (uint8_t)(w >> 8);
        any |= mac[2 * i] | mac[2 * i + 1];
    }
    if (!any || (mac[0] & 1u)) {
        static const uint8_t fallback[6] = {0x02, 0x00, 0x00, 0x91, 0x11, 0x01};
        memcpy(mac, fallback, 6);
        for (unsigned i = 0; i < 3; i++)
            IA(i) = (uint16_t)(mac[2 * i] | mac[2 * i + 1] << 8);
    }
    bank(2);
    IST = 0;                       /* mask every interrupt: polled */
    if (mmu(MMU_RESET))
        return -2;
    bank(0);
    TCR = TCR_TXENA | TCR_PAD_EN;
    RCR = RCR_RXEN | RCR_STRIP_CRC;   /* our address and broadcast, FCS stripped */
    bank(2);
    return 0;
}

/* A page for a frame to send, or -1. When received frames fill the memory, the oldest one is
 * dropped to make room (as a full receive queue would drop it). */
static int allocate(void)
{
    for (unsigned attempt = 0; attempt < 8; attempt++) {
        if (mmu(MMU_ALLOC))
            return -1;
        for (uint32_t n = 0; n < SPIN; n++) {
            uint16_t arr = PNR_ARR;
            if (!(arr & ARR_FAILED))
                return (arr >> 8) & 0x3Fu;
        }
        if (FIFO & FIFO_REMPTY)
            return -1;             /* nothing to drop: the memory is held by transmit pages */
        /* The release may complete the pending allocation by itself (the chip retries it);
         * the next attempt's ALLOC then finds ARR already valid or allocates anew. */
        mmu(MMU_REMOVE_RELEASE);
        uint16_t arr = PNR_ARR;
        if (!(arr & ARR_FAILED))
            return (arr >> 8) & 0x3Fu;
    }
    return -1;
}

int eth_send(const uint8_t *frame, size_t len)
{
    if (len == 0 || len > 1514u)
        return -1;
    bank(2);
    /* A frame that failed (no AUTO_RELEASE then) leaves its page number in the TX done FIFO and
     * the transmitter off: free the page, acknowledge, and turn the transmitter on again. */
    int failed = 0;
    for (unsigned n = 0; n < 8u && !(FIFO & FIFO_TEMPTY); n++) {
        PNR_ARR = FIFO & 0x3Fu;
        mmu(MMU_RELEASE);
        IST = INT_TX;
        failed = 1;
    }
    if (failed) {
        bank(0);
        TCR = TCR_TXENA | TCR_PAD_EN;
        bank(2);
    }
    int page = allocate();
    if (page < 0)
        return -2;
    PNR_ARR = (uint16_t)page;
    PTR = PTR_AUTO_INCR;           /* write, from offset 0 of the page */
    /* Always an even number of data bytes, at least the 60 of a minimal frame without FCS
     * (zeros after the frame: harmless after an IP datagram or ARP), so the control byte's ODD
     * bit stays 0 and no model's padding matters (TCR PAD_EN is set as well). Byte count:
     * status word, byte count word, data and control word. */
    size_t even = len < 60u ? 60u : (len + 1u) & ~(size_t)1u;
    DATA = 0;                      /* status word, written by the chip */
    DATA = (uint16_t)(even + 6u);
    for (size_t i = 0; i < even; i += 2)
        DATA = (uint16_t)((i < len ? frame[i] : 0u) | (i + 1 < len ? frame[i + 1] : 0u) << 8);
    DATA = 0;                      /* control byte 0 (no ODD, no per-frame CRC), pad byte 0 */
    for (uint32_t n = 0; PTR & PTR_NOT_EMPTY; n++)
        if (n > SPIN)
            return -3;
    return mmu(MMU_ENQUEUE) ? -3 : 0;
}

int eth_recv(uint8_t *frame, size_t cap)
{
    bank(2);
    if (FIFO & FIFO_REMPTY)
        return 0;
    PTR = PTR_RCV | PTR_AUTO_INCR | PTR_READ;
    uint16_t status = DATA;
    uint16_t count = DATA & 0x07FEu;
    int len = -1;
    if (count >= 6u + 14u && count <= PAGE_BYTES) {
        /* count - 6 data bytes (FCS stripped), then the control word. */
        size_t data = count - 6u;
        for (size_t i = 0; i < data; i += 2) {
            uint16_t w = DATA;
            if (i < cap)
                frame[i] = (uint8_t)w;
            if (i + 1 < cap)
                frame[i + 1] = (uint8_t)(w >> 8);
        }
        uint16_t control = DATA;
        if ((control >> 8) & CTL_ODD) {
            if (data < cap)
                frame[data] = (uint8_t)control;
            data++;
        }
        if (!(status & RS_ERRORS) && data <= cap)
            len = (int)data;
    }
    mmu(MMU_REMOVE_RELEASE);
    return len;
}
