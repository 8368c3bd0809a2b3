/*
 * The reference for bench/run.sh (SPEC §9): a bare libmicrohttpd server,
 * epoll with a 2-thread pool, answering every request 200 with one fixed
 * application/json body. Whatever a service adds costs throughput against it.
 *
 *   bare_server PORT SIZE     body: a JSON object padded to SIZE bytes
 *   bare_server PORT @FILE    body: the contents of FILE
 *
 * PORT 0 picks a free port. Prints "listening port N" once serving; SIGINT or
 * SIGTERM stops it.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#define BODY_MAX (64u * 1024u * 1024u)

static struct MHD_Response *response;
static int request_marker; /* any non-NULL *con_cls */

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    /*
     * Answer on the second call, once the request is complete, as a real
     * handler does: queued on the first, MHD 0.9.75 closes the connection
     * after the response (no keep-alive), which would make this reference slow.
     */
    if (*con_cls == NULL) {
        *con_cls = &request_marker;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* a request body is discarded */
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, response);
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

/* A JSON object of exactly len bytes: {"pad":"xxx…"}; len >= 10. */
static char *make_body(size_t len)
{
    static const char head[] = "{\"pad\":\"";
    char *b = malloc(len);

    if (!b)
        return NULL;
    memcpy(b, head, sizeof(head) - 1);
    memset(b + sizeof(head) - 1, 'x', len - (sizeof(head) - 1) - 2);
    b[len - 2] = '"';
    b[len - 1] = '}';
    return b;
}

static char *read_body(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t n;

    if (!f)
        return NULL;
    b = malloc(BODY_MAX);
    if (b) {
        n = fread(b, 1, BODY_MAX, f);
        if (ferror(f) || n == BODY_MAX) {
            free(b);
            b = NULL;
        } else {
            *len = n;
        }
    }
    fclose(f);
    return b;
}

int main(int argc, char **argv)
{
    unsigned long port, size;
    struct sockaddr_in addr;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    sigset_t set;
    char *body;
    size_t len = 0;
    int sig;

    if (argc != 3 || parse_ulong(argv[1], 65535, &port) != 0) {
        fprintf(stderr, "usage: %s PORT SIZE|@FILE\n", argv[0]);
        return 2;
    }
    if (argv[2][0] == '@') {
        body = read_body(argv[2] + 1, &len);
        if (!body) {
            fprintf(stderr, "bare_server: cannot read %s\n", argv[2] + 1);
            return 2;
        }
    } else {
        if (parse_ulong(argv[2], BODY_MAX, &size) != 0 || size < 10) {
            fprintf(stderr, "bare_server: SIZE must be 10..%u\n", BODY_MAX);
            return 2;
        }
        len = size;
        body = make_body(len);
        if (!body)
            return 1;
    }

    /* Made once, PERSISTENT: MHD never copies or frees it (0.9.75 has no _static). */
    response = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    if (!response ||
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json; charset=utf-8") != MHD_YES) {
        fprintf(stderr, "bare_server: cannot create the response\n");
        return 1;
    }

    /* Blocked before MHD starts its threads, so only sigwait() sees them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
                         (uint16_t)port, NULL, NULL, answer, NULL,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)2,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4096,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
                         MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bare_server: cannot listen on 127.0.0.1:%lu\n", port);
        return 1;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening port %u body %zu\n", info ? (unsigned)info->port : (unsigned)port, len);
    fflush(stdout);

    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(response);
    free(body);
    return 0;
}
