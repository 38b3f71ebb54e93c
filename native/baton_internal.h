/* What the shim's C files share (baton_shim.c defines them); nothing here
 * is called from TypeScript. */
#ifndef BATON_INTERNAL_H
#define BATON_INTERNAL_H

#include <stdint.h>

/* Sets the shim's last error (fmt with one %s, detail) and returns code. */
int bt_internal_fail(int code, const char *fmt, const char *detail);

/* 1 when the port was configured with rx interrupts and has that rx queue. */
int bt_internal_queue_rx_intr(uint16_t port, uint16_t queue);

#endif
