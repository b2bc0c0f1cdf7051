/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture_http_server_set_trusted_gateways (verifier/lib/http.h), what SIGHUP does to
 * [listen] trusted_gateways: a bad list changes nothing; a new list applies to new connections
 * and to connections already open (the peer is checked again at its next request), both ways.
 * Driven over real sockets, the same keep-alive connection across the changes.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http.h"
#include "testlib.h"

static int
route_trusted(struct posture_http_request *req, struct posture_http_response *resp, void *userdata)
{
    const char *v = posture_http_request_peer_trusted(req) ? "yes" : "no";

    (void) userdata;
    return posture_http_response_set_body(resp, "text/plain", v, strlen(v));
}

static int connect_to(uint16_t port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    struct timeval tv = { .tv_sec = 10 };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    return fd;
}

/* One keep-alive request on fd; returns "yes" or "no" (the body). */
static const char *ask(int fd, char *buf, size_t size)
{
    static const char req[] = "GET /t HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t n = 0;
    char *body;

    assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t) sizeof(req) - 1);
    for (;;) {
        ssize_t k = read(fd, buf + n, size - 1 - n);
        assert_true(k > 0);
        n += (size_t) k;
        buf[n] = '\0';
        body = strstr(buf, "\r\n\r\n");
        if (body && (strcmp(body + 4, "yes") == 0 || strcmp(body + 4, "no") == 0))
            break;
        assert_true(n < size - 1);
    }
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    return body + 4;
}

static void test_set_trusted_gateways(void **state)
{
    struct posture_http_server *srv = NULL;
    char *const none[] = { NULL };
    char *const loopback[] = { (char *) "10.0.0.0/8", (char *) "127.0.0.1/32", NULL };
    char *const bad[] = { (char *) "127.0.0.1/32", (char *) "127.0.0.1/33", NULL };
    char *const other[] = { (char *) "192.0.2.0/24", NULL };
    struct posture_http_options o = { .gateways = "127.0.0.1:0", .threads = 1 };
    const struct posture_http_route route = { .path = "/t",
                                              .methods = POSTURE_HTTP_GET,
                                              .handler = route_trusted };
    struct sockaddr_storage ss;
    socklen_t len = 0;
    char buf[2048];
    uint16_t port;
    int fd, fd2;

    (void) state;
    o.trusted_gateways = none;
    assert_int_equal(posture_http_server_new(&o, &srv), 0);
    assert_int_equal(posture_http_server_add_route(srv, &route), 0);
    assert_int_equal(posture_http_server_start(srv), 0);
    assert_int_equal(posture_http_server_address(srv, POSTURE_HTTP_LISTENER_GATEWAYS, &ss, &len),
                     0);
    port = ntohs(((struct sockaddr_in *) &ss)->sin_port);

    fd = connect_to(port);
    assert_string_equal(ask(fd, buf, sizeof(buf)), "no");

    /* a bad list: refused whole, nothing changes */
    assert_int_equal(posture_http_server_set_trusted_gateways(srv, bad), -EINVAL);
    assert_int_equal(posture_http_server_set_trusted_gateways(NULL, loopback), -EINVAL);
    assert_string_equal(ask(fd, buf, sizeof(buf)), "no");

    /* added: the open connection is trusted at its next request, and a new one too */
    assert_int_equal(posture_http_server_set_trusted_gateways(srv, loopback), 0);
    assert_string_equal(ask(fd, buf, sizeof(buf)), "yes");
    fd2 = connect_to(port);
    assert_string_equal(ask(fd2, buf, sizeof(buf)), "yes");

    /* removed: both lose the trust at once */
    assert_int_equal(posture_http_server_set_trusted_gateways(srv, other), 0);
    assert_string_equal(ask(fd, buf, sizeof(buf)), "no");
    assert_string_equal(ask(fd2, buf, sizeof(buf)), "no");
    assert_int_equal(posture_http_server_set_trusted_gateways(srv, NULL), 0);
    assert_string_equal(ask(fd2, buf, sizeof(buf)), "no");

    (void) close(fd);
    (void) close(fd2);
    posture_http_server_free(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_trusted_gateways),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
