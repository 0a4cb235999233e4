/* The static ML memory of platform.h: the model slot and the arena, sized by the board's
 * budget (board.h) and placed by the linker script, which checks them against it. */
#include "board.h"
#include "platform.h"

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
