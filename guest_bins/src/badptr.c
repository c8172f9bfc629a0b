/* badptr: the kernel must reject bad user pointers (EFAULT) and bad
 * arguments (EBADF, EINVAL, ...).  Every call is a raw syscall(), so libc
 * cannot check or rewrite the arguments.  Prints one line per check:
 * "name: ret=R errno=NAME" (errno=0 when the call succeeded). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

/* Evaluate a raw syscall with errno cleared and print its result. */
#define CHECK(name, call)                                                     \
    do {                                                                      \
        errno = 0;                                                            \
        long r_ = (call);                                                     \
        int e_ = r_ < 0 ? errno : 0;                                          \
        printf("%s: ret=%ld errno=%s\n", name, r_, errno_name(e_));           \
    } while (0)

static char longpath[5001];

int main(int argc, char **argv)
{
    (void)argc;
    char buf[64];
    int pfd[2];

    CHECK("write(1, (void*)1, 5)", syscall(SYS_write, 1, (void *)1, 5));

    /* /dev/null would return 0 without touching the buffer: use a pipe
     * that has data in it so the kernel must copy to the bad address. */
    if (pipe(pfd) != 0) {
        printf("pipe failed\n");
        return 1;
    }
    syscall(SYS_write, pfd[1], "hello", 5);
    CHECK("read(pipe, (void*)16, 5)", syscall(SYS_read, pfd[0], (void *)16, 5));
    CHECK("read(pipe, buf, 5) after fault", syscall(SYS_read, pfd[0], buf, 5));
    close(pfd[0]);
    close(pfd[1]);

    CHECK("open((char*)1, O_RDONLY)", syscall(SYS_open, (char *)1, O_RDONLY));
    CHECK("stat(\"/\", (void*)8)", syscall(SYS_stat, "/", (void *)8));
    CHECK("clock_gettime(CLOCK_MONOTONIC, (void*)8)",
          syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)8));
    CHECK("uname((void*)8)", syscall(SYS_uname, (void *)8));
    CHECK("write(1, buf, 0)", syscall(SYS_write, 1, buf, 0));

    /* A write whose source buffer runs off the end of the mapping into an
     * unmapped page.  The mprotect check on the hole is done right away,
     * with raw syscalls only, so nothing (malloc in stdio) can map it. */
    long page = sysconf(_SC_PAGESIZE);
    char *m = (char *)syscall(SYS_mmap, NULL, 2 * page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == (char *)-1) {
        printf("mmap failed\n");
        return 1;
    }
    memcpy(m + page - 3, "xyz", 3);
    long r_unmap = syscall(SYS_munmap, m + page, page);
    if (pipe(pfd) != 0) {
        printf("pipe failed\n");
        return 1;
    }
    errno = 0;
    long r_cross = syscall(SYS_write, pfd[1], m + page - 3, 10);
    int e_cross = r_cross < 0 ? errno : 0;
    errno = 0;
    long r_mprot = syscall(SYS_mprotect, m + page, page, PROT_READ);
    int e_mprot = r_mprot < 0 ? errno : 0;
    printf("munmap(second page): ret=%ld\n", r_unmap);
    printf("write(pipe, page_end-3, 10): ret=%ld errno=%s\n", r_cross, errno_name(e_cross));
    close(pfd[1]);
    long got = syscall(SYS_read, pfd[0], buf, sizeof buf);
    printf("pipe then holds %ld bytes: \"%.*s\"\n", got, got > 0 ? (int)got : 0, buf);
    close(pfd[0]);
    printf("mprotect(unmapped page, PROT_READ): ret=%ld errno=%s\n", r_mprot,
           errno_name(e_mprot));

    CHECK("readv(0, (void*)8, 1)", syscall(SYS_readv, 0, (void *)8, 1));
    CHECK("close(-1)", syscall(SYS_close, -1));
    CHECK("close(12345)", syscall(SYS_close, 12345));
    CHECK("read(999, buf, 5)", syscall(SYS_read, 999, buf, 5));

    if (pipe(pfd) != 0) {
        printf("pipe failed\n");
        return 1;
    }
    CHECK("lseek(pipe, 0, SEEK_SET)", syscall(SYS_lseek, pfd[0], 0, SEEK_SET));
    close(pfd[0]);
    close(pfd[1]);

    CHECK("mmap(len=0)", syscall(SYS_mmap, NULL, 0, PROT_READ,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    CHECK("munmap(unaligned)", syscall(SYS_munmap, m + 1, page - 1));
    syscall(SYS_munmap, m, page);

    int fd = (int)syscall(SYS_open, argv[0], O_RDONLY);
    if (fd < 0) {
        printf("open(argv[0]) failed: %s\n", errno_name(errno));
    } else {
        CHECK("getdents64(regular file)", syscall(SYS_getdents64, fd, buf, sizeof buf));
        close(fd);
    }

    CHECK("open(\"\")", syscall(SYS_open, "", O_RDONLY));
    memset(longpath, 'a', sizeof longpath - 1);
    CHECK("open(5000 x 'a')", syscall(SYS_open, longpath, O_RDONLY));
    CHECK("dup2(0, -1)", syscall(SYS_dup2, 0, -1));
    CHECK("fcntl(0, 9999)", syscall(SYS_fcntl, 0, 9999));
    return 0;
}
