/* mm_semantics [FILE]: Linux memory semantics, one line per check, the same
 * natively and under azemu.  Faults are caught by a SA_SIGINFO handler that
 * records the signal, si_code and where si_addr lies, then jumps back.
 * FILE (default /tmp/mm_semantics.dat) is created, used and removed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf back;
static volatile int got_sig, got_code;
static volatile long got_off;
static char *expect_base;

static void on_fault(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got_sig = sig;
    got_code = si->si_code;
    got_off = (char *)si->si_addr - expect_base;
    siglongjmp(back, 1);
}

static const char *code_name(int sig, int code) {
    if (sig == SIGSEGV && code == SEGV_MAPERR) return "SEGV_MAPERR";
    if (sig == SIGSEGV && code == SEGV_ACCERR) return "SEGV_ACCERR";
    if (sig == SIGBUS && code == BUS_ADRERR) return "BUS_ADRERR";
    return "other";
}

enum { READ, WRITE, EXEC };

/* Touch base+off as `how`; report what happened. */
static void probe(const char *what, char *base, long off, int how) {
    got_sig = 0;
    expect_base = base;
    if (sigsetjmp(back, 1) == 0) {
        volatile char *p = base + off;
        if (how == READ) {
            char c = *p;
            (void)c;
        } else if (how == WRITE) {
            *p = 1;
        } else {
            ((void (*)(void))(base + off))();
        }
        printf("%s: no fault\n", what);
    } else {
        printf("%s: %s %s at +%ld\n", what, got_sig == SIGSEGV ? "SIGSEGV" : got_sig == SIGBUS ? "SIGBUS" : "?",
               code_name(got_sig, got_code), got_off);
    }
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/tmp/mm_semantics.dat";
    long pg = sysconf(_SC_PAGESIZE);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    /* protections really fault, with the right si_code */
    char *a = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    a[0] = 'x';
    a[pg] = 0xc3;                                   /* ret */
    mprotect(a, pg, PROT_NONE);
    probe("read PROT_NONE", a, 8, READ);
    probe("write PROT_NONE", a, 8, WRITE);
    mprotect(a, pg, PROT_READ);
    probe("read read-only", a, 8, READ);
    probe("write read-only", a, 8, WRITE);
    probe("execute no-exec", a, pg, EXEC);
    munmap(a + 2 * pg, pg);
    probe("read unmapped", a, 2 * pg + 16, READ);
    mprotect(a, pg, PROT_READ | PROT_WRITE);
    printf("contents kept across PROT_NONE: %s\n", a[0] == 'x' ? "yes" : "no");

    /* reservations cost nothing until touched */
    char *big = mmap(NULL, 1L << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    printf("1 GiB PROT_NONE NORESERVE: %s\n", big == MAP_FAILED ? "failed" : "ok");
    probe("read inside the reservation", big, 12345 * pg, READ);
    if (mprotect(big + 64 * pg, 4 * pg, PROT_READ | PROT_WRITE) == 0) {
        big[64 * pg + 1] = 7;
        printf("part made writable and written: %d\n", big[64 * pg + 1]);
    }
    unsigned char vec[4];
    mincore(big + 64 * pg, 4 * pg, vec);
    printf("mincore of it: %d %d %d %d\n", vec[0] & 1, vec[1] & 1, vec[2] & 1, vec[3] & 1);
    munmap(big, 1L << 30);

    /* madvise(DONTNEED) zeroes private anonymous memory */
    char *z = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(z, 'z', 2 * pg);
    madvise(z, pg, MADV_DONTNEED);
    printf("after MADV_DONTNEED: first page %d, second page %c\n", z[10], z[pg + 10]);

    /* mremap grows in place or moves, keeping contents */
    char *r = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(r, "remapped");
    mmap(r + pg, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);   /* block growth in place */
    char *r2 = mremap(r, pg, 4 * pg, MREMAP_MAYMOVE);
    printf("mremap moved: %s, contents: %s, new part zero: %s\n", r2 != r ? "yes" : "no", r2,
           r2[3 * pg] == 0 ? "yes" : "no");
    r2[3 * pg] = 1;

    /* shared anonymous and /dev/zero mappings */
    char *sh = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    printf("shared anonymous: %s\n", sh == MAP_FAILED ? "failed" : (sh[5] == 0 && (sh[5] = 3) ? "zero, writable" : "?"));
    int zfd = open("/dev/zero", O_RDWR);
    char *dz = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, zfd, 0);
    printf("MAP_SHARED /dev/zero: %s\n", dz == MAP_FAILED ? "failed" : (dz[pg] == 0 && (dz[pg] = 4) ? "zero, writable" : "?"));
    /* mremap of old size 0: a second view of a shared mapping only */
    char *view = mremap(sh, 0, pg, MREMAP_MAYMOVE);
    printf("mremap(0) of shared: %s\n", view == MAP_FAILED ? strerror(errno) :
           view != sh && view[5] == 3 && (view[6] = 7) && sh[6] == 7 ? "a second view" : "?");
    errno = 0;
    printf("mremap(0) of private: %s\n", mremap(r2, 0, pg, MREMAP_MAYMOVE) == MAP_FAILED ? strerror(errno) : "mapped");
    errno = 0;
    printf("mremap(0) without MAYMOVE: %s\n", mremap(sh, 0, pg, 0) == MAP_FAILED ? strerror(errno) : "mapped");
    char *gone = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gone, pg);
    errno = 0;
    printf("mremap(0) of nothing: %s\n", mremap(gone, 0, pg, MREMAP_MAYMOVE) == MAP_FAILED ? strerror(errno) : "mapped");
    char *dp = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, zfd, 0);
    printf("MAP_PRIVATE /dev/zero: %s\n", dp == MAP_FAILED ? "failed" : (dp[0] == 0 ? "zero" : "?"));
    close(zfd);

    /* a file mapping past end-of-file */
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (write(fd, "hello", 5) != 5) return 1;
    char *f = mmap(NULL, 3 * pg, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("file page: %.5s, rest of the page zero: %s\n", f, f[100] == 0 ? "yes" : "no");
    probe("read past EOF", f, pg + 10, READ);
    probe("read past EOF, third page", f, 2 * pg, READ);
    printf("msync: %d\n", msync(f, pg, MS_SYNC));
    munmap(f, 3 * pg);

    /* MAP_PRIVATE file mappings: the file's pages until written, then a copy */
    if (ftruncate(fd, 2 * pg) != 0 || pwrite(fd, "first", 5, 0) != 5 || pwrite(fd, "second", 6, pg) != 6)
        return 1;
    char *p1 = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    char *p2 = mmap(NULL, 2 * pg, PROT_READ, MAP_PRIVATE, fd, 0);
    char back[8] = {0};
    p1[0] = 'F';
    if (pread(fd, back, 5, 0) != 5) return 1;
    printf("private store: mapping %.5s, file %.5s, other private mapping %.5s\n", p1, back, p2);
    printf("untouched page before pwrite: %.6s\n", p1 + pg);
    if (pwrite(fd, "SECOND", 6, pg) != 6 || pwrite(fd, "FIRST", 5, 0) != 5) return 1;
    printf("after pwrite: read page %.6s, written page %.5s, other mapping %.5s\n", p1 + pg, p1, p2);
    fflush(stdout);
    pid_t kid = fork();
    if (kid == 0) {
        printf("child sees the private store: %.5s\n", p1);
        p1[1] = 'x';
        fflush(stdout);
        _exit(0);
    }
    waitpid(kid, NULL, 0);
    printf("child's store stayed its own: %.5s\n", p1);
    munmap(p1, 2 * pg);
    munmap(p2, 2 * pg);

    /* MAP_SHARED file mappings: one set of pages with the file */
    if (ftruncate(fd, 2 * pg) != 0) return 1;
    char *s1 = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *s2 = mmap(NULL, pg, PROT_READ, MAP_SHARED, fd, pg);        /* the second page only */
    int fd2 = open(path, O_RDWR);
    if (pwrite(fd2, "PWRITE", 6, pg + 8) != 6) return 1;
    printf("mapping sees a later pwrite: %.6s, other mapping: %.6s\n", s1 + pg + 8, s2 + 8);
    strcpy(s1 + 16, "stored");
    char buf[16] = {0};
    if (pread(fd2, buf, 6, 16) != 6) return 1;
    printf("pread sees a store through the mapping (no msync): %.6s\n", buf);
    strcpy(s1 + pg + 100, "second");
    printf("other mapping sees the store: %.6s\n", s2 + 100);
    lseek(fd2, 200, SEEK_SET);
    if (write(fd2, "WRITE", 5) != 5) return 1;
    printf("mapping sees write(): %.5s\n", s1 + 200);
    struct iovec v[2] = {{"ab", 2}, {"cd", 2}};
    if (pwritev(fd2, v, 2, pg + 300) != 4) return 1;
    printf("mapping sees pwritev: %.4s\n", s2 + 300);
    s1[50] = 'Q';
    lseek(fd2, 48, SEEK_SET);
    if (read(fd2, buf, 4) != 4) return 1;
    printf("read sees the store: %.4s\n", buf + 2);
    memcpy(s1 + 400, "at unmap", 8);
    munmap(s1, 2 * pg);
    if (pread(fd2, buf, 8, 400) != 8) return 1;
    printf("store written back by munmap: %.8s\n", buf);
    munmap(s2, pg);
    char *s3 = mmap(NULL, 3 * pg, PROT_READ, MAP_SHARED, fd, 0);
    probe("shared mapping past EOF", s3, 2 * pg + 1, READ);
    printf("shared mapping again: %.6s %.6s\n", s3 + 16, s3 + pg + 8);
    munmap(s3, 3 * pg);
    int rfd = open(path, O_RDONLY);
    char *ro = mmap(NULL, pg, PROT_READ, MAP_SHARED, rfd, 0);
    errno = 0;
    int rc = mprotect(ro, pg, PROT_READ | PROT_WRITE);
    printf("mprotect(PROT_WRITE) of a shared mapping of a read-only fd: %d %s\n", rc,
           errno == EACCES ? "EACCES" : "?");
    probe("store into it", ro, 0, WRITE);
    munmap(ro, pg);
    close(rfd);
    close(fd2);
    close(fd);
    unlink(path);
    printf("done\n");
    return 0;
}
