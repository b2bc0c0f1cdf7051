/* SPDX-License-Identifier: Apache-2.0 */
/* OpenSSL's error queue into the debug log; see ossl.h. */

#include "posture/ossl.h"

#include <openssl/err.h>

#include "posture/log.h"

void posture_ossl_drain(const char *what)
{
    unsigned long e;
    char buf[256];

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        log_debug("%s: %s", what ? what : "openssl", buf);
    }
}
