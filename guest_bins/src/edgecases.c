/* edgecases DIR: syscall edge cases found in a code review of azemu's
 * syscall handlers, compared byte-for-byte between a native run and a run
 * under azemu.  DIR must be an existing, empty directory; every file the
 * program creates is created there.
 *
 * One line per check: "name: ret=R errno=NAME" (errno=0 on success, names
 * from the program's own table) or "name: yes/no" / "name: VALUE".  Nothing
 * printed depends on addresses, pids, fd numbers, times or the filesystem's
 * directory cookies, so the output is the same for the glibc and musl builds
 * and on any x86-64 Linux with 4- or 5-level paging.  Calls whose behaviour
 * libc could hide or rewrite are made with raw syscall(). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Constants that older headers (or musl) may lack. */
#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef PROT_SEM
#define PROT_SEM 0x8
#endif
#ifndef PROT_GROWSDOWN
#define PROT_GROWSDOWN 0x01000000
#endif
#ifndef PROT_GROWSUP
#define PROT_GROWSUP 0x02000000
#endif
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif
#ifndef GRND_RANDOM
#define GRND_RANDOM 0x2
#endif
#ifndef GRND_INSECURE
#define GRND_INSECURE 0x4
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef UTIME_NOW
#define UTIME_NOW ((1L << 30) - 1L)
#endif
#ifndef UTIME_OMIT
#define UTIME_OMIT ((1L << 30) - 2L)
#endif
#define PR_SET_PDEATHSIG_ 1
#define PR_GET_PDEATHSIG_ 2
#define PR_SET_NAME_ 15
#define PR_GET_NAME_ 16
#define ARCH_GET_CPUID_ 0x1011
#define NR_faccessat2 439

#define PAGE 4096L
/* Above the user address space with 4-level (47-bit) and with 5-level
 * (56-bit) paging alike, so the native result does not depend on the CPU. */
#define BEYOND_USER (1UL << 56)

#include "errname.h"

static const char *yesno(int b) { return b ? "yes" : "no"; }

/* Evaluate a call with errno cleared and print its result. */
#define CHECK(name, call)                                                     \
    do {                                                                      \
        errno = 0;                                                            \
        long r_ = (long)(call);                                               \
        int e_ = r_ < 0 ? errno : 0;                                          \
        printf("%s: ret=%ld errno=%s\n", name, r_, errno_name(e_));           \
    } while (0)

/* For calls that return an address on success: print "addr", not the value. */
static void show_addr(const char *name, long r, int e)
{
    if (r == -1)
        printf("%s: ret=-1 errno=%s\n", name, errno_name(e));
    else
        printf("%s: ret=addr errno=0\n", name);
}

static void fact(const char *name, int b) { printf("%s: %s\n", name, yesno(b)); }

static long sc_errno;        /* errno of the last rawcall() */
static long rawcall(long n, long a, long b, long c, long d, long e, long f)
{
    errno = 0;
    long r = syscall(n, a, b, c, d, e, f);
    sc_errno = r < 0 ? errno : 0;
    return r;
}

static char *map_anon(long len)
{
    return (char *)syscall(SYS_mmap, 0L, len, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1L, 0L);
}

static int dirfd_;           /* DIR, opened O_DIRECTORY */
static char base[PATH_MAX];  /* getcwd() inside DIR */

static int make_file(const char *name, const char *data, size_t len)
{
    int fd = (int)syscall(SYS_openat, dirfd_, name, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd >= 0 && len)
        syscall(SYS_write, fd, data, len);
    return fd;
}

/* getcwd() relative to DIR ("DIR/..." or the full path if outside). */
static void print_cwd(const char *name)
{
    char cwd[PATH_MAX];
    size_t bl = strlen(base);
    if (!getcwd(cwd, sizeof cwd)) {
        printf("%s: getcwd failed errno=%s\n", name, errno_name(errno));
        return;
    }
    if (strncmp(cwd, base, bl) == 0 && (cwd[bl] == 0 || cwd[bl] == '/'))
        printf("%s: DIR%s\n", name, cwd + bl);
    else
        printf("%s: outside DIR\n", name);
}

/* ---------------------------------------------------------------- prctl */
static void test_prctl(void)
{
    char *big = malloc(10000);
    memset(big, 'A', 9999);
    big[9999] = 0;
    CHECK("prctl(PR_SET_NAME, 10000-byte string)",
          syscall(SYS_prctl, PR_SET_NAME_, big, 0L, 0L, 0L));
    char name[32];
    memset(name, 'x', sizeof name);
    CHECK("prctl(PR_GET_NAME)", syscall(SYS_prctl, PR_GET_NAME_, name, 0L, 0L, 0L));
    printf("PR_GET_NAME: strlen=%zu name=%.16s bytes after 16 untouched=%s\n",
           strnlen(name, 16), name, yesno(name[16] == 'x'));
    free(big);

    /* 16 non-NUL bytes that end right at an unmapped page: the kernel only
     * reads 15 of them. */
    char *m = map_anon(2 * PAGE);
    syscall(SYS_munmap, m + PAGE, PAGE);
    memset(m + PAGE - 16, 'B', 16);
    CHECK("prctl(PR_SET_NAME, 16 bytes before unmapped page)",
          syscall(SYS_prctl, PR_SET_NAME_, m + PAGE - 16, 0L, 0L, 0L));
    memset(name, 0, sizeof name);
    syscall(SYS_prctl, PR_GET_NAME_, name, 0L, 0L, 0L);
    printf("PR_GET_NAME: name=%.16s\n", name);
    syscall(SYS_munmap, m, PAGE);

    CHECK("prctl(PR_SET_PDEATHSIG, 0x100000001)",
          syscall(SYS_prctl, PR_SET_PDEATHSIG_, 0x100000001L, 0L, 0L, 0L));
    int sig = -1;
    CHECK("prctl(PR_GET_PDEATHSIG)", syscall(SYS_prctl, PR_GET_PDEATHSIG_, &sig, 0L, 0L, 0L));
    printf("PR_GET_PDEATHSIG: %d\n", sig);
    CHECK("arch_prctl(ARCH_GET_CPUID)", syscall(SYS_arch_prctl, ARCH_GET_CPUID_, 0L));
}

/* ------------------------------------------------------ utimensat, stat */
static void print_times(const char *name, const char *file)
{
    struct stat st;
    long r = rawcall(SYS_newfstatat, dirfd_, (long)file, (long)&st, 0, 0, 0);
    if (r != 0) {
        printf("%s: stat failed errno=%s\n", name, errno_name((int)sc_errno));
        return;
    }
    printf("%s: atime tv_sec=%lld tv_nsec=%ld, mtime tv_sec=%lld tv_nsec=%ld\n", name,
           (long long)st.st_atim.tv_sec, (long)st.st_atim.tv_nsec,
           (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
}

static void test_utimensat(void)
{
    close(make_file("ut.txt", "", 0));
    struct timespec ts[2];

    ts[0] = (struct timespec){5, 1000000000L};
    ts[1] = (struct timespec){0, 0};
    CHECK("utimensat(atime.tv_nsec=1000000000)",
          syscall(SYS_utimensat, dirfd_, "ut.txt", ts, 0L));
    ts[0] = (struct timespec){0, 0};
    ts[1] = (struct timespec){5, -1L};
    CHECK("utimensat(mtime.tv_nsec=-1)", syscall(SYS_utimensat, dirfd_, "ut.txt", ts, 0L));

    ts[0] = (struct timespec){1000, 0};
    ts[1] = (struct timespec){2000, 0};
    CHECK("utimensat(1000, 2000)", syscall(SYS_utimensat, dirfd_, "ut.txt", ts, 0L));
    print_times("times", "ut.txt");

    /* With UTIME_OMIT the tv_sec field is ignored, even when absurd. */
    ts[0] = (struct timespec){-123456789, UTIME_OMIT};
    ts[1] = (struct timespec){0x7fffffffffffffffL, UTIME_OMIT};
    CHECK("utimensat(UTIME_OMIT, UTIME_OMIT)", syscall(SYS_utimensat, dirfd_, "ut.txt", ts, 0L));
    print_times("times", "ut.txt");

    struct timespec t0, t1;
    struct stat st;
    clock_gettime(CLOCK_REALTIME, &t0);
    ts[0] = (struct timespec){77, UTIME_NOW};
    ts[1] = (struct timespec){77, UTIME_OMIT};
    CHECK("utimensat(UTIME_NOW, UTIME_OMIT)", syscall(SYS_utimensat, dirfd_, "ut.txt", ts, 0L));
    clock_gettime(CLOCK_REALTIME, &t1);
    syscall(SYS_newfstatat, dirfd_, "ut.txt", &st, 0L);
    printf("atime is now: %s, mtime tv_sec=%lld tv_nsec=%ld\n",
           yesno(st.st_atim.tv_sec >= t0.tv_sec - 1 && st.st_atim.tv_sec <= t1.tv_sec + 1),
           (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);

    clock_gettime(CLOCK_REALTIME, &t0);
    ts[0] = (struct timespec){3000, 5};
    ts[1] = (struct timespec){-1, UTIME_NOW};
    CHECK("utimensat(3000.000000005, UTIME_NOW)", syscall(SYS_utimensat, dirfd_, "ut.txt", ts, 0L));
    clock_gettime(CLOCK_REALTIME, &t1);
    syscall(SYS_newfstatat, dirfd_, "ut.txt", &st, 0L);
    printf("atime tv_sec=%lld tv_nsec=%ld, mtime is now: %s\n",
           (long long)st.st_atim.tv_sec, (long)st.st_atim.tv_nsec,
           yesno(st.st_mtim.tv_sec >= t0.tv_sec - 1 && st.st_mtim.tv_sec <= t1.tv_sec + 1));

    /* Sub-second and negative times must survive exactly (no float). */
    close(make_file("ts.txt", "", 0));
    ts[0] = ts[1] = (struct timespec){1700000000, 999999900L};   /* 1700000000.9999999 */
    CHECK("utimensat(1700000000.9999999)", syscall(SYS_utimensat, dirfd_, "ts.txt", ts, 0L));
    print_times("stat", "ts.txt");
    ts[0] = ts[1] = (struct timespec){-2, 500000000L};            /* -1.5 s */
    CHECK("utimensat(-1.5)", syscall(SYS_utimensat, dirfd_, "ts.txt", ts, 0L));
    print_times("stat", "ts.txt");
    int fd = (int)syscall(SYS_openat, dirfd_, "ts.txt", O_RDONLY);
    long r = rawcall(SYS_fstat, fd, (long)&st, 0, 0, 0, 0);
    printf("fstat: ret=%ld mtime tv_sec=%lld tv_nsec=%ld\n", r,
           (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    close(fd);
}

/* --------------------------------------------------------------- mremap */
static void test_mremap(void)
{
    char *m = map_anon(PAGE);
    m[0] = 7;
    CHECK("mremap(MAYMOVE|FIXED, new_addr=1<<56)",
          syscall(SYS_mremap, m, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, BEYOND_USER));
    CHECK("mremap(MAYMOVE|FIXED, new_addr=-4096, new_len=8192)",
          syscall(SYS_mremap, m, PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, -PAGE));
    fact("mapping intact after failed mremap", m[0] == 7);

    char *o = map_anon(2 * PAGE);
    o[0] = 1;
    o[PAGE] = 2;
    CHECK("mremap(MAYMOVE|FIXED, overlapping old/new)",
          syscall(SYS_mremap, o, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, o + PAGE));
    fact("mapping intact after overlapping mremap", o[0] == 1 && o[PAGE] == 2);
    syscall(SYS_munmap, o, 2 * PAGE);

    long r = rawcall(SYS_mremap, (long)m, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0, 0);
    show_addr("mremap(MAYMOVE|DONTUNMAP)", r, (int)sc_errno);
    if (r != -1) {
        char *n = (char *)r;
        printf("DONTUNMAP: moved=%s new[0]=%d old[0]=%d\n", yesno(n != m), n[0], m[0]);
        CHECK("mprotect(old range after DONTUNMAP)",
              syscall(SYS_mprotect, m, PAGE, PROT_READ));
        CHECK("mremap(DONTUNMAP without MAYMOVE)",
              syscall(SYS_mremap, n, PAGE, PAGE, MREMAP_DONTUNMAP, 0L));
        CHECK("mremap(MAYMOVE|DONTUNMAP, old_len != new_len)",
              syscall(SYS_mremap, n, PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0L));
        syscall(SYS_munmap, n, PAGE);
    }
    syscall(SYS_munmap, m, PAGE);
}

/* ------------------------------------------- read/pread past a mapping */
static void test_bigread(void)
{
    char *m = map_anon(2 * PAGE);
    syscall(SYS_munmap, m + PAGE, PAGE);        /* 4 KiB, then a hole */
    int fd = make_file("three.txt", "abc", 3);
    syscall(SYS_lseek, fd, 0L, SEEK_SET);
    CHECK("read(3-byte file, 4 KiB mapping, 1 MiB)", syscall(SYS_read, fd, m, 1L << 20));
    memset(m, 0, 8);
    CHECK("pread(3-byte file, 4 KiB mapping, 1 MiB, 0)",
          syscall(SYS_pread64, fd, m, 1L << 20, 0L));
    printf("data: %s\n", m);
    close(fd);
    int p[2];
    pipe(p);
    syscall(SYS_write, p[1], "hello", 5);
    CHECK("read(pipe with 5 bytes, 4 KiB mapping, 1 MiB)", syscall(SYS_read, p[0], m, 1L << 20));
    close(p[0]);
    close(p[1]);
    syscall(SYS_munmap, m, PAGE);
}

/* ----------------------------------------------------- brk, big write */
static void test_brk(void)
{
    /* Raw brk only, and no libc call that could allocate until the break
     * is back where libc left it. */
    unsigned long start = (unsigned long)syscall(SYS_brk, 0L), cur = start;
    int steps = 0;
    for (int i = 0; i < 1100; i++) {
        unsigned long want = cur + PAGE;
        if ((unsigned long)syscall(SYS_brk, want) != want)
            break;
        cur = want;
        steps++;
    }
    memset((void *)start, 'h', cur - start);
    int fd = (int)syscall(SYS_openat, dirfd_, "heap.bin", O_CREAT | O_RDWR | O_TRUNC, 0644);
    long w = rawcall(SYS_write, fd, (long)start, (long)(cur - start), 0, 0, 0);
    int we = (int)sc_errno;
    unsigned long back = (unsigned long)syscall(SYS_brk, start);

    printf("brk growth steps of 4096: %d\n", steps);
    printf("write(heap region of %lu bytes): ret=%ld errno=%s\n", cur - start, w, errno_name(we));
    printf("brk restored: %s\n", yesno(back == start));
    struct stat st;
    syscall(SYS_fstat, fd, &st);
    char last[2] = {0, 0};
    syscall(SYS_pread64, fd, last, 1L, (long)st.st_size - 1);
    printf("heap.bin: size=%lld last byte=%s\n", (long long)st.st_size, last);
    close(fd);
}

/* -------------------------------------------------------------- signals */
static volatile sig_atomic_t rr_count, rr_depth, rr_maxdepth;

static void rr_handler(int sig)
{
    (void)sig;
    rr_depth++;
    if (rr_depth > rr_maxdepth)
        rr_maxdepth = rr_depth;
    rr_count++;
    if (rr_count == 1)
        syscall(SYS_kill, syscall(SYS_getpid), SIGUSR1);   /* pending until return */
    rr_depth--;
}

static char altstk[65536];

static void test_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = rr_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGUSR1, &sa, NULL);
    syscall(SYS_kill, syscall(SYS_getpid), SIGUSR1);
    printf("SIGUSR1 handler that re-raises: count=%d max nesting=%d\n",
           (int)rr_count, (int)rr_maxdepth);
    signal(SIGUSR1, SIG_DFL);

    stack_t ss, old;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = altstk;
    ss.ss_size = sizeof altstk;
    ss.ss_flags = (int)SS_AUTODISARM;
    CHECK("sigaltstack(SS_AUTODISARM)", syscall(SYS_sigaltstack, &ss, NULL));
    memset(&old, 0, sizeof old);
    CHECK("sigaltstack(query)", syscall(SYS_sigaltstack, NULL, &old));
    printf("sigaltstack: ss_flags=%#x size ok=%s\n", (unsigned)old.ss_flags,
           yesno(old.ss_size == sizeof altstk && old.ss_sp == altstk));
    ss.ss_flags = 4;
    CHECK("sigaltstack(ss_flags=4)", syscall(SYS_sigaltstack, &ss, NULL));
    ss.ss_flags = SS_DISABLE;
    CHECK("sigaltstack(SS_DISABLE)", syscall(SYS_sigaltstack, &ss, NULL));

    CHECK("rt_sigaction(SIGUSR1, sigsetsize=16)",
          syscall(SYS_rt_sigaction, SIGUSR1, NULL, NULL, 16L));
}

/* ------------------------------------------------------ files and fds */
static void test_getfl(void)
{
    int fd = (int)syscall(SYS_openat, dirfd_, "getfl.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    long fl = syscall(SYS_fcntl, fd, F_GETFL);
    const char *acc = (fl & O_ACCMODE) == O_RDONLY ? "O_RDONLY"
                    : (fl & O_ACCMODE) == O_WRONLY ? "O_WRONLY"
                    : (fl & O_ACCMODE) == O_RDWR ? "O_RDWR" : "other";
    printf("F_GETFL after open(O_CREAT|O_WRONLY|O_TRUNC): accmode=%s O_CREAT=%s O_TRUNC=%s O_EXCL=%s\n",
           acc, yesno(fl & O_CREAT), yesno(fl & O_TRUNC), yesno(fl & O_EXCL));
    close(fd);
}

static void test_chdir(void)
{
    syscall(SYS_mkdirat, dirfd_, "a", 0755);
    syscall(SYS_mkdirat, dirfd_, "a/b", 0755);
    syscall(SYS_symlinkat, "a/b", dirfd_, "lnk");
    CHECK("chdir(\"lnk\") (symlink to a/b)", syscall(SYS_chdir, "lnk"));
    print_cwd("getcwd");
    CHECK("chdir(\"..\")", syscall(SYS_chdir, ".."));
    print_cwd("getcwd");
    CHECK("chdir(\"../lnk/..\")", syscall(SYS_chdir, "../lnk/.."));
    print_cwd("getcwd");
    syscall(SYS_chdir, base);
    print_cwd("getcwd back");
}

static void test_procfd(void)
{
    int fd = make_file("procfd_target.txt", "x", 1);
    char path[64], buf[PATH_MAX];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    memset(buf, 0, sizeof buf);
    long r = rawcall(SYS_readlink, (long)path, (long)buf, sizeof buf - 1, 0, 0, 0);
    const char *slash = strrchr(buf, '/');
    size_t bl = strlen(base);
    printf("readlink(/proc/self/fd/N): ok=%s basename=%s in DIR=%s\n",
           yesno(r > 0), slash ? slash + 1 : buf,
           yesno(slash && (size_t)(slash - buf) == bl && strncmp(buf, base, bl) == 0));
    close(fd);
}

static void test_sendfile(void)
{
    char src[100];
    memset(src, 's', sizeof src);
    int fd = make_file("sendsrc.txt", src, sizeof src);
    syscall(SYS_lseek, fd, 0L, SEEK_SET);

    int full[2], empty[2];
    pipe2(full, O_NONBLOCK);
    pipe(empty);
    static char chunk[4096];
    while (syscall(SYS_write, full[1], chunk, sizeof chunk) > 0)
        ;
    CHECK("write(full non-blocking pipe, 1)", syscall(SYS_write, full[1], chunk, 1L));
    CHECK("sendfile(full non-blocking pipe, file, NULL, 100)",
          syscall(SYS_sendfile, full[1], fd, NULL, 100L));
    CHECK("lseek(file, 0, SEEK_CUR) after EAGAIN", syscall(SYS_lseek, fd, 0L, SEEK_CUR));
    long off = 0;
    CHECK("sendfile(full non-blocking pipe, file, &off=0, 100)",
          syscall(SYS_sendfile, full[1], fd, &off, 100L));
    printf("off after EAGAIN: %ld\n", off);

    CHECK("sendfile(empty pipe, file, NULL, 40)", syscall(SYS_sendfile, empty[1], fd, NULL, 40L));
    CHECK("lseek(file, 0, SEEK_CUR)", syscall(SYS_lseek, fd, 0L, SEEK_CUR));
    off = 10;
    CHECK("sendfile(empty pipe, file, &off=10, 20)", syscall(SYS_sendfile, empty[1], fd, &off, 20L));
    printf("off: %ld\n", off);
    CHECK("lseek(file, 0, SEEK_CUR) after sendfile with &off", syscall(SYS_lseek, fd, 0L, SEEK_CUR));
    int n = -1;
    CHECK("ioctl(pipe, FIONREAD)", syscall(SYS_ioctl, empty[0], FIONREAD, &n));
    printf("FIONREAD: %d\n", n);
    close(full[0]);
    close(full[1]);
    close(empty[0]);
    close(empty[1]);
    close(fd);

    int p[2];
    pipe(p);
    syscall(SYS_write, p[1], "12345", 5L);
    n = -1;
    CHECK("ioctl(pipe holding 5 bytes, FIONREAD)", syscall(SYS_ioctl, p[0], FIONREAD, &n));
    printf("FIONREAD: %d\n", n);
    struct iovec iov[1];
    CHECK("readv(pipe, iov, 0)", syscall(SYS_readv, p[0], iov, 0L));
    CHECK("dup3(fd, fd, 0)", syscall(SYS_dup3, p[0], p[0], 0L));
    close(p[0]);
    close(p[1]);
}

#define FILL_CAP 1100
static int fill_fds[FILL_CAP];

static void test_emfile(void)
{
    close(make_file("fill.txt", "", 0));
    struct rlimit old, lim;
    getrlimit(RLIMIT_NOFILE, &old);
    lim = old;
    /* The table must fill up within FILL_CAP opens whatever the inherited
     * limit: lowering the soft limit needs no privilege. */
    if (lim.rlim_max == RLIM_INFINITY || lim.rlim_max >= 1024)
        lim.rlim_cur = 1024;
    long rl = rawcall(SYS_setrlimit, RLIMIT_NOFILE, (long)&lim, 0, 0, 0, 0);
    int rle = (int)sc_errno;
    int n = 0, e = 0;
    for (int i = 0; i < FILL_CAP; i++) {
        long fd = rawcall(SYS_openat, dirfd_, (long)"fill.txt", O_RDONLY, 0, 0, 0);
        if (fd < 0) {
            e = (int)sc_errno;
            break;
        }
        fill_fds[n++] = (int)fd;
    }
    long r1 = rawcall(SYS_openat, dirfd_, (long)"emfile_new.txt", O_CREAT | O_WRONLY, 0644, 0, 0);
    int e1 = (int)sc_errno;
    long r2 = rawcall(SYS_openat, dirfd_, (long)"emfile_excl.txt",
                      O_CREAT | O_EXCL | O_WRONLY, 0644, 0, 0);
    int e2 = (int)sc_errno;
    long r3 = rawcall(SYS_dup, dirfd_, 0, 0, 0, 0, 0);
    int e3 = (int)sc_errno;
    for (int i = 0; i < n; i++)
        close(fill_fds[i]);
    if (r1 >= 0)
        close((int)r1);
    if (r2 >= 0)
        close((int)r2);
    if (r3 >= 0)
        close((int)r3);

    printf("setrlimit(RLIMIT_NOFILE, soft 1024): ret=%ld errno=%s\n", rl, errno_name(rle));
    printf("open until failure: errno=%s within %d attempts=%s\n", errno_name(e), FILL_CAP,
           yesno(e != 0));
    printf("openat(O_CREAT) with full fd table: ret=%ld errno=%s\n", r1, errno_name(e1));
    printf("openat(O_CREAT|O_EXCL) with full fd table: ret=%ld errno=%s\n", r2, errno_name(e2));
    printf("dup(dirfd) with full fd table: ret=%ld errno=%s\n", r3, errno_name(e3));
    CHECK("faccessat(emfile_new.txt) (must not exist)",
          syscall(SYS_faccessat, dirfd_, "emfile_new.txt", F_OK, 0L));
    CHECK("faccessat(emfile_excl.txt) (must not exist)",
          syscall(SYS_faccessat, dirfd_, "emfile_excl.txt", F_OK, 0L));
    setrlimit(RLIMIT_NOFILE, &old);

    /* pipe2/pipe with a bad pointer must not leak descriptors. */
    int low = (int)syscall(SYS_openat, dirfd_, "fill.txt", O_RDONLY);
    close(low);
    CHECK("pipe2(NULL, 0)", syscall(SYS_pipe2, NULL, 0L));
    CHECK("pipe(NULL)", syscall(SYS_pipe, NULL));
    int next = (int)syscall(SYS_openat, dirfd_, "fill.txt", O_RDONLY);
    fact("next open() returns the lowest free fd", next == low);
    close(next);
}

/* ------------------------------------------------- mmap family checks */
static void test_mm(void)
{
    int p[2];
    pipe(p);
    long r = rawcall(SYS_mmap, 0, PAGE, PROT_READ, MAP_PRIVATE, p[0], 0);
    show_addr("mmap(pipe fd)", r, (int)sc_errno);
    r = rawcall(SYS_mmap, 0, PAGE, PROT_READ, MAP_SHARED, p[0], 0);
    show_addr("mmap(pipe fd, MAP_SHARED)", r, (int)sc_errno);
    close(p[0]);
    close(p[1]);

    int bad = (int)syscall(SYS_openat, dirfd_, "fill.txt", O_RDONLY);
    close(bad);
    r = rawcall(SYS_mmap, 0, 0, PROT_READ, MAP_PRIVATE, bad, 0);
    show_addr("mmap(len=0, closed fd)", r, (int)sc_errno);

    r = rawcall(SYS_mmap, 0, PAGE, PROT_READ | PROT_WRITE | PROT_SEM, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    show_addr("mmap(PROT_READ|PROT_WRITE|PROT_SEM)", r, (int)sc_errno);
    if (r != -1) {
        ((char *)r)[0] = 1;
        syscall(SYS_munmap, r, PAGE);
    }
    r = rawcall(SYS_mmap, (long)BEYOND_USER, 2 * PAGE, PROT_READ,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    show_addr("mmap(MAP_FIXED at 1<<56)", r, (int)sc_errno);

    char *m = map_anon(2 * PAGE);
    CHECK("mprotect(len=0, prot=0x100)", syscall(SYS_mprotect, m, 0L, 0x100L));
    CHECK("mprotect(len=0, PROT_GROWSDOWN|PROT_GROWSUP)",
          syscall(SYS_mprotect, m, 0L, (long)(PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP)));
    CHECK("mprotect(PROT_GROWSDOWN|PROT_GROWSUP)",
          syscall(SYS_mprotect, m, PAGE, (long)(PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP)));
    CHECK("msync(MS_ASYNC|MS_SYNC)", syscall(SYS_msync, m, PAGE, (long)(MS_ASYNC | MS_SYNC)));
    CHECK("msync(MS_SYNC)", syscall(SYS_msync, m, PAGE, (long)MS_SYNC));
    CHECK("munmap(len=-4096)", syscall(SYS_munmap, m, -PAGE));
    /* A hole: unmapped with raw syscalls right before the checks. */
    syscall(SYS_munmap, m + PAGE, PAGE);
    CHECK("madvise(unmapped, MADV_NORMAL)", syscall(SYS_madvise, m + PAGE, PAGE, (long)MADV_NORMAL));
    CHECK("madvise(mapped+unmapped, MADV_NORMAL)",
          syscall(SYS_madvise, m, 2 * PAGE, (long)MADV_NORMAL));
    CHECK("madvise(mapped, MADV_NORMAL)", syscall(SYS_madvise, m, PAGE, (long)MADV_NORMAL));
    syscall(SYS_munmap, m, PAGE);

    /* A shared file mapping written back with msync. */
    int fd = make_file("shared.bin", "", 0);
    syscall(SYS_ftruncate, fd, PAGE);
    r = rawcall(SYS_mmap, 0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    show_addr("mmap(file, MAP_SHARED)", r, (int)sc_errno);
    if (r != -1) {
        memcpy((char *)r, "hello", 5);
        CHECK("msync(MS_SYNC) shared file", syscall(SYS_msync, r, PAGE, (long)MS_SYNC));
        char b[6] = {0};
        syscall(SYS_pread64, fd, b, 5L, 0L);
        printf("file after msync: %s\n", b);
        syscall(SYS_munmap, r, PAGE);
    }
    close(fd);
}

/* ------------------------------------------------ directories, flags */
static void test_dir_and_flags(void)
{
    int d = (int)syscall(SYS_openat, dirfd_, ".", O_RDONLY | O_DIRECTORY);
    CHECK("lseek(dir, 0, SEEK_CUR) before getdents64", syscall(SYS_lseek, d, 0L, SEEK_CUR));
    static char dbuf[8192];
    int entries = 0;
    long n;
    while ((n = syscall(SYS_getdents64, d, dbuf, sizeof dbuf)) > 0) {
        for (long pos = 0; pos < n;) {
            unsigned short reclen;
            memcpy(&reclen, dbuf + pos + 16, sizeof reclen);
            entries++;
            pos += reclen;
        }
    }
    printf("getdents64: entries=%d\n", entries);
    long pos = rawcall(SYS_lseek, d, 0, SEEK_CUR, 0, 0, 0);
    printf("lseek(dir, 0, SEEK_CUR) after getdents64: positive=%s errno=%s\n",
           yesno(pos > 0), errno_name((int)sc_errno));
    CHECK("getdents64 at end", syscall(SYS_getdents64, d, dbuf, sizeof dbuf));
    CHECK("lseek(dir, 0, SEEK_SET)", syscall(SYS_lseek, d, 0L, SEEK_SET));
    int again = 0;
    while ((n = syscall(SYS_getdents64, d, dbuf, sizeof dbuf)) > 0) {
        for (long q = 0; q < n;) {
            unsigned short reclen;
            memcpy(&reclen, dbuf + q + 16, sizeof reclen);
            again++;
            q += reclen;
        }
    }
    fact("same entries after rewind", again == entries);

    long r = rawcall(NR_faccessat2, d, (long)"", F_OK, AT_EMPTY_PATH, 0, 0);
    if (r == -1 && sc_errno == ENOSYS) {
        printf("faccessat2(dirfd, \"\", F_OK, AT_EMPTY_PATH): skipped (no faccessat2)\n");
    } else {
        printf("faccessat2(dirfd, \"\", F_OK, AT_EMPTY_PATH): ret=%ld errno=%s\n", r,
               errno_name((int)sc_errno));
        CHECK("faccessat2(dirfd, \"\", F_OK, 0)", syscall(NR_faccessat2, d, "", F_OK, 0L));
        CHECK("faccessat2(dirfd, \"three.txt\", F_OK, 0x1)",
              syscall(NR_faccessat2, d, "three.txt", F_OK, 0x1L));
    }
    close(d);

    struct stat st;
    CHECK("newfstatat(flags=0x8000)", syscall(SYS_newfstatat, dirfd_, "three.txt", &st, 0x8000L));
    CHECK("newfstatat(flags=0x1)", syscall(SYS_newfstatat, dirfd_, "three.txt", &st, 0x1L));
    CHECK("linkat(flags=0x1)",
          syscall(SYS_linkat, dirfd_, "three.txt", dirfd_, "three_link.txt", 0x1L));
    CHECK("faccessat(three_link.txt) (must not exist)",
          syscall(SYS_faccessat, dirfd_, "three_link.txt", F_OK, 0L));

    char rnd[16];
    CHECK("getrandom(GRND_RANDOM|GRND_INSECURE)",
          syscall(SYS_getrandom, rnd, sizeof rnd, (long)(GRND_RANDOM | GRND_INSECURE)));
    unsigned long mask[1];
    CHECK("sched_getaffinity(size=4)", syscall(SYS_sched_getaffinity, 0L, 4L, mask));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: edgecases DIR (an existing empty directory)\n");
        return 2;
    }
    dirfd_ = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (dirfd_ < 0 || chdir(argv[1]) != 0 || !getcwd(base, sizeof base)) {
        fprintf(stderr, "edgecases: cannot use %s: %s\n", argv[1], errno_name(errno));
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_prctl();
    test_utimensat();
    test_mremap();
    test_bigread();
    test_brk();
    test_signals();
    test_getfl();
    test_chdir();
    test_procfd();
    test_sendfile();
    test_emfile();
    test_mm();
    test_dir_and_flags();
    printf("done\n");
    return 0;
}
