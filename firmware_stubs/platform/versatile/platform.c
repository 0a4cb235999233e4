/* platform.h for QEMU versatilepb (ARM926EJ-S): SP804 free-running time base, PL011 UART0 log,
 * semihosting command line and exit, the board's identity and its static ML memory. It exists
 * to run platform/mps2/net.c and smc91x.c on QEMU's smc91c111 model (tests/firmware/
 * test_smc91x.py); the client proper targets the Cortex-M boards. */
#include <string.h>

#include "platform.h"
#include "semihosting.h"
#include "versatile.h"

/* ---- SP804 timer 0 (ARM DDI 0271 Dual-Timer TRM): free-running 32-bit down counter -------- */

#define TIMER_LOAD REG32(TIMER0_BASE + 0x00u)
#define TIMER_VALUE REG32(TIMER0_BASE + 0x04u)
#define TIMER_CONTROL REG32(TIMER0_BASE + 0x08u)
#define TIMER_EN (1u << 7)
#define TIMER_SIZE32 (1u << 1)       /* periodic = 0, interrupt off: free-running, wraps */

/* Milliseconds from the counter's ticks (BOARD_SYSCLK_HZ: the timer clock, 1 MHz). Called
 * at least every few seconds by any loop that waits, far within the counter's wrap. */
uint32_t platform_millis(void)
{
    static uint32_t last, ms, ticks;
    uint32_t now = TIMER_VALUE;
    ticks += last - now;             /* down counter */
    last = now;
    ms += ticks / (BOARD_SYSCLK_HZ / 1000u);
    ticks %= BOARD_SYSCLK_HZ / 1000u;
    return ms;
}

/* the 1 MHz timer's ticks, counted as platform_millis counts them (no instruction count) */
uint64_t platform_cycles(void)
{
    return (uint64_t)platform_millis() * (BOARD_SYSCLK_HZ / 1000u);
}

uint64_t platform_instructions(void)
{
    return platform_cycles() * (1000000000u / BOARD_SYSCLK_HZ);
}

/* ---- PL011 UART0 (ARM DDI 0183 PrimeCell UART TRM) ---------------------------------------- */

#define UART_DR REG32(BOARD_UART0_BASE + 0x000u)
#define UART_FR REG32(BOARD_UART0_BASE + 0x018u)
#define UART_IBRD REG32(BOARD_UART0_BASE + 0x024u)
#define UART_FBRD REG32(BOARD_UART0_BASE + 0x028u)
#define UART_LCR_H REG32(BOARD_UART0_BASE + 0x02Cu)
#define UART_CR REG32(BOARD_UART0_BASE + 0x030u)
#define UART_FR_TXFF (1u << 5)
#define UART_LCR_H_8N1_FIFO 0x70u    /* WLEN 8 bits, FEN */
#define UART_CR_EN_TX_RX 0x301u      /* UARTEN, TXE, RXE */

static void uart_putc(char c)
{
    while (UART_FR & UART_FR_TXFF)
        ;
    UART_DR = (uint8_t)c;
}

void platform_log(const char *text)
{
    while (*text)
        uart_putc(*text++);
    uart_putc('\r');
    uart_putc('\n');
}

/* ---- Semihosting (platform/semihosting.c: SVC 0x123456 in ARM state) ----------------------- */

size_t platform_cmdline(char *buf, size_t cap)
{
    return semihost_cmdline(buf, cap);
}

void platform_exit(int code)
{
    semihost_exit(code);
    for (;;)
        ;
}

/* ---- Board ------------------------------------------------------------------------------ */

static const struct board_info board = {
    .board = BOARD_NAME,
    .core = BOARD_CORE,
    .clock_mhz = BOARD_CLOCK_MHZ,
    .ml_ram = BOARD_ML_RAM_BYTES,
    .ml_flash = BOARD_ML_FLASH_BYTES,
};

const struct board_info *platform_board(void)
{
    return &board;
}

void platform_init(void)
{
    TIMER_CONTROL = 0;
    TIMER_LOAD = 0xFFFFFFFFu;
    TIMER_CONTROL = TIMER_EN | TIMER_SIZE32;
    /* 115200 8N1 from the Versatile's 24 MHz UART clock: 24e6 / (16 * 115200) = 13 + 1/64. */
    UART_CR = 0;
    UART_IBRD = 13;
    UART_FBRD = 1;
    UART_LCR_H = UART_LCR_H_8N1_FIFO;
    UART_CR = UART_CR_EN_TX_RX;
}

