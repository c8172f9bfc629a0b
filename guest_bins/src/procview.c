/* procview: the process's own /proc, /dev and /sys agree with what its
 * syscalls say — status, stat, cmdline, environ, auxv, exe, cwd, root, fd/,
 * fdinfo/, maps, mem, limits, task/, comm, a child's entries while it runs,
 * as a zombie and after it is reaped; meminfo against sysinfo, cpuinfo
 * against sysconf, uptime against CLOCK_BOOTTIME, sys/kernel against uname;
 * /dev/null, zero, full, urandom, fd, shm between processes; lookups by a
 * relative path, from a directory fd and through a symlink.  One line per
 * check, the same natively and under azemu.  argv[1]: a scratch directory. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static char buf[65536];

static const char *yes(int c) { return c ? "yes" : "no"; }

static long slurp(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    long n = 0, r;
    while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += r;
    close(fd);
    buf[n] = 0;
    return r < 0 ? -errno : n;
}

static long field(const char *text, const char *key)
{
    const char *at = strstr(text, key);
    return at ? strtol(at + strlen(key), NULL, 10) : -1;
}

static int count_entries(const char *path, const char *want, int *found)
{
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        n++;
        if (want && !strcmp(e->d_name, want))
            *found = 1;
    }
    closedir(d);
    return n;
}

static void identity(int argc, char **argv, char **envp)
{
    char want[4096];
    slurp("/proc/self/status");
    printf("status Pid/PPid/Uid: %s %s %s\n", yes(field(buf, "\nPid:\t") == getpid()),
           yes(field(buf, "\nPPid:\t") == getppid()), yes(field(buf, "\nUid:\t") == (long)getuid()));
    printf("status Threads: %ld\n", field(buf, "\nThreads:\t"));
    slurp("/proc/self/stat");
    int pid, ppid, pgrp, sid;
    char state;
    char *close_paren = strrchr(buf, ')');
    sscanf(buf, "%d", &pid);
    sscanf(close_paren + 2, "%c %d %d %d", &state, &ppid, &pgrp, &sid);
    printf("stat pid/ppid/pgrp/sid: %s %s %s %s, state %c\n", yes(pid == getpid()), yes(ppid == getppid()),
           yes(pgrp == getpgrp()), yes(sid == getsid(0)), state);
    long n = slurp("/proc/self/cmdline"), at = 0;
    for (int i = 0; i < argc; i++) {
        strcpy(want + at, argv[i]);
        at += strlen(argv[i]) + 1;
    }
    printf("cmdline is argv: %s\n", yes(n == at && !memcmp(buf, want, at)));
    n = slurp("/proc/self/environ");
    at = 0;
    for (char **e = envp; *e && at < 3000; e++) {
        strcpy(want + at, *e);
        at += strlen(*e) + 1;
    }
    printf("environ is envp: %s\n", yes(n >= at && !memcmp(buf, want, at)));
    n = slurp("/proc/self/auxv");
    unsigned long *aux = (unsigned long *)buf, page = 0, entry = 0, random = 0;
    for (long i = 0; i + 1 < n / 8 && aux[i]; i += 2) {
        if (aux[i] == AT_PAGESZ) page = aux[i + 1];
        if (aux[i] == AT_ENTRY) entry = aux[i + 1];
        if (aux[i] == AT_RANDOM) random = aux[i + 1];
    }
    printf("auxv: pagesz %lu, entry %s, random %s\n", page, yes(entry == getauxval(AT_ENTRY)),
           yes(random == getauxval(AT_RANDOM)));
    char link[4096], real[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", link, sizeof link - 1);
    link[k > 0 ? k : 0] = 0;
    printf("exe is the program: %s\n", yes(realpath(argv[0], real) && !strcmp(link, real)));
    k = readlink("/proc/self/cwd", link, sizeof link - 1);
    link[k > 0 ? k : 0] = 0;
    printf("cwd is getcwd: %s\n", yes(getcwd(real, sizeof real) && !strcmp(link, real)));
    k = readlink("/proc/self/root", link, sizeof link - 1);
    link[k > 0 ? k : 0] = 0;
    printf("root: %s\n", link);
    k = readlink("/proc/self", link, sizeof link - 1);
    link[k > 0 ? k : 0] = 0;
    printf("self is the pid: %s\n", yes(atoi(link) == getpid()));
    prctl(PR_SET_NAME, "renamed-proc");
    slurp("/proc/self/comm");
    printf("comm after PR_SET_NAME: %s", buf);
}

static void files(const char *dir)
{
    char path[4096], link[4096], name[32];
    snprintf(path, sizeof path, "%s/data", dir);
    int w = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    write(w, "0123456789", 10);
    close(w);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char tmp[5];
    read(fd, tmp, 5);
    snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
    ssize_t k = readlink(name, link, sizeof link - 1);
    link[k > 0 ? k : 0] = 0;
    char real[PATH_MAX];
    realpath(path, real);
    printf("fd link names the file: %s\n", yes(!strcmp(link, real)));
    snprintf(name, sizeof name, "%d", fd);
    int found = 0;
    count_entries("/proc/self/fd", name, &found);
    printf("fd/ lists it: %s\n", yes(found));
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    slurp(path);
    long flags = strtol(strstr(buf, "flags:") + 7, NULL, 8);
    printf("fdinfo pos %ld, read-only %s, cloexec %s\n", field(buf, "pos:\t"),
           yes((flags & O_ACCMODE) == O_RDONLY), yes(flags & O_CLOEXEC));
    snprintf(name, sizeof name, "/dev/fd/%d", fd);
    int again = open(name, O_RDONLY);
    printf("/dev/fd/N opens it anew at 0: %s\n", yes(again >= 0 && read(again, tmp, 3) == 3 && tmp[0] == '0'));
    close(again);
    close(fd);
}

static int target = 1234;

static void memory(void)
{
    char *m = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char want[64];
    snprintf(want, sizeof want, "%lx-%lx r--p", (unsigned long)m, (unsigned long)m + 8192);
    slurp("/proc/self/maps");
    printf("maps shows the mapping read-only: %s\n", yes(strstr(buf, want) != NULL));
    mprotect(m, 4096, PROT_READ | PROT_WRITE);
    snprintf(want, sizeof want, "%lx-%lx rw-p", (unsigned long)m, (unsigned long)m + 4096);
    slurp("/proc/self/maps");
    printf("maps shows mprotect: %s\n", yes(strstr(buf, want) != NULL));
    int fd = open("/proc/self/mem", O_RDWR);
    int v = 0, nv = 98765;
    printf("mem read: %s", pread(fd, &v, 4, (off_t)&target) == 4 ? "" : errno_name(errno));
    printf(" %d\n", v);
    printf("mem write: %s", pwrite(fd, &nv, 4, (off_t)&target) == 4 ? "" : errno_name(errno));
    printf(" %d\n", target);
    printf("mem write into a read-only page: %s",
           pwrite(fd, "x", 1, (off_t)(m + 4096)) == 1 ? "done" : errno_name(errno));
    printf(" (%c)\n", m[4096] ? m[4096] : '0');
    errno = 0;
    printf("mem read at an unmapped address: %s\n", pread(fd, &v, 4, 4096) < 0 ? errno_name(errno) : "read");
    close(fd);
    struct rlimit r = {100, 200};
    setrlimit(RLIMIT_NOFILE, &r);
    slurp("/proc/self/limits");
    char *row = strstr(buf, "Max open files");
    long soft = -1, hard = -1;
    if (row)
        sscanf(row + 25, "%ld %ld", &soft, &hard);
    printf("limits shows setrlimit: %ld %ld\n", soft, hard);
    printf("limits header: %.25s|\n", buf);
}

static void *idle(void *arg)
{
    int *fds = arg;
    char c;
    read(fds[0], &c, 1);
    return NULL;
}

static void tasks(void)
{
    int fds[2], found = 0;
    pipe(fds);
    pthread_t t;
    pthread_create(&t, NULL, idle, fds);
    usleep(20000);
    char me[32];
    snprintf(me, sizeof me, "%d", getpid());
    int n = count_entries("/proc/self/task", me, &found);
    slurp("/proc/self/status");
    printf("task/ with a thread: %d entries, leader listed %s, Threads %ld\n", n, yes(found),
           field(buf, "\nThreads:\t"));
    write(fds[1], "x", 1);
    pthread_join(t, NULL);
    char link[64];
    ssize_t k = readlink("/proc/thread-self", link, sizeof link - 1);
    link[k > 0 ? k : 0] = 0;
    char want[64];
    snprintf(want, sizeof want, "%d/task/%ld", getpid(), (long)syscall(SYS_gettid));
    printf("thread-self: %s\n", yes(!strcmp(link, want)));
}

static char child_state(pid_t c)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", c);
    if (slurp(path) < 0)
        return '-';
    return strrchr(buf, ')')[2];
}

static void children(void)
{
    int go[2];
    pipe(go);
    pid_t c = fork();
    if (c == 0) {
        char x;
        close(go[1]);
        read(go[0], &x, 1);
        _exit(3);
    }
    close(go[0]);
    usleep(50000);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", c);
    slurp(path);
    printf("child status PPid is me: %s\n", yes(field(buf, "\nPPid:\t") == getpid()));
    printf("child waiting: %c\n", child_state(c));
    snprintf(path, sizeof path, "/proc/%d/cmdline", c);
    long n = slurp(path);
    printf("child cmdline: %s\n", n > 0 ? "present" : "missing");
    write(go[1], "g", 1);
    usleep(100000);
    printf("child ended, not reaped: %c\n", child_state(c));
    waitpid(c, NULL, 0);
    printf("child reaped: %c\n", child_state(c));
    int found = 0;
    char me[32];
    snprintf(me, sizeof me, "%d", getpid());
    count_entries("/proc", me, &found);
    printf("/proc lists me: %s\n", yes(found));
}

static void machine(void)
{
    slurp("/proc/meminfo");
    long total = field(buf, "MemTotal:"), avail = field(buf, "MemAvailable:");
    struct sysinfo si;
    sysinfo(&si);
    printf("meminfo total is sysinfo's: %s, available <= total: %s\n",
           yes(total == (long)(si.totalram * si.mem_unit / 1024)), yes(avail <= total));
    slurp("/proc/cpuinfo");
    int cpus = 0;
    for (char *p = buf; (p = strstr(p, "processor\t:")); p++)
        cpus++;
    printf("cpuinfo cores are sysconf's: %s\n", yes(cpus == sysconf(_SC_NPROCESSORS_ONLN)));
    slurp("/proc/uptime");
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    double up = atof(buf);
    printf("uptime is CLOCK_BOOTTIME: %s\n", yes(up > ts.tv_sec - 2 && up < ts.tv_sec + 2));
    slurp("/proc/loadavg");
    double l1, l5, l15;
    int run, all, last;
    printf("loadavg parses: %s\n", yes(sscanf(buf, "%lf %lf %lf %d/%d %d", &l1, &l5, &l15, &run, &all, &last) == 6
                                        && run >= 1 && all >= run));
    struct utsname u;
    uname(&u);
    slurp("/proc/sys/kernel/osrelease");
    printf("osrelease is uname's: %s\n", yes(!strncmp(buf, u.release, strlen(u.release))));
    slurp("/proc/sys/kernel/hostname");
    printf("hostname is uname's: %s\n", yes(!strncmp(buf, u.nodename, strlen(u.nodename))));
    slurp("/proc/sys/kernel/pid_max");
    printf("pid_max above my pid: %s\n", yes(atol(buf) > getpid()));
    slurp("/sys/devices/system/cpu/online");
    printf("sys cpu online: %s\n", yes(buf[0] == '0'));
    slurp("/proc/version");
    printf("version: %.13s\n", buf);
    struct statfs sf;
    statfs("/proc", &sf);
    printf("statfs /proc is procfs: %s\n", yes(sf.f_type == 0x9fa0));
    struct stat st;
    lstat("/proc/self", &st);
    printf("/proc/self is a link: %s", yes(S_ISLNK(st.st_mode)));
    stat("/proc/self", &st);
    printf(", to a directory: %s\n", yes(S_ISDIR(st.st_mode)));
}

static void devices(const char *dir)
{
    struct stat st;
    stat("/dev/null", &st);
    printf("/dev/null: char %s, %u:%u\n", yes(S_ISCHR(st.st_mode)), major(st.st_rdev), minor(st.st_rdev));
    int fd = open("/dev/null", O_RDWR);
    char b[16];
    printf("/dev/null write %zd read %zd\n", write(fd, "abc", 3), read(fd, b, 16));
    close(fd);
    fd = open("/dev/zero", O_RDONLY);
    memset(b, 1, sizeof b);
    read(fd, b, 16);
    printf("/dev/zero zeros: %s\n", yes(b[0] == 0 && b[15] == 0));
    close(fd);
    fd = open("/dev/full", O_WRONLY);
    printf("/dev/full write: %s\n", write(fd, "x", 1) < 0 ? errno_name(errno) : "ok");
    close(fd);
    fd = open("/dev/urandom", O_RDONLY);
    printf("/dev/urandom: %zd\n", read(fd, b, 16));
    close(fd);
    char link[64];
    ssize_t k = readlink("/dev/fd", link, sizeof link - 1);
    link[k > 0 ? k : 0] = 0;
    printf("/dev/fd -> %s\n", link);
    k = readlink("/dev/stdin", link, sizeof link - 1);
    link[k > 0 ? k : 0] = 0;
    printf("/dev/stdin -> %s\n", link);
    fd = shm_open("/procview-shm", O_CREAT | O_RDWR | O_EXCL, 0600);
    ftruncate(fd, 4096);
    char *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    pid_t c = fork();
    if (c == 0) {
        int f2 = shm_open("/procview-shm", O_RDWR, 0);
        char *s2 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, f2, 0);
        strcpy(s2, "from the child");
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("/dev/shm shared: %s\n", s);
    printf("shm_unlink: %s\n", shm_unlink("/procview-shm") == 0 ? "ok" : errno_name(errno));
    char path[4096];
    snprintf(path, sizeof path, "%s/status-link", dir);
    symlink("/proc/self/status", path);
    slurp(path);
    printf("through a symlink: %s\n", yes(field(buf, "\nPid:\t") == getpid()));
    int d = open("/proc/self", O_RDONLY | O_DIRECTORY);
    int f = openat(d, "status", O_RDONLY);
    printf("openat from /proc/self: %s\n", yes(f >= 0));
    close(f);
    close(d);
    char cwd[4096];
    getcwd(cwd, sizeof cwd);
    chdir("/");
    printf("relative proc/self/status: %s\n", yes(slurp("proc/self/status") > 0 && field(buf, "\nPid:\t") == getpid()));
    printf("relative dev/null: %s\n", yes(open("dev/null", O_WRONLY) >= 0));
    chdir(cwd);
    printf("missing entry: %s\n", errno_name(-slurp("/proc/self/no-such-file")));
}

int main(int argc, char **argv, char **envp)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: procview DIR\n");
        return 2;
    }
    identity(argc, argv, envp);
    files(argv[1]);
    memory();
    tasks();
    children();
    machine();
    devices(argv[1]);
    printf("done\n");
    return 0;
}
