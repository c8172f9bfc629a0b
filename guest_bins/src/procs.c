/* procs: processes as a shell or a test harness uses them, each check one line.
 * fork + wait statuses (exit codes, signals), copy-on-write isolation, shared
 * file offsets after fork, pipes between processes (EOF when the last writer
 * closes, SIGPIPE/EPIPE), execve of a static program (which then unmaps and
 * maps a page again: it must not see a stale frame) and of a #! script with
 * ENOENT/EACCES/ENOEXEC, vfork, posix_spawn, popen, system, orphans, WNOHANG,
 * waitid, job-control stops (WUNTRACED, WCONTINUED, WSTOPPED, SIGCONT), process
 * groups, kill to a child and to a group, a fork-per-test
 * harness of 100 tests.  Usage: procs SCRATCH_DIR */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static char dir[512];

static void status(const char *what, int st)
{
    if (WIFEXITED(st)) printf("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) printf("%s: killed by signal %d\n", what, WTERMSIG(st));
    else printf("%s: status %#x\n", what, st);
}

static int run_test(int i)
{
    /* the child's check: arithmetic every 7th test gets "wrong" on purpose */
    int want = i * i, got = i * i + (i % 7 == 0);
    return got == want ? 0 : 1;
}

/* Run in a program just exec'd: a page is unmapped after the CPU has used
 * it, its frame is reused for another page, and the address is mapped
 * again.  It must read as zero: the CPU may not still reach the old frame. */
static int after_exec_remap(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *a = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *b = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    a[0] = 'A';
    a[pg] = 'B';
    munmap(a + pg, pg);
    b[0] = 'C';
    char *c = mmap(a + pg, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("after execve, a page unmapped and mapped again reads: %s\n",
           c[0] == 0 ? "zero" : c[0] == 'C' ? "another page's data" : "stale data");
    return 0;
}

int main(int argc, char **argv)
{
    int st;
    if (argc == 2 && strcmp(argv[1], "--after-exec") == 0) return after_exec_remap();
    if (argc < 2) { fprintf(stderr, "usage: procs DIR\n"); return 2; }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    setvbuf(stdout, NULL, _IONBF, 0);

    /* exit codes and signals */
    pid_t c = fork();
    if (c == 0) _exit(42);
    printf("waitpid returns the child: %s\n", waitpid(c, &st, 0) == c ? "yes" : "no");
    status("_exit(42)", st);
    if ((c = fork()) == 0) { raise(SIGTERM); _exit(0); }
    waitpid(c, &st, 0); status("SIGTERM", st);
    if ((c = fork()) == 0) { *(volatile int *)0 = 1; _exit(0); }
    waitpid(c, &st, 0); status("NULL store", st);

    /* copy-on-write: the child's writes stay its own */
    static char big[1 << 20];
    memset(big, 'p', sizeof big);
    if ((c = fork()) == 0) { memset(big, 'c', sizeof big); _exit(big[12345] == 'c' ? 0 : 1); }
    waitpid(c, &st, 0);
    printf("child wrote its copy: %s, parent's intact: %s\n", WEXITSTATUS(st) == 0 ? "yes" : "no",
           big[12345] == 'p' && big[sizeof big - 1] == 'p' ? "yes" : "no");

    /* after fork the page tables themselves are shared until one side
     * writes: every way of writing must still give the writer its own copy */
    int fds[2];
    if (pipe(fds)) return 1;
    if (write(fds[1], "kernel", 6) != 6) return 1;
    char *ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *none = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    strcpy(ro, "parent ro");
    strcpy(none, "parent none");
    mprotect(ro, 4096, PROT_READ);
    mprotect(none, 4096, PROT_NONE);
    if ((c = fork()) == 0) {
        if (read(fds[0], big + 100, 6) != 6) _exit(1);       /* the kernel writes */
        mprotect(ro, 4096, PROT_READ | PROT_WRITE);           /* read-only made writable */
        strcpy(ro, "child");
        mprotect(none, 4096, PROT_READ | PROT_WRITE);         /* PROT_NONE made writable */
        strcpy(none, "child");
        strcpy(shm, "child wrote shared");                    /* shared memory stays shared */
        _exit(0);
    }
    waitpid(c, &st, 0);
    mprotect(none, 4096, PROT_READ);
    printf("after the child wrote through read(), mprotect and shared memory: "
           "big %s, read-only page %s, PROT_NONE page %s, shared page: %s\n",
           big[100] == 'p' ? "intact" : "changed", ro, none, shm);
    close(fds[0]);
    close(fds[1]);

    /* a shared offset */
    char path[600];
    snprintf(path, sizeof path, "%s/offset.txt", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if ((c = fork()) == 0) { if (write(fd, "child ", 6) != 6) _exit(1); _exit(0); }
    waitpid(c, &st, 0);
    if (write(fd, "parent\n", 7) != 7) return 1;
    char buf[64] = {0};
    pread(fd, buf, sizeof buf - 1, 0);
    printf("file after both wrote: %s", buf);
    close(fd);

    /* a pipe between processes */
    int pp[2];
    if (pipe(pp)) return 1;
    if ((c = fork()) == 0) {
        close(pp[0]);
        for (int i = 0; i < 3000; i++) dprintf(pp[1], "line %d\n", i);   /* more than the pipe holds */
        _exit(0);
    }
    close(pp[1]);
    long total = 0; ssize_t n;
    while ((n = read(pp[0], buf, sizeof buf)) > 0) total += n;
    close(pp[0]);
    waitpid(c, &st, 0);
    printf("bytes through the pipe: %ld, then EOF: %s\n", total, n == 0 ? "yes" : "no");
    if (pipe(pp)) return 1;
    close(pp[0]);
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    ssize_t w = write(pp[1], "x", 1);
    printf("write with no reader: %zd %s\n", w, errno == EPIPE ? "EPIPE" : "?");
    signal(SIGPIPE, SIG_DFL);
    if ((c = fork()) == 0) { write(pp[1], "x", 1); _exit(0); }
    waitpid(c, &st, 0); status("write with no reader, SIGPIPE default", st);
    close(pp[1]);

    /* execve */
    char script[600];
    snprintf(script, sizeof script, "%s/script.sh", dir);
    FILE *s = fopen(script, "w");
    fprintf(s, "#!/bin/sh\necho script says $1\nexit 5\n");
    fclose(s);
    chmod(script, 0755);
    if ((c = fork()) == 0) { execl(script, "script.sh", "hello", (char *)0); _exit(127); }
    waitpid(c, &st, 0); status("#! script", st);
    if ((c = fork()) == 0) { execl("/bin/echo", "echo", "echo via execve", (char *)0); _exit(127); }
    waitpid(c, &st, 0); status("/bin/echo", st);
    if ((c = fork()) == 0) { execl("/proc/self/exe", "procs", "--after-exec", (char *)0); _exit(127); }
    waitpid(c, &st, 0);
    errno = 0; execl("/nonexistent/prog", "x", (char *)0);
    printf("execve of a missing file: %s\n", errno == ENOENT ? "ENOENT" : strerror(errno));
    chmod(script, 0644);
    errno = 0; execl(script, "x", (char *)0);
    printf("execve without x permission: %s\n", errno == EACCES ? "EACCES" : strerror(errno));
    FILE *junk = fopen(script, "w"); fprintf(junk, "not a program\n"); fclose(junk);
    chmod(script, 0755);
    errno = 0; execl(script, "x", (char *)0);
    printf("execve of a text file: %s\n", errno == ENOEXEC ? "ENOEXEC" : strerror(errno));
    errno = 0; execl(dir, "x", (char *)0);
    printf("execve of a directory: %s\n", errno == EACCES ? "EACCES" : strerror(errno));

    /* job-control stops: WUNTRACED, WCONTINUED, waitid WSTOPPED */
    int q[2];
    if (pipe(q)) return 1;
    /* the child waits on the pipe once continued, so that its continuation,
     * not its exit, is what WCONTINUED finds */
    if ((c = fork()) == 0) { char b; raise(SIGSTOP); if (read(q[0], &b, 1) != 1) _exit(1); _exit(3); }
    waitpid(c, &st, WUNTRACED);
    printf("child stopped itself: %s, by signal %d\n", WIFSTOPPED(st) ? "yes" : "no", WSTOPSIG(st));
    kill(c, SIGCONT);
    waitpid(c, &st, WCONTINUED);
    printf("reported continued: %s\n", WIFCONTINUED(st) ? "yes" : "no");
    if (write(q[1], "g", 1) != 1) return 1;
    waitpid(c, &st, 0); status("after SIGCONT", st);
    /* in a group of its own: Linux drops SIGTSTP to an orphaned group, and the
     * group this program runs in may be one (a CI job started by setsid) */
    if ((c = fork()) == 0) { setpgid(0, 0); char b = 0; if (read(q[0], &b, 1) != 1) _exit(1); _exit(b); }
    setpgid(c, c);
    kill(c, SIGTSTP);
    siginfo_t stop_info;
    memset(&stop_info, 0, sizeof stop_info);
    waitid(P_PID, c, &stop_info, WSTOPPED);
    printf("waitid WSTOPPED: %s, status %d\n", stop_info.si_code == CLD_STOPPED ? "CLD_STOPPED" : "?",
           stop_info.si_status);
    if (write(q[1], "\x07", 1) != 1) return 1;          /* its read can complete, but it is stopped */
    usleep(20000);
    printf("stopped reader, WNOHANG: %d\n", (int)waitpid(c, &st, WNOHANG));
    kill(c, SIGCONT);
    waitpid(c, &st, 0); status("stopped reader after SIGCONT", st);
    close(q[0]);
    close(q[1]);
    if ((c = fork()) == 0) { signal(SIGTSTP, SIG_IGN); raise(SIGTSTP); _exit(4); }
    waitpid(c, &st, WUNTRACED); status("SIGTSTP ignored", st);
    if ((c = fork()) == 0) { raise(SIGSTOP); _exit(0); }
    waitpid(c, &st, WUNTRACED);
    kill(c, SIGKILL);
    waitpid(c, &st, 0); status("SIGKILL while stopped", st);

    /* vfork, posix_spawn, popen, system */
    volatile int shared = 0;
    if ((c = vfork()) == 0) { shared = 1; _exit(9); }
    waitpid(c, &st, 0);
    printf("vfork child ran first in our memory: %s\n", shared == 1 ? "yes" : "no"); status("vfork", st);
    char *sargv[] = {"echo", "spawned", NULL};
    pid_t sp;
    int rc = posix_spawn(&sp, "/bin/echo", NULL, NULL, sargv, environ);
    waitpid(sp, &st, 0);
    printf("posix_spawn: %d\n", rc); status("spawned echo", st);
    char *bad[] = {"nope", NULL};
    rc = posix_spawn(&sp, "/nonexistent/prog", NULL, NULL, bad, environ);
    if (rc == 0) { waitpid(sp, &st, 0); status("posix_spawn of a missing file", st); }
    else printf("posix_spawn of a missing file: %s\n", rc == ENOENT ? "ENOENT" : strerror(rc));
    FILE *pf = popen("echo from popen; exit 3", "r");
    fgets(buf, sizeof buf, pf);
    printf("popen read: %s", buf);
    status("pclose", pclose(pf));
    status("system(\"exit 7\")", system("exit 7"));

    /* WNOHANG, waitid, orphans */
    if ((c = fork()) == 0) { pause(); _exit(0); }
    printf("WNOHANG on a running child: %d\n", waitpid(c, &st, WNOHANG));
    kill(c, SIGKILL);
    siginfo_t si; memset(&si, 0, sizeof si);
    waitid(P_PID, c, &si, WEXITED);
    printf("waitid: pid ok %s, code %s, status %d\n", si.si_pid == c ? "yes" : "no",
           si.si_code == CLD_KILLED ? "CLD_KILLED" : "?", si.si_status);
    if ((c = fork()) == 0) {
        if (fork() == 0) { usleep(20000); _exit(0); }   /* orphaned at once */
        _exit(0);
    }
    waitpid(c, &st, 0);
    errno = 0;
    printf("the orphan is not our child: %s\n", waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD ? "ECHILD" : "?");

    /* process groups, kill to a group */
    if ((c = fork()) == 0) { setpgid(0, 0); pause(); _exit(0); }
    setpgid(c, c);
    printf("child's group is its own: %s\n", getpgid(c) == c ? "yes" : "no");
    kill(-c, SIGTERM);
    waitpid(c, &st, 0); status("kill(-pgid, SIGTERM)", st);

    /* a fork-per-test harness */
    int passed = 0, failed = 0;
    for (int i = 1; i <= 100; i++) {
        if ((c = fork()) == 0) _exit(run_test(i));
        waitpid(c, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) passed++; else failed++;
    }
    printf("harness: %d passed, %d failed\n", passed, failed);
    unlink(path); unlink(script);
    printf("done\n");
    return 0;
}
