/* harness_gw.c - gateway: a hung upstream, waits on /system/health. */
#define _DEFAULT_SOURCE
#include "harness.h"

#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

int h_listen_loopback(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

cJSON *h_gw_service(const cJSON *health, const char *svc)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(health, "services"),
                                            svc);
}

/* One look at svc in the gateway's /system/health: in state, and with
 * err also a non-empty last_error (copied into err when there is one). */
static bool gw_look(int port, const char *svc, const char *state, char *err, size_t errlen)
{
    cJSON *j = h_http_get_json(port, "/system/health", NULL);
    const cJSON *s = h_gw_service(j, svc);
    const char *st = h_jstr(s, "state"), *le = h_jstr(s, "last_error");
    bool ok = st && strcmp(st, state) == 0 && (!err || (le && *le));

    if (err && le)
        snprintf(err, errlen, "%s", le);
    cJSON_Delete(j);
    return ok;
}

static bool gw_wait(int port, const char *svc, const char *state, char *err, size_t errlen,
                    long ms)
{
    long end = h_now_ms() + ms;

    if (err)
        err[0] = '\0';
    while (h_now_ms() < end) {
        if (gw_look(port, svc, state, err, errlen))
            return true;
        h_sleep_ms(50);
    }
    return false;
}

bool h_gw_state_is(int port, const char *svc, const char *state)
{
    return gw_look(port, svc, state, NULL, 0);
}

bool h_gw_wait_state(int port, const char *svc, const char *state, long ms)
{
    return gw_wait(port, svc, state, NULL, 0, ms);
}

bool h_gw_wait_error(int port, const char *svc, const char *state, char *err, size_t errlen,
                     long ms)
{
    return gw_wait(port, svc, state, err, errlen, ms);
}
