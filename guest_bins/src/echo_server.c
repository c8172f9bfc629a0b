/* echo_server PORT [COUNT]: a TCP echo server on 127.0.0.1:PORT (0 = pick one).
 * Prints "listening on PORT" (flushed), then serves COUNT clients (default 1) one
 * after another: echoes everything until EOF and prints the byte count.  The first
 * client is taken with accept4(SOCK_CLOEXEC), the others with accept; getpeername
 * is checked once.  Every blocking step is bounded by 10 s (poll, SO_RCVTIMEO,
 * SO_SNDTIMEO).  Any failure prints one line and exits 1. */
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
#include <sys/time.h>
#include <unistd.h>

#define TIMEOUT_S 10

static void die(const char *what)
{
    printf("echo_server: %s: %s\n", what, strerror(errno));
    fflush(stdout);
    exit(1);
}

static void fail(const char *msg)
{
    printf("echo_server: %s\n", msg);
    fflush(stdout);
    exit(1);
}

static long parse_num(const char *s, long lo, long hi, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        printf("echo_server: bad %s: %s\n", what, s);
        exit(1);
    }
    return v;
}

static void set_timeouts(int fd)
{
    struct timeval tv = { .tv_sec = TIMEOUT_S, .tv_usec = 0 };
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        die("setsockopt(SO_RCVTIMEO)");
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
        die("setsockopt(SO_SNDTIMEO)");
}

static void write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                fail("timeout writing to the client");
            die("write");
        }
        buf += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        printf("usage: echo_server PORT [COUNT]\n");
        return 1;
    }
    long port = parse_num(argv[1], 0, 65535, "port");
    long count = argc > 2 ? parse_num(argv[2], 1, 1000000, "count") : 1;

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
    if (melen != sizeof me || me.sin_family != AF_INET)
        fail("getsockname returned an unexpected address");
    printf("listening on %u\n", (unsigned)ntohs(me.sin_port));
    fflush(stdout);

    static char buf[65536];
    for (long n = 1; n <= count; n++) {
        struct pollfd p = { .fd = ls, .events = POLLIN, .revents = 0 };
        int r;
        do
            r = poll(&p, 1, TIMEOUT_S * 1000);
        while (r < 0 && errno == EINTR);
        if (r < 0)
            die("poll");
        if (r == 0)
            fail("timeout waiting for a client");
        if (!(p.revents & POLLIN))
            fail("poll: listening socket not readable");

        int c;
        if (n == 1) {
            c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0)
                die("accept4");
            int fl = fcntl(c, F_GETFD);
            if (fl < 0)
                die("fcntl(F_GETFD)");
            printf("client 1: close-on-exec: %s\n", (fl & FD_CLOEXEC) ? "yes" : "no");
            struct sockaddr_in peer;
            socklen_t plen = sizeof peer;
            if (getpeername(c, (struct sockaddr *)&peer, &plen) < 0)
                die("getpeername");
            int lo = plen == sizeof peer && peer.sin_family == AF_INET &&
                     peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
            printf("peer is loopback: %s\n", lo ? "yes" : "no");
        } else {
            c = accept(ls, NULL, NULL);
            if (c < 0)
                die("accept");
        }
        set_timeouts(c);

        unsigned long total = 0;
        for (;;) {
            ssize_t got = read(c, buf, sizeof buf);
            if (got == 0)
                break;
            if (got < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    fail("timeout reading from the client");
                die("read");
            }
            write_all(c, buf, (size_t)got);
            total += (unsigned long)got;
        }
        if (close(c) < 0)
            die("close");
        printf("client %ld: %lu bytes echoed\n", n, total);
        fflush(stdout);
    }
    close(ls);
    return 0;
}
