/* surface DIR: the everyday syscall surface, each check one line, run in DIR.
 * Priorities and policies, personality, capabilities, groups; flock between
 * processes; fallocate, copy_file_range, splice, tee, vmsplice, sync calls;
 * eventfd, timerfd, inotify, memfd (shared with a child through mmap); FIFOs
 * by mknod; utime and utimes; preadv2/pwritev2; sendmmsg/recvmmsg; mlockall,
 * membarrier, NUMA policy, protection keys.  Values that differ between
 * machines (the kernel's own masks, time slices) are printed as checks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "errname.h"

static const char *res(long r) { return r < 0 ? errno_name(errno) : "ok"; }

static void priorities(void)
{
    errno = 0;
    int nice0 = getpriority(PRIO_PROCESS, 0);
    printf("getpriority: %s\n", errno ? errno_name(errno) : "ok");
    printf("setpriority +5: %s\n", res(setpriority(PRIO_PROCESS, 0, nice0 + 5)));
    printf("nice now +5: %s\n", getpriority(PRIO_PROCESS, 0) == nice0 + 5 ? "yes" : "no");
    pid_t c = fork();
    if (c == 0) {
        printf("child inherits nice: %s\n", getpriority(PRIO_PROCESS, 0) == nice0 + 5 ? "yes" : "no");
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("getpriority of no such process: %s\n", res(getpriority(PRIO_PROCESS, 0x3ffffff0)));
    printf("setpriority bad which: %s\n", res(setpriority(7, 0, 0)));
    struct sched_param sp = {0};
    printf("sched_getscheduler: %d\n", sched_getscheduler(0));
    long r = sched_setscheduler(0, SCHED_BATCH, &sp);
    printf("SCHED_BATCH: %s, now %d\n", res(r), sched_getscheduler(0));
    sp.sched_priority = 5;
    printf("SCHED_BATCH with priority 5: %s\n", res(sched_setscheduler(0, SCHED_BATCH, &sp)));
    printf("policy 77: %s\n", res(sched_setscheduler(0, 77, &sp)));
    sp.sched_priority = 0;
    sched_setscheduler(0, SCHED_OTHER, &sp);
    printf("FIFO max %d min %d, OTHER max %d min %d, bad: %s\n", sched_get_priority_max(SCHED_FIFO),
           sched_get_priority_min(SCHED_FIFO), sched_get_priority_max(SCHED_OTHER),
           sched_get_priority_min(SCHED_OTHER), res(sched_get_priority_max(42)));
    r = sched_getparam(0, &sp);
    printf("sched_getparam: %s, priority %d\n", res(r), sp.sched_priority);
    struct timespec ts;
    printf("sched_rr_get_interval: %s\n", res(sched_rr_get_interval(0, &ts)));
    printf("ioprio_set best-effort 4: %s\n", res(syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 4)));
    printf("ioprio_get: %lx\n", syscall(SYS_ioprio_get, 1, 0));
    printf("ioprio_get of no such process: %s\n", res(syscall(SYS_ioprio_get, 1, 0x3ffffff0)));
    printf("ioprio_set bad class: %s\n", res(syscall(SYS_ioprio_set, 1, 0, (5 << 13))));
}

static void identity(void)
{
    int old = personality(0xffffffff);
    printf("personality: %#x\n", old);
    int was = personality(ADDR_NO_RANDOMIZE);
    printf("set ADDR_NO_RANDOMIZE: old %#x\n", was);
    printf("now %#x\n", personality(0xffffffff));
    personality(old);
    struct { uint32_t version; int pid; } hdr = {0x12345678, 0};
    uint32_t data[6] = {0};
    long r = syscall(SYS_capget, &hdr, data);
    printf("capget of a bad version: %s, version given back %#x\n", res(r), hdr.version);
    hdr.version = 0x20080522;
    printf("capget v3: %s\n", res(syscall(SYS_capget, &hdr, data)));
    printf("capget of no such pid: ");
    hdr.pid = 0x3ffffff0;
    printf("%s\n", res(syscall(SYS_capget, &hdr, data)));
    hdr.pid = 0;
    int ngroups = getgroups(0, NULL);
    printf("getgroups(0): %s\n", ngroups >= 0 ? "a count" : errno_name(errno));
    gid_t few[1];
    printf("getgroups too small: %s\n", ngroups > 1 ? res(getgroups(1, few)) : "EINVAL");
}

static void locks(void)
{
    int fd = open("lockfile", O_RDWR | O_CREAT, 0644);
    int go[2], back[2];
    pipe(go);
    pipe(back);
    pid_t c = fork();
    if (c == 0) {
        int mine = open("lockfile", O_RDWR);
        char b;
        flock(mine, LOCK_EX);
        write(back[1], "l", 1);
        read(go[0], &b, 1);                    /* hold it until told */
        flock(mine, LOCK_UN);
        _exit(0);
    }
    char b;
    read(back[0], &b, 1);
    printf("flock LOCK_EX|LOCK_NB held by another: %s\n", res(flock(fd, LOCK_EX | LOCK_NB)));
    printf("flock LOCK_SH|LOCK_NB held by another: %s\n", res(flock(fd, LOCK_SH | LOCK_NB)));
    write(go[1], "u", 1);
    printf("blocking flock once it is let go: %s\n", res(flock(fd, LOCK_EX)));
    waitpid(c, NULL, 0);
    int dupd = dup(fd);
    printf("flock through a dup of the holder: %s\n", res(flock(dupd, LOCK_EX | LOCK_NB)));
    printf("flock bad op: %s\n", res(flock(fd, 3)));
    close(dupd);
    close(fd);
}

static void copies(void)
{
    int fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0644);
    printf("fallocate 1 MiB: %s\n", res(fallocate(fd, 0, 0, 1 << 20)));
    struct stat s;
    fstat(fd, &s);
    printf("size after fallocate: %lld\n", (long long)s.st_size);
    printf("fallocate len 0: %s\n", res(fallocate(fd, 0, 0, 0)));
    pwrite(fd, "hello, copy\n", 12, 0);
    int out = open("copy", O_RDWR | O_CREAT | O_TRUNC, 0644);
    loff_t in_off = 0, out_off = 4;
    ssize_t n = copy_file_range(fd, &in_off, out, &out_off, 12, 0);
    char buf[64] = {0};
    pread(out, buf, 16, 4);
    printf("copy_file_range: %zd, offsets %lld %lld, text %s", n, (long long)in_off, (long long)out_off, buf);
    printf("copy_file_range flags: %s\n", res(copy_file_range(fd, NULL, out, NULL, 1, 1)));
    int p[2], q[2];
    pipe(p);
    pipe(q);
    loff_t off = 0;
    n = splice(fd, &off, p[1], NULL, 12, 0);
    printf("splice file -> pipe: %zd, offset %lld\n", n, (long long)off);
    n = tee(p[0], q[1], 12, 0);
    printf("tee: %zd\n", n);
    memset(buf, 0, sizeof buf);
    read(q[0], buf, sizeof buf - 1);
    printf("the tee'd copy: %s", buf);
    n = splice(p[0], NULL, out, NULL, 12, 0);
    printf("splice pipe -> file: %zd\n", n);
    printf("splice with an offset on a pipe: %s\n", res(splice(p[0], &off, out, NULL, 1, 0)));
    printf("splice from an empty pipe, non-blocking: %s\n",
           res(splice(p[0], NULL, out, NULL, 1, SPLICE_F_NONBLOCK)));
    struct iovec v = {"vmsplice\n", 9};
    printf("vmsplice: %zd\n", vmsplice(p[1], &v, 1, 0));
    memset(buf, 0, sizeof buf);
    read(p[0], buf, sizeof buf - 1);
    printf("read back: %s", buf);
    printf("sync_file_range: %s\n", res(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE)));
    printf("sync_file_range bad flags: %s\n", res(sync_file_range(fd, 0, 0, 8)));
    printf("syncfs: %s\n", res(syncfs(fd)));
    printf("readahead: %s\n", res(readahead(fd, 0, 4096)));
    sync();
    printf("sync: done\n");
    close(fd);
    close(out);
    close(p[0]); close(p[1]); close(q[0]); close(q[1]);
}

static void objects(void)
{
    int e = eventfd(3, EFD_CLOEXEC);
    uint64_t v = 0;
    ssize_t got = read(e, &v, 8);
    printf("eventfd read: %zd, value %llu\n", got, (unsigned long long)v);
    struct pollfd pf = {e, POLLIN, 0};
    printf("eventfd poll when empty: %d\n", poll(&pf, 1, 0));
    v = 5;
    write(e, &v, 8);
    printf("eventfd poll after a write: %d\n", poll(&pf, 1, 0));
    read(e, &v, 8);
    printf("value %llu\n", (unsigned long long)v);
    int en = eventfd(0, EFD_NONBLOCK);
    printf("non-blocking eventfd read when empty: %s\n", res(read(en, &v, 8)));
    int es = eventfd(2, EFD_SEMAPHORE);
    read(es, &v, 8);
    printf("semaphore eventfd reads 1 at a time: %llu\n", (unsigned long long)v);
    printf("eventfd bad flags: %s\n", res(eventfd(0, 0x4000)));
    close(e); close(en); close(es);

    int t = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {{0, 10000000}, {0, 20000000}}, cur;
    printf("timerfd_settime: %s\n", res(timerfd_settime(t, 0, &its, NULL)));
    timerfd_gettime(t, &cur);
    printf("timerfd_gettime interval: %ld ns\n", cur.it_interval.tv_nsec);
    uint64_t exp = 0;
    got = read(t, &exp, 8);
    printf("blocking read of the timer: %zd, expirations >= 1: %s\n", got, exp >= 1 ? "yes" : "no");
    its.it_value.tv_nsec = 2000000000L;
    printf("timerfd_settime bad nsec: %s\n", res(timerfd_settime(t, 0, &its, NULL)));
    printf("timerfd bad clock: %s\n", res(timerfd_create(42, 0)));
    printf("timerfd_gettime on an eventfd: ");
    int ee = eventfd(0, 0);
    printf("%s\n", res(timerfd_gettime(ee, &cur)));
    close(ee);
    close(t);

    mkdir("watched", 0755);
    int in = inotify_init1(IN_NONBLOCK);
    int wd = inotify_add_watch(in, "watched", IN_CREATE | IN_DELETE);
    printf("inotify_add_watch: %s\n", wd >= 0 ? "a watch" : errno_name(errno));
    char ibuf[4096];
    printf("no event yet: %s\n", res(read(in, ibuf, sizeof ibuf)));
    close(open("watched/newfile", O_CREAT | O_WRONLY, 0644));
    unlink("watched/newfile");
    got = read(in, ibuf, sizeof ibuf);
    for (char *q = ibuf; got > 0 && q < ibuf + got;) {
        struct inotify_event *ev = (struct inotify_event *)q;
        printf("event: %s %s\n", ev->mask & IN_CREATE ? "IN_CREATE" : ev->mask & IN_DELETE ? "IN_DELETE" : "other",
               ev->len ? ev->name : "");
        q += sizeof *ev + ev->len;
    }
    printf("inotify_add_watch of a missing path: %s\n", res(inotify_add_watch(in, "nothing/here", IN_CREATE)));
    printf("inotify_rm_watch: %s\n", res(inotify_rm_watch(in, wd)));
    close(in);

    int m = memfd_create("shared", MFD_CLOEXEC);
    printf("memfd_create: %s\n", m >= 0 ? "a fd" : errno_name(errno));
    ftruncate(m, 4096);
    char *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    pid_t c = fork();
    if (c == 0) {
        strcpy(map, "written by the child");
        _exit(0);
    }
    waitpid(c, NULL, 0);
    char rb[32] = {0};
    pread(m, rb, 20, 0);
    printf("memfd through the child's mapping: %s\n", rb);
    char link[64] = {0}, proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", m);
    readlink(proc, link, sizeof link - 1);
    printf("memfd's name: %s\n", link);
    printf("memfd_create bad flags: %s\n", res(memfd_create("x", 0x100)));
    munmap(map, 4096);
    close(m);
}

static void nodes_and_times(void)
{
    printf("mknod FIFO: %s\n", res(mknod("fifo", S_IFIFO | 0644, 0)));
    struct stat s;
    stat("fifo", &s);
    printf("is a FIFO: %s, mode %o\n", S_ISFIFO(s.st_mode) ? "yes" : "no", s.st_mode & 0777);
    printf("mknod regular: %s\n", res(mknodat(AT_FDCWD, "plain", S_IFREG | 0600, 0)));
    printf("mknod exists: %s\n", res(mknod("plain", S_IFREG | 0600, 0)));
    struct utimbuf ub = {1000000000, 1200000000};
    printf("utime: %s\n", res(utime("plain", &ub)));
    stat("plain", &s);
    printf("mtime %lld atime %lld\n", (long long)s.st_mtime, (long long)s.st_atime);
    struct timeval tv[2] = {{1300000000, 250000}, {1400000000, 500000}};
    printf("utimes: %s\n", res(utimes("plain", tv)));
    stat("plain", &s);
    printf("mtime %lld.%09ld\n", (long long)s.st_mtime, s.st_mtim.tv_nsec);
    tv[0].tv_usec = 2000000;
    printf("utimes bad usec: %s\n", res(utimes("plain", tv)));
    printf("futimesat now: %s\n", res(futimesat(AT_FDCWD, "plain", NULL)));
    printf("chown to ourselves: %s\n", res(chown("plain", getuid(), getgid())));
    printf("lchown -1 -1: %s\n", res(lchown("plain", -1, -1)));
    int fd = open("plain", O_RDONLY);
    printf("fchown: %s\n", res(fchown(fd, -1, getgid())));
    printf("fchownat AT_EMPTY_PATH: %s\n", res(fchownat(fd, "", -1, -1, AT_EMPTY_PATH)));
    close(fd);
    printf("chown of a missing file: %s\n", res(chown("missing", 0, 0)));
}

/* The raw calls: not every libc has the wrappers. */
static long preadv2_(int fd, struct iovec *v, int n, long off, int flags)
{
    return syscall(SYS_preadv2, fd, v, n, off, 0, flags);
}

static long pwritev2_(int fd, struct iovec *v, int n, long off, int flags)
{
    return syscall(SYS_pwritev2, fd, v, n, off, 0, flags);
}

static void vectors_and_messages(void)
{
    int fd = open("vec", O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct iovec v = {"abcdef", 6};
    printf("pwritev2 at 0: %ld\n", pwritev2_(fd, &v, 1, 0, 0));
    struct iovec w = {"XY", 2};
    printf("pwritev2 RWF_APPEND: %ld\n", pwritev2_(fd, &w, 1, 0, 16 /* RWF_APPEND */));
    char buf[16] = {0};
    struct iovec r = {buf, 8};
    long rn = preadv2_(fd, &r, 1, 0, 0);
    printf("preadv2 at 0: %ld, %s\n", rn, buf);
    printf("preadv2 unknown flag: %s\n", res(preadv2_(fd, &r, 1, 0, 0x10000000)));
    close(fd);
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    struct mmsghdr out[3];
    struct iovec iv[3] = {{"one", 3}, {"two", 3}, {"three", 5}};
    memset(out, 0, sizeof out);
    for (int i = 0; i < 3; i++) {
        out[i].msg_hdr.msg_iov = &iv[i];
        out[i].msg_hdr.msg_iovlen = 1;
    }
    int sent = sendmmsg(sv[0], out, 3, 0);
    printf("sendmmsg: %d, lengths %u %u %u\n", sent, out[0].msg_len, out[1].msg_len, out[2].msg_len);
    struct mmsghdr in[4];
    char rb[4][8];
    struct iovec riv[4];
    memset(in, 0, sizeof in);
    memset(rb, 0, sizeof rb);
    for (int i = 0; i < 4; i++) {
        riv[i].iov_base = rb[i];
        riv[i].iov_len = 7;
        in[i].msg_hdr.msg_iov = &riv[i];
        in[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(sv[1], in, 4, MSG_DONTWAIT, NULL);
    printf("recvmmsg: %d: %s %s %s\n", n, rb[0], rb[1], rb[2]);
    close(sv[0]);
    close(sv[1]);
}

static void memory(void)
{
    printf("mlockall: %s\n", res(mlockall(MCL_CURRENT)));
    printf("munlockall: %s\n", res(munlockall()));
    printf("mlockall bad flags: %s\n", res(mlockall(0)));
    long q = syscall(SYS_membarrier, 0, 0, 0);
    printf("membarrier query: %s\n", q >= 0 ? "a mask" : errno_name(errno));
    printf("membarrier global: %s\n", (q & 1) ? res(syscall(SYS_membarrier, 1, 0, 0)) : "ok");
    int mode = -1;
    long gm = syscall(SYS_get_mempolicy, &mode, NULL, 0, NULL, 0);
    printf("get_mempolicy: %s, mode %d\n", res(gm), mode);
    unsigned long node0 = 1, node5 = 1 << 5;
    printf("set_mempolicy bind node 0: %s\n", res(syscall(SYS_set_mempolicy, 2, &node0, 8)));
    printf("set_mempolicy bind node 5: %s\n", res(syscall(SYS_set_mempolicy, 2, &node5, 8)));
    syscall(SYS_set_mempolicy, 0, NULL, 0);
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mbind preferred node 0: %s\n", res(syscall(SYS_mbind, m, 8192, 1, &node0, 8, 0)));
    printf("mbind unaligned: %s\n", res(syscall(SYS_mbind, m + 1, 8192, 1, &node0, 8, 0)));
    printf("pkey_mprotect key -1: %s\n", res(syscall(SYS_pkey_mprotect, m, 4096, PROT_READ, -1)));
    munmap(m, 8192);
}

/* select past FD_SETSIZE: Linux takes any nfds up to its fd table, and the
 * fds the guest names may sit anywhere on the host side. */
static void select_high(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    struct rlimit more = {1200, rl.rlim_max < 1200 ? rl.rlim_max : 1200};
    if (rl.rlim_max < 1200 || setrlimit(RLIMIT_NOFILE, &more)) {
        printf("select past FD_SETSIZE: no room\n");
        return;
    }
    int p[2];
    if (pipe(p)) return;
    int hi = dup2(p[0], 1100), wr = dup2(p[1], 1101);
    if (write(wr, "x", 1) != 1) return;
    uint64_t rset[1152 / 64] = {0}, wset[1152 / 64] = {0};
    rset[hi / 64] |= 1ULL << (hi % 64);
    wset[wr / 64] |= 1ULL << (wr % 64);
    struct timeval tv = {0, 0};
    long n = syscall(SYS_select, 1102, rset, wset, NULL, &tv);
    printf("select on fds %d and %d: %ld, read %s, write %s\n", hi, wr, n,
           rset[hi / 64] >> (hi % 64) & 1 ? "ready" : "-", wset[wr / 64] >> (wr % 64) & 1 ? "ready" : "-");
    uint64_t big[4096 / 64] = {0};
    big[hi / 64] |= 1ULL << (hi % 64);
    tv.tv_sec = 0;
    printf("select nfds 4096 (past the fd table): %s\n", res(syscall(SYS_select, 4096, big, NULL, NULL, &tv)));
    big[1150 / 64] |= 1ULL << (1150 % 64);
    printf("select on a closed fd: %s\n", res(syscall(SYS_select, 1151, big, NULL, NULL, &tv)));
    close(hi); close(wr); close(p[0]); close(p[1]);
    setrlimit(RLIMIT_NOFILE, &rl);
}

/* A blocking send into a full socket, ended by a signal: the count sent so
 * far, or EINTR when nothing was (no SA_RESTART); the kernel must not wait
 * for room where the signal cannot reach it. */
static void on_alarm(int sig) { (void)sig; }

static void interrupted_send(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;                     /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    size_t big = 16 << 20;
    char *data = calloc(1, big);
    struct itimerval it = {{0, 0}, {0, 200000}};
    setitimer(ITIMER_REAL, &it, NULL);
    ssize_t n = send(sv[0], data, big, 0);
    printf("send of 16 MiB into a socket nobody reads, a signal: %s\n",
           n > 0 && (size_t)n < big ? "part sent" : n < 0 ? errno_name(errno) : "all?");
    setitimer(ITIMER_REAL, &it, NULL);
    n = write(sv[0], data, 4096);
    printf("write into the full socket, a signal: %s\n", n < 0 ? errno_name(errno) : "sent?");
    free(data);
    close(sv[0]);
    close(sv[1]);
    signal(SIGALRM, SIG_DFL);
}

/* Transfers larger than a host call carries, from memory never touched (the
 * shared zero page: no two pages contiguous): all of it, as Linux. */
static void big_transfers(void)
{
    size_t n = 9 << 20;
    char *d = calloc(1, n), *e = calloc(1, n);
    for (size_t i = 0; i < n; i += 8192)
        d[i] = (char)(i >> 13);
    int fd = open("big", O_RDWR | O_CREAT | O_TRUNC, 0644);
    ssize_t w = write(fd, d, n), pw = pwrite(fd, d, n, 100);
    lseek(fd, 0, SEEK_SET);
    ssize_t r = read(fd, e, n);
    ssize_t pr = pread(fd, e, n, 100);
    printf("9 MiB write %zd, pwrite %zd, read %zd, pread %zd, same: %s\n", w, pw, r, pr,
           memcmp(d, e, n) == 0 ? "yes" : "no");
    close(fd);
    unlink("big");
    free(d);
    free(e);
}

/* statx asks the host for every field it has: the mask says which came.
 * (struct statx spelled out: older musl headers lack it.) */
struct sx_time { int64_t tv_sec; uint32_t tv_nsec; int32_t pad; };
struct sx_buf {
    uint32_t stx_mask, stx_blksize;
    uint64_t stx_attributes;
    uint32_t stx_nlink, stx_uid, stx_gid;
    uint16_t stx_mode, pad0;
    uint64_t stx_ino, stx_size, stx_blocks, stx_attributes_mask;
    struct sx_time stx_atime, stx_btime, stx_ctime, stx_mtime;
    uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
    uint64_t stx_mnt_id, spare[13];
};
#define SX_TYPE 0x1u
#define SX_SIZE 0x200u
#define SX_BASIC 0x7ffu
#define SX_BTIME 0x800u
#define SX_MNT_ID 0x1000u
#define SX_FORCE_SYNC 0x2000

static void statx_fields(void)
{
    int fd = open("sx", O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct sx_buf sx, sl;
    memset(&sx, 0, sizeof sx);
    long r = syscall(SYS_statx, AT_FDCWD, "sx", 0, SX_BASIC | SX_BTIME | SX_MNT_ID, &sx);
    printf("statx basic, btime, mount id: %s, basic stats: %s, btime: %s, mount id: %s\n", res(r),
           (sx.stx_mask & SX_BASIC) == SX_BASIC ? "yes" : "no",
           sx.stx_mask & SX_BTIME ? "yes" : "no", sx.stx_mask & SX_MNT_ID ? "yes" : "no");
    if (sx.stx_mask & SX_BTIME)
        printf("btime not after mtime: %s\n", sx.stx_btime.tv_sec <= sx.stx_mtime.tv_sec ? "yes" : "no");
    memset(&sl, 0, sizeof sl);
    r = syscall(SYS_statx, fd, "", AT_EMPTY_PATH | SX_FORCE_SYNC, SX_SIZE, &sl);
    printf("statx of the fd: %s, same inode: %s\n", res(r), sl.stx_ino == sx.stx_ino ? "yes" : "no");
    symlink("sx", "sxl");
    r = syscall(SYS_statx, AT_FDCWD, "sxl", AT_SYMLINK_NOFOLLOW, SX_TYPE, &sl);
    printf("statx of a link, not followed: %s\n", S_ISLNK(sl.stx_mode) ? "a link" : "not a link");
    printf("statx bad flags: %s\n", res(syscall(SYS_statx, AT_FDCWD, "sx", 0x8000000, SX_BASIC, &sl)));
    close(fd);
    unlink("sx");
    unlink("sxl");
}

int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1])) {
        fprintf(stderr, "usage: surface DIR\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    priorities();
    identity();
    locks();
    copies();
    objects();
    nodes_and_times();
    vectors_and_messages();
    memory();
    select_high();
    interrupted_send();
    big_transfers();
    statx_fields();
    printf("done\n");
    return 0;
}
