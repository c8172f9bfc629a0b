/* fdpass: file descriptors passed over a Unix socket (SCM_RIGHTS) between a
 * parent and its child — a pipe's write end and an open file travel, the
 * receiver uses them, MSG_CMSG_CLOEXEC marks them, a truncated control
 * buffer sets MSG_CTRUNC, and a closed fd cannot be sent (EBADF). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int send_fds(int sock, const int *fds, int n)
{
    char data = 'x';
    struct iovec iov = {&data, 1};
    char ctl[CMSG_SPACE(4 * 4)];
    memset(ctl, 0, sizeof ctl);
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = CMSG_SPACE(4 * n);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(4 * n);
    memcpy(CMSG_DATA(c), fds, 4 * n);
    return (int)sendmsg(sock, &m, 0);
}

static int recv_fds(int sock, int *fds, int max, int flags, size_t room, int *mflags)
{
    char data;
    struct iovec iov = {&data, 1};
    char ctl[CMSG_SPACE(4 * 4)];
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = room;
    if (recvmsg(sock, &m, flags) < 0)
        return -1;
    *mflags = m.msg_flags;
    int n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / 4 && n < max; i++)
                memcpy(&fds[n++], CMSG_DATA(c) + 4 * i, 4);
    return n;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2 || chdir(argv[1]))
        return 2;
    int sv[2], p[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pipe(p);
    int file = open("passed", O_RDWR | O_CREAT | O_TRUNC, 0644);
    pid_t kid = fork();
    if (kid == 0) {
        int got[4], mf;
        int n = recv_fds(sv[1], got, 4, MSG_CMSG_CLOEXEC, CMSG_SPACE(4 * 4), &mf);
        printf("child received %d fds, close-on-exec: %s\n", n,
               n > 0 && fcntl(got[0], F_GETFD) & FD_CLOEXEC ? "yes" : "no");
        if (n == 2) {
            write(got[0], "through the pipe", 16);
            write(got[1], "into the file", 13);
        }
        _exit(0);
    }
    int two[2] = {p[1], file};
    int sent = send_fds(sv[0], two, 2);
    waitpid(kid, NULL, 0);                       /* (the child's line first, always) */
    printf("send 2 fds: %d\n", sent);
    char buf[32] = {0};
    read(p[0], buf, sizeof buf - 1);
    printf("parent reads its pipe: %s\n", buf);
    memset(buf, 0, sizeof buf);
    pread(file, buf, sizeof buf - 1, 0);
    printf("the file holds: %s\n", buf);

    int three[3] = {p[0], p[1], file}, got[4], mf;
    send_fds(sv[0], three, 3);
    int n = recv_fds(sv[1], got, 4, 0, CMSG_SPACE(4), &mf);
    printf("received into room for one: %d fd(s), MSG_CTRUNC: %s\n", n, mf & MSG_CTRUNC ? "yes" : "no");
    int closed = 99;
    printf("send a closed fd: %s\n", send_fds(sv[0], &closed, 1) < 0 ? strerror(errno) : "sent");
    printf("done\n");
    return 0;
}
