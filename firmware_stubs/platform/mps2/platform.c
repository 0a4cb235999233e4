/* platform.h for the QEMU mps2 boards: SysTick time base, CMSDK UART0 log, semihosting
 * command line and exit, the board's identity and its static ML memory. */
#include <string.h>

#include "mps2.h"
#include "platform.h"

/* ---- SysTick: 1 ms tick ------------------------------------------------------------------ */

static volatile uint32_t millis;

void SysTick_Handler(void)
{
    millis++;
}

uint32_t platform_millis(void)
{
    return millis;
}

/* The tick count and SysTick's down-counter within the tick; read again if a tick passed. */
uint32_t platform_micros(void)
{
    uint32_t ms, cvr;
    do {
        ms = millis;
        cvr = SYST_CVR;
    } while (ms != millis);
    return ms * 1000u + (BOARD_SYSCLK_HZ / 1000u - 1u - cvr) / (BOARD_SYSCLK_HZ / 1000000u);
}

/* ---- CMSDK APB UART0 (ARM DDI 0479 Cortex-M System Design Kit TRM, "APB UART") ----------- */

#define UART_DATA REG32(BOARD_UART0_BASE + 0x000u)
#define UART_STATE REG32(BOARD_UART0_BASE + 0x004u)     /* bit 0: TX buffer full */
#define UART_CTRL REG32(BOARD_UART0_BASE + 0x008u)      /* bit 0: TX enable */
#define UART_BAUDDIV REG32(BOARD_UART0_BASE + 0x010u)   /* PCLK / baud, at least 16 */
#define UART_STATE_TXFULL (1u << 0)
#define UART_CTRL_TXEN (1u << 0)

static void uart_putc(char c)
{
    while (UART_STATE & UART_STATE_TXFULL)
        ;
    UART_DATA = (uint8_t)c;
}

void platform_log(const char *text)
{
    while (*text)
        uart_putc(*text++);
    uart_putc('\r');
    uart_putc('\n');
}

#ifdef BOARD_CMDLINE
/* ---- No semihosting (renode-an385: Renode's Cortex-M has no semihosting host) ------------- *
 * The command line is compiled in (board.h, from make CMDLINE=); exit logs its code and
 * sleeps, for the Robot test to read on the UART. */

size_t platform_cmdline(char *buf, size_t cap)
{
    static const char builtin[] = BOARD_CMDLINE;
    size_t len = sizeof builtin - 1;
    if (cap == 0)
        return 0;
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, builtin, len);
    buf[len] = '\0';
    return len;
}

void platform_exit(int code)
{
    char line[16] = "exit ", digits[12];
    size_t n = 0, at = 5;
    uint32_t v = code < 0 ? 0u - (uint32_t)code : (uint32_t)code;
    do
        digits[n++] = (char)('0' + v % 10u);
    while ((v /= 10u) != 0);
    if (code < 0)
        line[at++] = '-';
    while (n)
        line[at++] = digits[--n];
    line[at] = '\0';
    platform_log(line);
    for (;;)
        __asm__ volatile("wfi");
}

#else
/* ---- Semihosting (ARM "Semihosting for AArch32 and AArch64", v2.0) ------------------------ *
 * On M-profile the call is BKPT 0xAB with the operation in r0 and a parameter block in r1.
 * QEMU needs -semihosting-config enable=on,target=native; without it BKPT is a HardFault. */

#define SYS_GET_CMDLINE 0x15
#define SYS_EXIT 0x18
#define SYS_EXIT_EXTENDED 0x20
#define ADP_Stopped_ApplicationExit 0x20026u
#define ADP_Stopped_RunTimeErrorUnknown 0x20023u

static int semihost(uint32_t op, void *block)
{
    register uint32_t r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return (int)r0;
}

/* QEMU 7.2 (semihosting/arm-compat-semi.c) answers SYS_GET_CMDLINE with its semihosting argv
 * joined by spaces; without `-semihosting-config arg=` that argv is the -kernel path followed
 * by the words of -append. argv[0] is dropped here, so the caller sees the -append text. */
size_t platform_cmdline(char *buf, size_t cap)
{
    static char raw[512];
    uint32_t block[2] = {(uint32_t)(uintptr_t)raw, sizeof raw};
    if (cap == 0 || semihost(SYS_GET_CMDLINE, block) != 0)
        return 0;
    raw[sizeof raw - 1] = '\0';
    const char *args = strchr(raw, ' ');
    if (!args)
        args = "";
    while (*args == ' ')
        args++;
    size_t len = strlen(args);
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, args, len);
    buf[len] = '\0';
    return len;
}

/* QEMU 7.2 on 32-bit ARM: SYS_EXIT takes the reason itself in r1 and maps
 * ApplicationExit to status 0 and anything else to 1; SYS_EXIT_EXTENDED takes a block
 * {reason, subcode} and, for ApplicationExit, exits QEMU with the subcode as its status.
 * So the code reaches QEMU's exit status exactly (modulo 256, as for any process). */
void platform_exit(int code)
{
    uint32_t block[2] = {ADP_Stopped_ApplicationExit, (uint32_t)code};
    semihost(SYS_EXIT_EXTENDED, block);
    /* An older semihosting host without SYS_EXIT_EXTENDED returns here: keep 0 vs non-0. */
    semihost(SYS_EXIT, (void *)(uintptr_t)(code == 0 ? ADP_Stopped_ApplicationExit
                                                     : ADP_Stopped_RunTimeErrorUnknown));
    for (;;)
        __asm__ volatile("wfi");
}
#endif

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
    /* SysTick from the processor clock: RVR = cycles per ms - 1 (ARMv7-M B3.3). The tick also
     * keeps QEMU's CMSDK UART from stalling (DESIGN.md). */
    SYST_RVR = BOARD_SYSCLK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    UART_BAUDDIV = BOARD_SYSCLK_HZ / 115200u;
    UART_CTRL = UART_CTRL_TXEN;
}

/* ---- Static ML memory: sized by the device class, checked by the linker script ---------- */

static uint8_t model_slot[BOARD_ML_FLASH_BYTES]
    __attribute__((section(".model_slot"), aligned(16)));
static uint8_t ml_arena[BOARD_ML_RAM_BYTES] __attribute__((section(".ml_arena"), aligned(16)));

uint8_t *platform_model_slot(size_t *capacity)
{
    *capacity = sizeof model_slot;
    return model_slot;
}

uint8_t *platform_ml_arena(size_t *capacity)
{
    *capacity = sizeof ml_arena;
    return ml_arena;
}
