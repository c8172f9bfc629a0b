/* resolve DIR: openat2 and its RESOLVE_* flags, run in DIR (made there: a
 * directory d with sub/f, a file top beside it, and links in d: rel ->
 * sub/f, abs -> /etc/hostname, up -> ../top).  Each check prints the call's
 * outcome: RESOLVE_BENEATH and RESOLVE_IN_ROOT keep the walk under d,
 * RESOLVE_NO_SYMLINKS / NO_MAGICLINKS refuse links, RESOLVE_NO_XDEV refuses
 * to cross into /proc; open_how's size and unknown bits are checked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
struct open_how { unsigned long long flags, mode, resolve; };
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10
#define RESOLVE_CACHED 0x20
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
static const char *r(long v) { return v < 0 ? strerror(errno) : "ok"; }
static long oa2(int dfd, const char *p, unsigned long flags, unsigned long res) {
    struct open_how h = {.flags = flags, .mode = 0, .resolve = res};
    long fd = syscall(SYS_openat2, dfd, p, &h, sizeof h);
    if (fd >= 0) close(fd);
    return fd;
}
int main(int argc, char **argv) {
    if (argc < 2 || chdir(argv[1])) {
        fprintf(stderr, "usage: resolve DIR\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    mkdir("d", 0755); mkdir("d/sub", 0755);
    close(open("d/sub/f", O_CREAT | O_WRONLY, 0644));
    close(open("top", O_CREAT | O_WRONLY, 0644));
    symlink("sub/f", "d/rel"); symlink("/etc/hostname", "d/abs"); symlink("../top", "d/up");
    int d = open("d", O_RDONLY | O_DIRECTORY);
    printf("plain: %s\n", r(oa2(d, "sub/f", O_RDONLY, 0)));
    printf("beneath sub/f: %s\n", r(oa2(d, "sub/f", O_RDONLY, RESOLVE_BENEATH)));
    printf("beneath ../top: %s\n", r(oa2(d, "../top", O_RDONLY, RESOLVE_BENEATH)));
    printf("beneath absolute: %s\n", r(oa2(d, "/etc/hostname", O_RDONLY, RESOLVE_BENEATH)));
    printf("beneath rel link: %s\n", r(oa2(d, "rel", O_RDONLY, RESOLVE_BENEATH)));
    printf("beneath up link: %s\n", r(oa2(d, "up", O_RDONLY, RESOLVE_BENEATH)));
    printf("beneath abs link: %s\n", r(oa2(d, "abs", O_RDONLY, RESOLVE_BENEATH)));
    printf("in_root /sub/f: %s\n", r(oa2(d, "/sub/f", O_RDONLY, RESOLVE_IN_ROOT)));
    printf("in_root ../../sub/f: %s\n", r(oa2(d, "../../sub/f", O_RDONLY, RESOLVE_IN_ROOT)));
    printf("in_root up link: %s\n", r(oa2(d, "up", O_RDONLY, RESOLVE_IN_ROOT)));
    printf("no_symlinks rel: %s\n", r(oa2(d, "rel", O_RDONLY, RESOLVE_NO_SYMLINKS)));
    printf("no_symlinks nofollow path: %s\n", r(oa2(d, "rel", O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS)));
    printf("no_magiclinks /proc/self/status: %s\n", r(oa2(AT_FDCWD, "/proc/self/status", O_RDONLY, RESOLVE_NO_MAGICLINKS)));
    printf("no_magiclinks /proc/self/fd/0: %s\n", r(oa2(AT_FDCWD, "/proc/self/fd/0", O_RDONLY, RESOLVE_NO_MAGICLINKS)));
    printf("no_symlinks /proc/self/status: %s\n", r(oa2(AT_FDCWD, "/proc/self/status", O_RDONLY, RESOLVE_NO_SYMLINKS)));
    printf("no_xdev /proc/self/status: %s\n", r(oa2(AT_FDCWD, "/proc/self/status", O_RDONLY, RESOLVE_NO_XDEV)));
    printf("no_xdev sub/f: %s\n", r(oa2(d, "sub/f", O_RDONLY, RESOLVE_NO_XDEV)));
    printf("beneath|in_root: %s\n", r(oa2(d, "sub/f", O_RDONLY, RESOLVE_BENEATH | RESOLVE_IN_ROOT)));
    printf("unknown resolve: %s\n", r(oa2(d, "sub/f", O_RDONLY, 0x40)));
    printf("unknown flag: %s\n", r(oa2(d, "sub/f", O_RDONLY | (1UL << 40), 0)));
    struct open_how h = {.flags = O_RDONLY, .mode = 0644};
    printf("mode without O_CREAT: %s\n", r(syscall(SYS_openat2, d, "sub/f", &h, sizeof h)));
    printf("small size: %s\n", r(syscall(SYS_openat2, d, "sub/f", &h, 16)));
    char big[64] = {0}; big[40] = 1;
    printf("big size nonzero tail: %s\n", r(syscall(SYS_openat2, d, "sub/f", big, 64)));
    struct open_how c = {.flags = O_CREAT | O_WRONLY, .mode = 0600, .resolve = RESOLVE_BENEATH};
    long fd = syscall(SYS_openat2, d, "new", &c, sizeof c);
    printf("create beneath: %s\n", r(fd));
    struct stat sb; fstat(fd, &sb); printf("mode %o\n", sb.st_mode & 0777); close(fd);
    printf("cached: %s\n", r(oa2(d, "sub/f", O_RDONLY, RESOLVE_CACHED)));
    return 0;
}
