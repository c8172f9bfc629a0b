/* echo_client PORT [MESSAGE...]: connects to an echo server on 127.0.0.1:PORT,
 * sends the message line (arguments joined by spaces plus "\n", default
 * "hello from the guest") and a 100,000-byte pattern (bytes i*7 mod 251): the
 * first half with sendmsg (two iovecs), the rest with send and sendto.  Then
 * shutdown(SHUT_WR), receives everything back until EOF with recv, recvfrom and
 * recvmsg (select() before the first receive, epoll_wait before the others),
 * and checks it equals what was sent.  Every blocking step is bounded by 10 s.
 * Any failure prints one line and exits 1. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#define TIMEOUT_S   10
#define PATTERN_LEN 100000

static void die(const char *what)
{
    printf("echo_client: %s: %s\n", what, strerror(errno));
    fflush(stdout);
    exit(1);
}

static void fail(const char *msg)
{
    printf("echo_client: %s\n", msg);
    fflush(stdout);
    exit(1);
}

static void check_send_error(const char *what)
{
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        fail("timeout sending to the server");
    die(what);
}

/* Sends n bytes with send() (use_sendto == 0) or sendto() with no address. */
static void send_all(int fd, const char *p, size_t n, int use_sendto)
{
    while (n > 0) {
        ssize_t w = use_sendto ? sendto(fd, p, n, 0, NULL, 0) : send(fd, p, n, 0);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            check_send_error(use_sendto ? "sendto" : "send");
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Sends a and b with sendmsg (two iovecs), continuing after partial sends. */
static void sendmsg_all(int fd, char *a, size_t alen, char *b, size_t blen)
{
    struct iovec iov[2] = { { a, alen }, { b, blen } };
    struct iovec *v = iov;
    int cnt = 2;
    while (cnt > 0) {
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = v;
        mh.msg_iovlen = (size_t)cnt;
        ssize_t w = sendmsg(fd, &mh, 0);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            check_send_error("sendmsg");
        }
        size_t left = (size_t)w;
        while (cnt > 0 && left >= v->iov_len) {
            left -= v->iov_len;
            v++;
            cnt--;
        }
        if (cnt > 0) {
            v->iov_base = (char *)v->iov_base + left;
            v->iov_len -= left;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: echo_client PORT [MESSAGE...]\n");
        return 1;
    }
    char *end;
    errno = 0;
    long port = strtol(argv[1], &end, 10);
    if (errno || end == argv[1] || *end || port < 1 || port > 65535) {
        printf("echo_client: bad port: %s\n", argv[1]);
        return 1;
    }

    /* The message line. */
    size_t mlen = 0;
    for (int i = 2; i < argc; i++)
        mlen += strlen(argv[i]) + 1;
    const char *deflt = "hello from the guest";
    if (argc == 2)
        mlen = strlen(deflt) + 1;
    char *msg = malloc(mlen + 1);
    if (!msg)
        fail("out of memory");
    if (argc == 2) {
        strcpy(msg, deflt);
    } else {
        msg[0] = '\0';
        for (int i = 2; i < argc; i++) {
            if (i > 2)
                strcat(msg, " ");
            strcat(msg, argv[i]);
        }
    }
    strcat(msg, "\n");

    /* Everything sent, in order: the message line, then the pattern. */
    size_t total = mlen + PATTERN_LEN;
    char *out = malloc(total);
    char *in = malloc(total + 1);        /* + 1: room to notice extra bytes */
    if (!out || !in)
        fail("out of memory");
    memcpy(out, msg, mlen);
    for (size_t i = 0; i < PATTERN_LEN; i++)
        out[mlen + i] = (char)((i * 7) % 251);

    signal(SIGPIPE, SIG_IGN);

    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        die("socket");
    int type = 0;
    socklen_t tlen = sizeof type;
    if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
        die("getsockopt(SO_TYPE)");
    printf("SO_TYPE is SOCK_STREAM: %s\n", type == SOCK_STREAM ? "yes" : "no");
    int one = 1;
    if (setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        die("setsockopt(TCP_NODELAY)");
    int nodelay = 0;
    socklen_t nlen = sizeof nodelay;
    if (getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &nodelay, &nlen) < 0)
        die("getsockopt(TCP_NODELAY)");
    printf("TCP_NODELAY is set: %s\n", nodelay ? "yes" : "no");
    /* A receive buffer larger than everything echoed back, so the server can
     * never block on us while we are still sending. */
    int rcvbuf = 256 * 1024;
    if (setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
        die("setsockopt(SO_RCVBUF)");
    struct timeval tv = { .tv_sec = TIMEOUT_S, .tv_usec = 0 };
    if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        die("setsockopt(SO_RCVTIMEO)");
    if (setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)   /* also bounds connect */
        die("setsockopt(SO_SNDTIMEO)");

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno == EINPROGRESS || errno == EAGAIN)
            fail("timeout connecting to the server");
        die("connect");
    }

    /* Message line with send, pattern: half with sendmsg (two iovecs), then a
     * quarter with send and a quarter with sendto. */
    send_all(s, out, mlen, 0);
    char *pat = out + mlen;
    sendmsg_all(s, pat, PATTERN_LEN / 4, pat + PATTERN_LEN / 4, PATTERN_LEN / 4);
    send_all(s, pat + PATTERN_LEN / 2, PATTERN_LEN / 4, 0);
    send_all(s, pat + 3 * (PATTERN_LEN / 4), PATTERN_LEN - 3 * (PATTERN_LEN / 4), 1);
    if (shutdown(s, SHUT_WR) < 0)
        die("shutdown");

    /* select() once, before the first receive. */
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(s, &rd);
    struct timeval stv = { .tv_sec = TIMEOUT_S, .tv_usec = 0 };
    int r;
    do
        r = select(s + 1, &rd, NULL, NULL, &stv);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        die("select");
    if (r == 0 || !FD_ISSET(s, &rd))
        fail("timeout waiting for the echo (select)");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = s;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0)
        die("epoll_ctl(ADD)");

    /* Receive until EOF, rotating recv, recvfrom and recvmsg; every receive
     * after the first waits with epoll_wait first. */
    size_t got = 0;
    int calls[3] = { 0, 0, 0 };
    for (unsigned k = 0;; k++) {
        if (k > 0) {
            struct epoll_event evs[1];
            int e;
            do
                e = epoll_wait(ep, evs, 1, TIMEOUT_S * 1000);
            while (e < 0 && errno == EINTR);
            if (e < 0)
                die("epoll_wait");
            if (e == 0)
                fail("timeout waiting for the echo (epoll_wait)");
            if (evs[0].data.fd != s || !(evs[0].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                fail("epoll_wait returned an unexpected event");
        }
        char *dst = in + got;
        size_t room = total + 1 - got;
        if (room > 8192)
            room = 8192;      /* several receives, so each call is used */
        ssize_t n;
        int which = (int)(k % 3);
        if (which == 0) {
            n = recv(s, dst, room, 0);
        } else if (which == 1) {
            n = recvfrom(s, dst, room, 0, NULL, NULL);
        } else {
            size_t h = room / 2;
            struct iovec iov[2] = { { dst, h }, { dst + h, room - h } };
            struct msghdr mh;
            memset(&mh, 0, sizeof mh);
            mh.msg_iov = iov;
            mh.msg_iovlen = 2;
            n = recvmsg(s, &mh, 0);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                fail("timeout receiving the echo");
            die(which == 0 ? "recv" : which == 1 ? "recvfrom" : "recvmsg");
        }
        calls[which]++;
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > total)
            fail("received more bytes than were sent");
    }
    close(ep);
    close(s);

    int match = got == total && memcmp(in, out, total) == 0;
    printf("sent %zu bytes, received %zu bytes, match: %s\n", total, got, match ? "yes" : "no");
    if (!match)
        return 1;
    if (!calls[0] || !calls[1] || !calls[2])
        fail("recv, recvfrom and recvmsg were not all used");
    printf("echoed: %.*s", (int)mlen, in);
    return 0;
}
