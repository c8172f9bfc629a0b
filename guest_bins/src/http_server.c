/* http_server PORT ROOTDIR [COUNT]: a tiny HTTP/1.0 file server on 127.0.0.1:PORT
 * (0 = pick one).  Prints "listening on PORT" (flushed), then serves COUNT
 * connections (default 1) one after another: reads the request head (up to
 * "\r\n\r\n", at most 8 KiB), answers "GET /path HTTP/1.x" with ROOTDIR/path
 * (200), 404 if it cannot be opened or is not a regular file, 403 if the path
 * contains "..", 400 for anything else, and prints one line per request.
 * Every blocking step is bounded by 10 s.  Any failure prints one line and
 * exits 1. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define TIMEOUT_S 10
#define HEAD_MAX  8192

static void die(const char *what)
{
    printf("http_server: %s: %s\n", what, strerror(errno));
    fflush(stdout);
    exit(1);
}

static void fail(const char *msg)
{
    printf("http_server: %s\n", msg);
    fflush(stdout);
    exit(1);
}

static long parse_num(const char *s, long lo, long hi, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        printf("http_server: bad %s: %s\n", what, s);
        exit(1);
    }
    return v;
}

/* Writes all of buf; returns 0, or -1 if the client went away (EPIPE,
 * ECONNRESET), which only ends this connection.  Other errors are fatal. */
static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE || errno == ECONNRESET)
                return -1;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                fail("timeout writing to the client");
            die("write");
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static void reply_empty(int c, const char *status)
{
    char head[128];
    int n = snprintf(head, sizeof head, "HTTP/1.0 %s\r\nContent-Length: 0\r\n\r\n", status);
    write_all(c, head, (size_t)n);
}

/* Reads the request head into buf (NUL-terminated).  Returns its length up to
 * and including "\r\n\r\n", or -1 if the client closed the connection first or
 * the head is longer than HEAD_MAX. */
static long read_head(int c, char *buf)
{
    size_t len = 0;
    for (;;) {
        if (len >= HEAD_MAX)
            return -1;
        ssize_t n = read(c, buf + len, HEAD_MAX - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                fail("timeout reading the request");
            if (errno == ECONNRESET)
                return -1;
            die("read");
        }
        if (n == 0)
            return -1;
        /* Search from 3 bytes before the new data: the terminator may straddle reads. */
        size_t from = len >= 3 ? len - 3 : 0;
        len += (size_t)n;
        buf[len] = '\0';
        char *t = strstr(buf + from, "\r\n\r\n");
        if (t)
            return (long)(t + 4 - buf);
    }
}

static void serve(int c, const char *root)
{
    static char head[HEAD_MAX + 1];
    long hl = read_head(c, head);
    if (hl < 0) {
        reply_empty(c, "400 Bad Request");
        printf("bad request: 400\n");
        return;
    }
    /* Request line: "GET /path HTTP/1.x" */
    char *eol = strstr(head, "\r\n");
    *eol = '\0';
    char *sp1 = strchr(head, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || strchr(sp2 + 1, ' ') || (size_t)(sp1 - head) != 3 ||
        memcmp(head, "GET", 3) != 0 || sp1[1] != '/' ||
        strlen(sp2 + 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        sp2[8] < '0' || sp2[8] > '9') {
        reply_empty(c, "400 Bad Request");
        printf("bad request: 400\n");
        return;
    }
    *sp2 = '\0';
    const char *path = sp1 + 1;
    if (strstr(path, "..")) {
        reply_empty(c, "403 Forbidden");
        printf("served %s: 403\n", path);
        return;
    }

    size_t plen = strlen(root) + strlen(path) + 1;
    char *full = malloc(plen);
    if (!full)
        fail("out of memory");
    snprintf(full, plen, "%s%s", root, path);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    free(full);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        reply_empty(c, "404 Not Found");
        printf("served %s: 404\n", path);
        return;
    }

    char hdr[256];
    int hn = snprintf(hdr, sizeof hdr,
                      "HTTP/1.0 200 OK\r\nContent-Length: %lld\r\n"
                      "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                      (long long)st.st_size);
    unsigned long long sent = 0;
    if (write_all(c, hdr, (size_t)hn) == 0) {
        static char buf[65536];
        for (;;) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                die("read (file)");
            }
            if (n == 0)
                break;
            if (write_all(c, buf, (size_t)n) < 0)
                break;
            sent += (unsigned long long)n;
        }
    }
    close(fd);
    if (sent != (unsigned long long)st.st_size)
        printf("served %s: 200 %llu of %lld bytes\n", path, sent, (long long)st.st_size);
    else
        printf("served %s: 200 %llu bytes\n", path, sent);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        printf("usage: http_server PORT ROOTDIR [COUNT]\n");
        return 1;
    }
    long port = parse_num(argv[1], 0, 65535, "port");
    const char *root = argv[2];
    long count = argc > 3 ? parse_num(argv[3], 1, 1000000, "count") : 1;

    signal(SIGPIPE, SIG_IGN);   /* a vanished client gives EPIPE, not a signal */

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0)
        die("socket");
    int one = 1;
    if (setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        die("setsockopt(SO_REUSEADDR)");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind");
    if (listen(ls, 8) < 0)
        die("listen");
    struct sockaddr_in me;
    socklen_t melen = sizeof me;
    if (getsockname(ls, (struct sockaddr *)&me, &melen) < 0)
        die("getsockname");
    printf("listening on %u\n", (unsigned)ntohs(me.sin_port));
    fflush(stdout);

    for (long i = 0; i < count; i++) {
        struct pollfd p = { .fd = ls, .events = POLLIN, .revents = 0 };
        int r;
        do
            r = poll(&p, 1, TIMEOUT_S * 1000);
        while (r < 0 && errno == EINTR);
        if (r < 0)
            die("poll");
        if (r == 0)
            fail("timeout waiting for a client");
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            die("accept");
        struct timeval tv = { .tv_sec = TIMEOUT_S, .tv_usec = 0 };
        if (setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
            die("setsockopt(SO_RCVTIMEO)");
        if (setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
            die("setsockopt(SO_SNDTIMEO)");
        serve(c, root);
        /* Send our FIN before closing, so the reply is not cut off by a reset. */
        shutdown(c, SHUT_WR);
        if (close(c) < 0)
            die("close");
        fflush(stdout);
    }
    close(ls);
    return 0;
}
