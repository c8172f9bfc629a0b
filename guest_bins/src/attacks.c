/* attacks OP ARGS... [OP ARGS...]: escape attempts against `azemu exec --root`,
 * built and run by tests/test_attacks.py (with conftest.build_probe).  Each
 * operation prints one line: "op args: ok [what]" or "op args: ENAME".
 *   read PATH            open O_RDONLY, print the first line read
 *   write PATH           open O_WRONLY, write "pwned\n"
 *   memself              write a variable of this program through /proc/self/mem, read it back
 *   fds LO HI            /proc/self/fd/N for N in LO..HI: each that opens, and its link
 *   openat2 DIR PATH RES openat2(open(DIR), PATH, O_RDONLY, RES: letters b=BENEATH
 *                        r=IN_ROOT s=NO_SYMLINKS m=NO_MAGICLINKS x=NO_XDEV), read a line
 *   opath PATH           open O_PATH (kept as "the O_PATH fd")
 *   fchdir               fchdir(the O_PATH fd)      chdir PATH      getcwd
 *   atread PATH          openat(the O_PATH fd, PATH), read a line
 *   link A B             linkat(A, B, 0)        linkfollow A B   linkat(A, B, AT_SYMLINK_FOLLOW)
 *   linkfd N B           linkat(N, "", B, AT_EMPTY_PATH) (N = -1: the O_PATH fd)
 *   exchange A B         renameat2(A, B, RENAME_EXCHANGE)
 *   connect PATH | bind PATH | sendto PATH | sendmsg PATH   AF_UNIX with a path name
 *   longpath N           bind and connect with a sun_path of N bytes, no NUL
 *   aconnect NAME | asendto NAME      AF_UNIX abstract name (stream; datagram)
 *   apair NAME           bind+listen abstract NAME; a child connects, sends; names seen
 *   autobind             bind with only the family; the name it got
 *   mknod PATH KIND      KIND: fifo chr blk          fiforw PATH   write then read a FIFO
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *ename(int e) {
    static char b[32];
    switch (e) {
    case ENOENT: return "ENOENT"; case EACCES: return "EACCES"; case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR"; case EISDIR: return "EISDIR"; case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG"; case EXDEV: return "EXDEV"; case EROFS: return "EROFS";
    case EPERM: return "EPERM"; case EINVAL: return "EINVAL"; case EBADF: return "EBADF";
    case ECONNREFUSED: return "ECONNREFUSED"; case EADDRINUSE: return "EADDRINUSE";
    case ENOTSOCK: return "ENOTSOCK"; case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ENXIO: return "ENXIO"; case ENOSYS: return "ENOSYS"; case EOPNOTSUPP: return "EOPNOTSUPP";
    default: snprintf(b, sizeof b, "E%d", e); return b;
    }
}

static int opath = -1;
static volatile long target_var = 1111;

static void line(const char *op, const char *a, const char *b, int ok, const char *extra) {
    printf("%s%s%s%s%s: %s%s%s\n", op, a ? " " : "", a ? a : "", b ? " " : "", b ? b : "",
           ok ? "ok" : ename(errno), extra && *extra ? " " : "", extra ? extra : "");
}

static void first_line(int fd, char *out, size_t n) {
    ssize_t r = read(fd, out, n - 1);
    out[r > 0 ? r : 0] = 0;
    out[strcspn(out, "\n")] = 0;
}

static socklen_t unix_addr(struct sockaddr_un *sa, const char *path, int abstract) {
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (abstract) {
        memcpy(sa->sun_path + 1, path, n);
        return offsetof(struct sockaddr_un, sun_path) + 1 + n;
    }
    memcpy(sa->sun_path, path, n);
    return offsetof(struct sockaddr_un, sun_path) + n + 1;
}

static void show_name(char *out, size_t n, struct sockaddr_un *sa, socklen_t len) {
    size_t at = 0, k = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
    at += snprintf(out + at, n - at, "len=%u name=", (unsigned)len);
    for (size_t i = 0; i < k && at + 2 < n; i++)
        out[at++] = sa->sun_path[i] ? sa->sun_path[i] : '@';
    out[at] = 0;
}

static long resolve_flags(const char *s) {
    long r = 0;
    for (; *s; s++)
        r |= *s == 'b' ? 0x08 : *s == 'r' ? 0x10 : *s == 's' ? 0x04 : *s == 'm' ? 0x02 : *s == 'x' ? 0x01 : 0;
    return r;
}

int main(int argc, char **argv) {
    int i = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (i < argc) {
        const char *op = argv[i++];
        const char *a = i < argc ? argv[i] : NULL, *b = i + 1 < argc ? argv[i + 1] : NULL;
        char buf[512] = "";
        int fd, r;
        struct sockaddr_un sa;
        socklen_t len;
        errno = 0;
        if (!strcmp(op, "read")) {
            fd = open(a, O_RDONLY);
            if (fd >= 0) { first_line(fd, buf, sizeof buf); close(fd); }
            line(op, a, NULL, fd >= 0, buf); i += 1;
        } else if (!strcmp(op, "write")) {
            fd = open(a, O_WRONLY);
            r = fd >= 0 && write(fd, "pwned\n", 6) == 6;
            line(op, a, NULL, r, NULL);
            if (fd >= 0) close(fd);
            i += 1;
        } else if (!strcmp(op, "memself")) {
            fd = open("/proc/self/mem", O_RDWR);
            long v = 2222, back = 0;
            r = fd >= 0 && pwrite(fd, &v, sizeof v, (off_t)(uintptr_t)&target_var) == sizeof v
                && pread(fd, &back, sizeof back, (off_t)(uintptr_t)&target_var) == sizeof back;
            snprintf(buf, sizeof buf, "var=%ld read=%ld", target_var, back);
            line(op, NULL, NULL, r, buf);
            if (fd >= 0) close(fd);
        } else if (!strcmp(op, "fds")) {
            for (int n = atoi(a); n <= atoi(b); n++) {
                char p[64], l[512];
                snprintf(p, sizeof p, "/proc/self/fd/%d", n);
                fd = open(p, O_RDONLY | O_NONBLOCK);
                ssize_t k = readlink(p, l, sizeof l - 1);
                l[k > 0 ? k : 0] = 0;
                if (fd >= 0 || k >= 0)
                    printf("fd %d: open=%s link=%s\n", n, fd >= 0 ? "ok" : ename(errno), l);
                if (fd >= 0) close(fd);
            }
            i += 2;
        } else if (!strcmp(op, "openat2")) {
            const char *res = i + 2 < argc ? argv[i + 2] : "";
            int dfd = open(a, O_PATH | O_DIRECTORY);
            struct { uint64_t flags, mode, resolve; } how = {O_RDONLY, 0, resolve_flags(res)};
            fd = dfd < 0 ? -1 : syscall(437, dfd, b, &how, sizeof how);
            if (fd >= 0) { first_line(fd, buf, sizeof buf); close(fd); }
            printf("openat2 %s %s %s: %s%s%s\n", a, b, res, fd >= 0 ? "ok" : ename(errno),
                   fd >= 0 ? " " : "", buf);
            if (dfd >= 0) close(dfd);
            i += 3;
        } else if (!strcmp(op, "opath")) {
            opath = open(a, O_PATH);
            line(op, a, NULL, opath >= 0, NULL); i += 1;
        } else if (!strcmp(op, "fchdir")) {
            line(op, NULL, NULL, fchdir(opath) == 0, NULL);
        } else if (!strcmp(op, "chdir")) {
            line(op, a, NULL, chdir(a) == 0, NULL); i += 1;
        } else if (!strcmp(op, "getcwd")) {
            line(op, NULL, NULL, getcwd(buf, sizeof buf) != NULL, buf);
        } else if (!strcmp(op, "atread")) {
            fd = openat(opath, a, O_RDONLY);
            if (fd >= 0) { first_line(fd, buf, sizeof buf); close(fd); }
            line(op, a, NULL, fd >= 0, buf); i += 1;
        } else if (!strcmp(op, "link") || !strcmp(op, "linkfollow")) {
            r = linkat(AT_FDCWD, a, AT_FDCWD, b, op[4] ? AT_SYMLINK_FOLLOW : 0);
            line(op, a, b, r == 0, NULL); i += 2;
        } else if (!strcmp(op, "linkfd")) {
            int n = atoi(a);
            r = linkat(n < 0 ? opath : n, "", AT_FDCWD, b, AT_EMPTY_PATH);
            line(op, a, b, r == 0, NULL); i += 2;
        } else if (!strcmp(op, "exchange")) {
            r = syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */);
            line(op, a, b, r == 0, NULL); i += 2;
        } else if (!strcmp(op, "connect") || !strcmp(op, "bind") || !strcmp(op, "aconnect")) {
            fd = socket(AF_UNIX, SOCK_STREAM, 0);
            len = unix_addr(&sa, a, op[0] == 'a');
            r = op[0] == 'b' ? bind(fd, (struct sockaddr *)&sa, len) : connect(fd, (struct sockaddr *)&sa, len);
            if (r == 0 && op[0] != 'b') {
                ssize_t k = read(fd, buf, sizeof buf - 1);          /* what a host service says */
                buf[k > 0 ? k : 0] = 0;
                buf[strcspn(buf, "\n")] = 0;
            }
            line(op, a, NULL, r == 0, buf);
            close(fd); i += 1;
        } else if (!strcmp(op, "sendto") || !strcmp(op, "sendmsg") || !strcmp(op, "asendto")) {
            fd = socket(AF_UNIX, SOCK_DGRAM, 0);
            len = unix_addr(&sa, a, op[0] == 'a');
            if (op[4] == 'm') {
                struct iovec iov = {"pwned\n", 6};
                struct msghdr m = {.msg_name = &sa, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1};
                r = sendmsg(fd, &m, 0) == 6;
            } else
                r = sendto(fd, "pwned\n", 6, 0, (struct sockaddr *)&sa, len) == 6;
            line(op, a, NULL, r, NULL);
            close(fd); i += 1;
        } else if (!strcmp(op, "longpath")) {
            int n = atoi(a);
            char big[256];
            memset(big, 0, sizeof big);
            ((struct sockaddr *)big)->sa_family = AF_UNIX;
            memset(big + 2, 'L', n);
            fd = socket(AF_UNIX, SOCK_STREAM, 0);
            r = bind(fd, (struct sockaddr *)big, 2 + n);
            printf("longpath %d: bind %s", n, r == 0 ? "ok" : ename(errno));
            close(fd);
            fd = socket(AF_UNIX, SOCK_STREAM, 0);
            r = connect(fd, (struct sockaddr *)big, 2 + n);
            printf(", connect %s\n", r == 0 ? "ok" : ename(errno));
            close(fd); i += 1;
        } else if (!strcmp(op, "apair")) {
            int s = socket(AF_UNIX, SOCK_STREAM, 0);
            len = unix_addr(&sa, a, 1);
            if (bind(s, (struct sockaddr *)&sa, len) < 0 || listen(s, 1) < 0) {
                line(op, a, NULL, 0, NULL); i += 1; continue;
            }
            struct sockaddr_un got;
            socklen_t glen = sizeof got;
            getsockname(s, (struct sockaddr *)&got, &glen);
            show_name(buf, sizeof buf, &got, glen);
            printf("apair %s: bound %s\n", a, buf);
            pid_t pid = fork();
            if (pid == 0) {
                int c = socket(AF_UNIX, SOCK_STREAM, 0);
                if (connect(c, (struct sockaddr *)&sa, len) < 0) _exit(1);
                glen = sizeof got;
                getpeername(c, (struct sockaddr *)&got, &glen);
                show_name(buf, sizeof buf, &got, glen);
                printf("apair %s: child's peer %s\n", a, buf);
                _exit(write(c, "hello\n", 6) == 6 ? 0 : 1);
            }
            glen = sizeof got;
            int c = accept(s, (struct sockaddr *)&got, &glen);
            char msg[16] = "";
            if (c >= 0) { first_line(c, msg, sizeof msg); close(c); }
            int st = 0;
            waitpid(pid, &st, 0);
            printf("apair %s: accepted %s, read %s, child %d\n", a, c >= 0 ? "ok" : ename(errno), msg,
                   WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            close(s); i += 1;
        } else if (!strcmp(op, "autobind")) {
            fd = socket(AF_UNIX, SOCK_DGRAM, 0);
            memset(&sa, 0, sizeof sa);
            sa.sun_family = AF_UNIX;
            r = bind(fd, (struct sockaddr *)&sa, sizeof(sa_family_t));
            len = sizeof sa;
            getsockname(fd, (struct sockaddr *)&sa, &len);
            show_name(buf, sizeof buf, &sa, len);
            line(op, NULL, NULL, r == 0, buf);
            close(fd);
        } else if (!strcmp(op, "mknod")) {
            mode_t kind = !strcmp(b, "fifo") ? S_IFIFO : !strcmp(b, "chr") ? S_IFCHR : S_IFBLK;
            r = mknod(a, kind | 0644, kind == S_IFIFO ? 0 : makedev(1, 3));
            line(op, a, b, r == 0, NULL); i += 2;
        } else if (!strcmp(op, "fiforw")) {
            fd = open(a, O_RDWR);
            r = fd >= 0 && write(fd, "through\n", 8) == 8;
            if (r) first_line(fd, buf, sizeof buf);
            line(op, a, NULL, r, buf);
            if (fd >= 0) close(fd);
            i += 1;
        } else {
            fprintf(stderr, "attacks: unknown op %s\n", op);
            return 2;
        }
    }
    return 0;
}
