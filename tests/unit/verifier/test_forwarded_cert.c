/* SPDX-License-Identifier: Apache-2.0 */
/* The forwarded client-certificate header parsers (GATEWAYS.md §2.4): nginx, Envoy XFCC,
 * Traefik and the Caddy/HAProxy fingerprint, on certificates made by OpenSSL, and the
 * malformed values each must refuse. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "http_test_certs.h"
#include "testlib.h"

static struct tcert ca, leaf, other;

static int setup(void **state)
{
    (void) state;
    tcert_make(&ca, "test CA", TCERT_CA, NULL);
    tcert_make(&leaf, "device-1", TCERT_CLIENT, &ca);
    tcert_make(&other, "device-2", TCERT_CLIENT, &ca);
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    tcert_free(&ca);
    tcert_free(&leaf);
    tcert_free(&other);
    return 0;
}

static void assert_der(const uint8_t *der, size_t len, const struct tcert *t)
{
    assert_non_null(der);
    assert_int_equal(len, t->der_len);
    assert_memory_equal(der, t->der, len);
}

static void test_nginx(void **state)
{
    char *v = tcert_escape(leaf.pem);
    uint8_t *der = NULL;
    size_t len = 0;

    (void) state;
    assert_int_equal(posture_http_parse_nginx_cert(v, &der, &len), 0);
    assert_der(der, len, &leaf);
    free(der);
    free(v);

    /* CRLF line ends (some gateways) are fine too */
    char *crlf = malloc(2 * strlen(leaf.pem) + 1), *q = crlf;
    assert_non_null(crlf);
    for (const char *p = leaf.pem; *p; p++) {
        if (*p == '\n')
            *q++ = '\r';
        *q++ = *p;
    }
    *q = '\0';
    v = tcert_escape(crlf);
    der = NULL;
    assert_int_equal(posture_http_parse_nginx_cert(v, &der, &len), 0);
    assert_der(der, len, &leaf);
    free(der);
    free(v);
    free(crlf);
}

static void expect_nginx_bad(const char *pem_text)
{
    char *v = tcert_escape(pem_text);
    uint8_t *der = (uint8_t *) 0x1;
    size_t len = 7;

    assert_int_equal(posture_http_parse_nginx_cert(v, &der, &len), -EBADMSG);
    assert_ptr_equal(der, (uint8_t *) 0x1); /* untouched on error */
    assert_int_equal(len, 7);
    free(v);
}

static void test_nginx_malformed(void **state)
{
    char buf[8192];
    uint8_t *der = NULL;
    size_t len = 0;

    (void) state;
    expect_nginx_bad("");
    expect_nginx_bad("hello");
    /* two certificates */
    (void) snprintf(buf, sizeof(buf), "%s%s", leaf.pem, other.pem);
    expect_nginx_bad(buf);
    /* trailing text after END */
    (void) snprintf(buf, sizeof(buf), "%sjunk\n", leaf.pem);
    expect_nginx_bad(buf);
    /* END line missing */
    (void) snprintf(buf, sizeof(buf), "%.*s", (int) (strlen(leaf.pem) - 27), leaf.pem);
    expect_nginx_bad(buf);
    /* a base64 character flipped to one outside the alphabet */
    (void) snprintf(buf, sizeof(buf), "%s", leaf.pem);
    buf[40] = '*';
    expect_nginx_bad(buf);
    /* a private key is not a certificate */
    expect_nginx_bad(leaf.key_pem);
    /* valid base64 of something that is not a certificate */
    expect_nginx_bad("-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n");
    /* bad percent escapes, an escaped NUL, a raw control character */
    assert_int_equal(posture_http_parse_nginx_cert("%zz", &der, &len), -EBADMSG);
    assert_int_equal(posture_http_parse_nginx_cert("abc%4", &der, &len), -EBADMSG);
    assert_int_equal(posture_http_parse_nginx_cert("%00", &der, &len), -EBADMSG);
    assert_int_equal(posture_http_parse_nginx_cert("a\tb", &der, &len), -EBADMSG);
    assert_int_equal(posture_http_parse_nginx_cert("", &der, &len), -EBADMSG);
    assert_int_equal(posture_http_parse_nginx_cert(NULL, &der, &len), -EBADMSG);
    /* too long for a header we parse */
    char *huge = malloc(POSTURE_HTTP_HEADER_MAX + 2);
    assert_non_null(huge);
    memset(huge, 'A', POSTURE_HTTP_HEADER_MAX + 1);
    huge[POSTURE_HTTP_HEADER_MAX + 1] = '\0';
    assert_int_equal(posture_http_parse_nginx_cert(huge, &der, &len), -E2BIG);
    free(huge);
}

static void test_traefik(void **state)
{
    char *b64 = tcert_base64(leaf.der, leaf.der_len);
    char *b64ca = tcert_base64(ca.der, ca.der_len);
    char *esc = tcert_escape(b64);
    char chain[8192];
    uint8_t *der = NULL;
    size_t len = 0;

    (void) state;
    /* raw and URL-escaped (url.QueryEscape) */
    assert_int_equal(posture_http_parse_traefik_cert(b64, &der, &len), 0);
    assert_der(der, len, &leaf);
    free(der);
    der = NULL;
    assert_int_equal(posture_http_parse_traefik_cert(esc, &der, &len), 0);
    assert_der(der, len, &leaf);
    free(der);
    der = NULL;
    /* a chain: the leaf comes first */
    (void) snprintf(chain, sizeof(chain), "%s,%s", b64, b64ca);
    assert_int_equal(posture_http_parse_traefik_cert(chain, &der, &len), 0);
    assert_der(der, len, &leaf);
    free(der);
    der = NULL;

    /* malformed */
    (void) snprintf(chain, sizeof(chain), "%s,", b64);
    assert_int_equal(posture_http_parse_traefik_cert(chain, &der, &len), -EBADMSG);
    (void) snprintf(chain, sizeof(chain), "%s,,%s", b64, b64ca);
    assert_int_equal(posture_http_parse_traefik_cert(chain, &der, &len), -EBADMSG);
    (void) snprintf(chain, sizeof(chain), "%.*s", (int) strlen(b64) - 1, b64);
    assert_int_equal(posture_http_parse_traefik_cert(chain, &der, &len), -EBADMSG);
    (void) snprintf(chain, sizeof(chain), "-----BEGIN CERTIFICATE-----%s", b64);
    assert_int_equal(posture_http_parse_traefik_cert(chain, &der, &len), -EBADMSG);
    assert_int_equal(posture_http_parse_traefik_cert("aGVsbG8=", &der, &len), -EBADMSG);
    assert_int_equal(posture_http_parse_traefik_cert("aGVsbG8", &der, &len), -EBADMSG);
    assert_int_equal(posture_http_parse_traefik_cert("a===", &der, &len), -EBADMSG);
    assert_int_equal(posture_http_parse_traefik_cert("aGV=bG8=", &der, &len), -EBADMSG);
    /* base64url is not base64 */
    char *url = strdup(b64);
    assert_non_null(url);
    bool changed = false;
    for (char *p = url; *p; p++) {
        if (*p == '+' || *p == '/') {
            *p = *p == '+' ? '-' : '_';
            changed = true;
        }
    }
    if (changed)
        assert_int_equal(posture_http_parse_traefik_cert(url, &der, &len), -EBADMSG);
    free(url);
    /* more than eight certificates */
    chain[0] = '\0';
    size_t off = 0;
    for (int i = 0; i < 9; i++) {
        char *b = tcert_base64(ca.der, ca.der_len);
        int n = snprintf(chain + off, sizeof(chain) - off, "%s%s", i ? "," : "", b);
        free(b);
        assert_true(n > 0 && (size_t) n < sizeof(chain) - off);
        off += (size_t) n;
    }
    assert_int_equal(posture_http_parse_traefik_cert(chain, &der, &len), -EBADMSG);
    assert_null(der);
    free(b64);
    free(b64ca);
    free(esc);
}

static void test_xfcc(void **state)
{
    char hash[65], value[8192];
    char *cert = tcert_escape(leaf.pem);
    uint8_t h[32];
    uint8_t *der = NULL;
    size_t len = 0;

    (void) state;
    tcert_hex(leaf.sha256, 32, false, hash);

    /* Envoy's SANITIZE_SET with cert and uri */
    (void) snprintf(value, sizeof(value),
                    "By=spiffe://gw.example/envoy;Hash=%s;Cert=\"%s\";"
                    "Subject=\"CN=device-1\";URI=spiffe://test.example/device/x",
                    hash, cert);
    assert_int_equal(posture_http_parse_xfcc(value, h, &der, &len), 0);
    assert_memory_equal(h, leaf.sha256, 32);
    assert_der(der, len, &leaf);
    free(der);
    der = NULL;

    /* Hash only: no certificate */
    (void) snprintf(value, sizeof(value), "Hash=%s", hash);
    assert_int_equal(posture_http_parse_xfcc(value, h, &der, &len), 0);
    assert_memory_equal(h, leaf.sha256, 32);
    assert_null(der);
    assert_int_equal(len, 0);

    /* keys are case-insensitive; URI and DNS may repeat; a quoted value may hold ; , = and \" */
    (void) snprintf(value, sizeof(value),
                    "hash=%s;uri=spiffe://a/b;URI=spiffe://c/d;DNS=a.example;DNS=b.example;"
                    "Subject=\"CN=x,O=a\\\"b;c=d\"",
                    hash);
    assert_int_equal(posture_http_parse_xfcc(value, h, &der, &len), 0);
    assert_null(der);

    /* malformed */
    static const char *const bad[] = {
        "",
        "Hash",
        "Hash=",
        "By=spiffe://x",              /* no Hash */
        "Hash=abc",                   /* short */
        "Hash=\"unterminated",        /* quote */
        "Foo=bar;Hash=%s",            /* unknown key */
        "Hash=%s;Hash=%s",            /* duplicate */
        "Hash=%s,Hash=%s",            /* two elements */
        "Hash=%s;",                   /* empty pair */
        "Hash=%s;Subject=\"a\\qb\"",  /* bad escape */
        "Hash=%s;Cert=\"not-a-pem\"", /* bad Cert */
        "Hash=%s;Subject=a\"b",       /* quote inside a bare value */
        "Hash=%s ;URI=x",             /* space */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
        (void) snprintf(value, sizeof(value), bad[i], hash, hash);
#pragma GCC diagnostic pop
        der = NULL;
        int r = posture_http_parse_xfcc(value, h, &der, &len);
        if (r != -EBADMSG)
            fail_msg("accepted: %s (%d)", value, r);
        assert_null(der);
    }
    /* upper-case hex is not Envoy's */
    char upper[65];
    tcert_hex(leaf.sha256, 32, true, upper);
    (void) snprintf(value, sizeof(value), "Hash=%s", upper);
    assert_int_equal(posture_http_parse_xfcc(value, h, &der, &len), -EBADMSG);
    /* a Cert that is not the one Hash names */
    char *other_cert = tcert_escape(other.pem);
    (void) snprintf(value, sizeof(value), "Hash=%s;Cert=\"%s\"", hash, other_cert);
    assert_int_equal(posture_http_parse_xfcc(value, h, &der, &len), -EBADMSG);
    assert_null(der);
    free(other_cert);
    free(cert);
}

static void test_fingerprint(void **state)
{
    char lower[65], upper[65], buf[80];
    uint8_t h[32];

    (void) state;
    tcert_hex(leaf.sha256, 32, false, lower);
    tcert_hex(leaf.sha256, 32, true, upper);
    assert_int_equal(posture_http_parse_fingerprint(lower, h), 0);
    assert_memory_equal(h, leaf.sha256, 32);
    memset(h, 0, sizeof(h));
    assert_int_equal(posture_http_parse_fingerprint(upper, h), 0);
    assert_memory_equal(h, leaf.sha256, 32);

    /* mixed case, wrong lengths, separators, non-hex */
    (void) snprintf(buf, sizeof(buf), "%s", lower);
    for (char *p = buf; *p; p++)
        if (*p >= 'a' && *p <= 'f') {
            *p = (char) (*p - 'a' + 'A');
            break;
        }
    if (strcmp(buf, lower) != 0 && strpbrk(buf, "abcdef"))
        assert_int_equal(posture_http_parse_fingerprint(buf, h), -EBADMSG);
    (void) snprintf(buf, sizeof(buf), "%.63s", lower);
    assert_int_equal(posture_http_parse_fingerprint(buf, h), -EBADMSG);
    (void) snprintf(buf, sizeof(buf), "%s0", lower);
    assert_int_equal(posture_http_parse_fingerprint(buf, h), -EBADMSG);
    (void) snprintf(buf, sizeof(buf), "%.2s:%.61s", lower, lower + 2);
    assert_int_equal(posture_http_parse_fingerprint(buf, h), -EBADMSG);
    (void) snprintf(buf, sizeof(buf), "g%.63s", lower + 1);
    assert_int_equal(posture_http_parse_fingerprint(buf, h), -EBADMSG);
    assert_int_equal(posture_http_parse_fingerprint("", h), -EBADMSG);
    assert_int_equal(posture_http_parse_fingerprint(NULL, h), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nginx),       cmocka_unit_test(test_nginx_malformed),
        cmocka_unit_test(test_traefik),     cmocka_unit_test(test_xfcc),
        cmocka_unit_test(test_fingerprint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
