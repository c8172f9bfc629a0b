/* reclocks: POSIX record locks and open-file-description locks between a
 * process and its children — F_GETLK shows the holder, F_SETLK fails with
 * EAGAIN, F_SETLKW waits for the unlock, closing any fd drops a process's
 * locks, exit drops them, OFD locks conflict between descriptions of one
 * process, unlocking the middle splits a range.  One line per check.
 * argv[1]: a scratch directory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static int lk(int fd, int cmd, short type, off_t start, off_t len)
{
    struct flock f = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &f) < 0 ? -errno : 0;
}

static const char *res(int r) { return r ? errno_name(-r) : "ok"; }

static void who(int fd, off_t start, off_t len, pid_t parent, const char *what)
{
    struct flock f = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    fcntl(fd, F_GETLK, &f);
    printf("%s: %s", what, f.l_type == F_UNLCK ? "unlocked" : f.l_type == F_WRLCK ? "write-locked" : "read-locked");
    if (f.l_type != F_UNLCK)
        printf(" %ld+%ld by %s", (long)f.l_start, (long)f.l_len, f.l_pid == parent ? "the parent" : "another");
    printf("\n");
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/locked", argv[1]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "0123456789abcdefghij", 20);
    pid_t me = getpid();
    printf("parent write-locks 0..9: %s\n", res(lk(fd, F_SETLK, F_WRLCK, 0, 10)));
    printf("parent read-locks 15..: %s\n", res(lk(fd, F_SETLK, F_RDLCK, 15, 0)));
    printf("own lock does not conflict: %s\n", res(lk(fd, F_SETLK, F_RDLCK, 5, 2)));
    printf("read lock on a write-only fd: %s\n", res(lk(open(path, O_WRONLY), F_SETLK, F_RDLCK, 0, 1)));
    int go[2], done[2];
    pipe(go);
    pipe(done);
    pid_t c = fork();
    if (c == 0) {
        int cfd = open(path, O_RDWR);
        char x;
        who(cfd, 0, 0, me, "child sees 0..");
        who(cfd, 3, 1, me, "child sees 3");
        who(cfd, 12, 1, me, "child sees 12");
        printf("child write-lock 8..11: %s\n", res(lk(cfd, F_SETLK, F_WRLCK, 8, 4)));
        printf("child read-lock 16: %s\n", res(lk(cfd, F_SETLK, F_RDLCK, 16, 1)));
        printf("child write-lock 16: %s\n", res(lk(cfd, F_SETLK, F_WRLCK, 16, 1)));
        write(done[1], "r", 1);
        read(go[0], &x, 1);
        double t = now();
        int r = lk(cfd, F_SETLKW, F_WRLCK, 0, 5);
        printf("child waited for 0..4: %s, %s\n", res(r), now() - t > 0.1 ? "after the unlock" : "at once");
        who(open(path, O_RDONLY), 0, 0, me, "child's other fd sees its own lock as");
        _exit(0);
    }
    char x;
    read(done[0], &x, 1);
    write(go[1], "g", 1);
    usleep(300000);
    printf("parent unlocks 2..6 (splitting 0..9): %s\n", res(lk(fd, F_SETLK, F_UNLCK, 2, 5)));
    usleep(300000);
    int r = lk(fd, F_SETLK, F_UNLCK, 0, 2);
    waitpid(c, NULL, 0);
    printf("parent unlocked 0..1: %s\n", res(r));
    who(fd, 0, 5, me, "after the child's exit, 0..4");
    printf("parent write-locks 0..4 again: %s\n", res(lk(fd, F_SETLK, F_WRLCK, 0, 5)));
    c = fork();
    if (c == 0) {
        int cfd = open(path, O_RDWR);
        printf("child: 0..4 %s\n", res(lk(cfd, F_SETLK, F_WRLCK, 0, 5)));
        write(done[1], "r", 1);
        read(go[0], &x, 1);
        printf("child after the parent closed another fd: %s\n", res(lk(cfd, F_SETLK, F_WRLCK, 0, 5)));
        _exit(0);
    }
    read(done[0], &x, 1);
    int other = open(path, O_RDONLY);
    close(other);                                 /* drops every lock the parent holds on it */
    write(go[1], "g", 1);
    waitpid(c, NULL, 0);
    int a = open(path, O_RDWR), b = open(path, O_RDWR);
    printf("OFD lock on a: %s\n", res(lk(a, F_OFD_SETLK, F_WRLCK, 0, 5)));
    printf("OFD lock on b, same process: %s\n", res(lk(b, F_OFD_SETLK, F_WRLCK, 0, 5)));
    int d = dup(a);
    close(a);
    printf("after closing one of two fds, still held: %s\n", res(lk(b, F_OFD_SETLK, F_WRLCK, 0, 5)));
    close(d);
    printf("after the last: %s\n", res(lk(b, F_OFD_SETLK, F_WRLCK, 0, 5)));
    struct flock bad = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1, .l_pid = 1};
    printf("OFD lock with a pid: %s\n", fcntl(b, F_OFD_SETLK, &bad) < 0 ? errno_name(errno) : "ok");
    printf("done\n");
    return 0;
}
