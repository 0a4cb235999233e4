/* crt_start (crt.h): the symbols come from mps2.ld, which both platforms link with. */
#include <stdint.h>

#include "crt.h"
#include "platform.h"

extern uint32_t __data_start[], __data_end[], __data_load[];
extern uint32_t __bss_start[], __bss_end[];
extern uint8_t __tls_base[];
void _set_tls(void *tls);   /* picolibc: the thread pointer __aeabi_read_tp returns */
int main(void);

/* The loops must stay loops: memcpy/memset are not to be called before .data exists. */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
void crt_start(void)
{
    for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;)
        *dst++ = *src++;
    for (uint32_t *dst = __bss_start; dst < __bss_end;)
        *dst++ = 0;
    _set_tls(__tls_base);
    platform_exit(main());
}
