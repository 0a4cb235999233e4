/* Firmware Update object (5) with Zephyr's states and results: push (Block1 writes of
 * /5/0/0 into the model slot) and pull (/5/0/1 URI fetched with Block2 GETs). The states and
 * results are FW_ and the names of lwm2m_mlaas/core/firmware_update.py, which
 * tests/core/test_firmware_update.py checks them against. */
#ifndef FIRMWARE_H
#define FIRMWARE_H

#include <stddef.h>
#include <stdint.h>

#include "coap.h"

enum { FW_IDLE = 0, FW_DOWNLOADING = 1, FW_DOWNLOADED = 2, FW_UPDATING = 3 };
enum {
    FW_INITIAL = 0, FW_SUCCESS = 1, FW_NOT_ENOUGH_STORAGE = 2, FW_OUT_OF_RAM = 3,
    FW_CONNECTION_LOST = 4, FW_INTEGRITY_FAILURE = 5, FW_UNSUPPORTED_PACKAGE = 6,
    FW_INVALID_URI = 7, FW_UPDATE_FAILED = 8, FW_UNSUPPORTED_PROTOCOL = 9,
};

void fw_init(void);
/* A PUT/POST to /5/0/0, with or without Block1 (RFC 7959 2.5): answers it. */
void fw_push(const struct coap_msg *req);
/* /5/0/0 written in one piece (e.g. inside a TLV) */
uint8_t fw_package_write(const uint8_t *data, size_t len);
uint8_t fw_uri_write(const uint8_t *data, size_t len);
uint8_t fw_update_exec(const uint8_t *args, size_t len);
/* The main loop's step: install after an Execute. */
void fw_poll(uint32_t now);

#endif
