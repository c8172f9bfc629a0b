/* jobctl OUT: job control on the controlling terminal, each check one line
 * appended to the file OUT.  Run it as the leader of a session whose
 * controlling terminal is its stdin (tests/test_jobctl.py makes a pty so).
 *
 * tcgetpgrp/tcsetpgrp and their errors; a background process group that
 * reads the terminal stops with SIGTTIN (EIO when SIGTTIN is ignored or
 * blocked), one that calls tcsetpgrp stops with SIGTTOU and, continued
 * once it is the foreground, finishes the call it was stopped in; with
 * TOSTOP a background write stops with SIGTTOU (goes through when SIGTTOU
 * is ignored); a process in a new session has no controlling terminal; in
 * an orphaned process group SIGTSTP is dropped and a terminal read gives
 * EIO; a process group orphaned with a stopped member gets SIGHUP and
 * SIGCONT. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "errname.h"

static int out = -1;

static void say(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    write(out, buf, n);
}

static const char *signame(int sig)
{
    switch (sig) {
    case SIGTTIN: return "TTIN";
    case SIGTTOU: return "TTOU";
    case SIGTSTP: return "TSTP";
    case SIGSTOP: return "STOP";
    case SIGKILL: return "KILL";
    case SIGHUP: return "HUP";
    default: return "another signal";
    }
}

static const char *how(int st)
{
    static char buf[64];
    if (WIFSTOPPED(st))
        snprintf(buf, sizeof buf, "stopped by %s", signame(WSTOPSIG(st)));
    else if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "killed by %s", signame(WTERMSIG(st)));
    else
        snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(st));
    return buf;
}

/* A child in a process group of its own (made on both sides, so there is no
 * race); it waits on a pipe for the parent's go before `fn` runs. */
static pid_t background(void (*fn)(void), int *go)
{
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        setpgid(0, 0);
        close(p[1]);
        read(p[0], &c, 1);
        close(p[0]);
        fn();
        _exit(0);
    }
    setpgid(pid, pid);
    close(p[0]);
    *go = p[1];
    return pid;
}

static void release(int go)
{
    write(go, "g", 1);
    close(go);
}

static void read_tty(void)
{
    char c;
    ssize_t r = read(0, &c, 1);
    say("  background read: %s\n", r < 0 ? errno_name(errno) : "data");
}

static void take_terminal(void)
{
    int r = tcsetpgrp(0, getpgrp());
    say("  tcsetpgrp of its own group: %s, foreground now %s\n", r < 0 ? errno_name(errno) : "ok",
        tcgetpgrp(0) == getpgrp() ? "itself" : "another group");
    r = tcsetpgrp(0, getsid(0));
    say("  gives the terminal back: %s\n", r < 0 ? errno_name(errno) : "ok");
}

static void ignore_ttou_and_take(void)
{
    signal(SIGTTOU, SIG_IGN);
    take_terminal();
}

static void write_tty(void)
{
    ssize_t r = write(1, "", 0);
    r = write(2, "x\b \b", 4);
    say("  background write: %s\n", r < 0 ? errno_name(errno) : "written");
}

static void ignore_ttou_and_write(void)
{
    signal(SIGTTOU, SIG_IGN);
    write_tty();
}

static void ignore_ttin_and_read(void)
{
    signal(SIGTTIN, SIG_IGN);
    read_tty();
}

static void block_ttin_and_read(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTTIN);
    sigprocmask(SIG_BLOCK, &s, NULL);
    read_tty();
}

/* A child that makes a session of its own: the terminal is not its
 * controlling terminal any more. */
static void new_session(void)
{
    say("a process in a new session\n");
    pid_t pid = fork();
    if (pid == 0) {
        pid_t sid = setsid();
        say("  setsid: %s\n", sid < 0 ? errno_name(errno) : "ok");
        errno = 0;
        pid_t fg = tcgetpgrp(0);
        say("  tcgetpgrp of the old terminal: %s\n", fg < 0 ? errno_name(errno) : "a group");
        int r = tcsetpgrp(0, getpgrp());
        say("  tcsetpgrp of the old terminal: %s\n", r < 0 ? errno_name(errno) : "ok");
        char c;
        int fl = fcntl(0, F_GETFL);
        fcntl(0, F_SETFL, fl | O_NONBLOCK);
        ssize_t n = read(0, &c, 1);
        fcntl(0, F_SETFL, fl);
        say("  a read of it (non-blocking, nothing typed): %s\n", n < 0 ? errno_name(errno) : "data");
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    say("  child: %s\n", how(st));
}

static void run(const char *what, void (*fn)(void), int give_terminal)
{
    int go, st;
    say("%s\n", what);
    pid_t pid = background(fn, &go);
    release(go);
    pid_t r = waitpid(pid, &st, WUNTRACED);
    say("  child: %s\n", r == pid ? how(st) : errno_name(errno));
    if (r == pid && WIFSTOPPED(st)) {
        if (give_terminal) {
            int t = tcsetpgrp(0, pid);
            say("  parent gives it the terminal: %s\n", t < 0 ? errno_name(errno) : "ok");
        }
        kill(-pid, give_terminal ? SIGCONT : SIGKILL);
        r = waitpid(pid, &st, WUNTRACED);
        say("  then: %s\n", r == pid ? how(st) : errno_name(errno));
        if (r == pid && WIFSTOPPED(st)) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
    }
    say("  foreground is the parent's group: %s\n", tcgetpgrp(0) == getpgrp() ? "yes" : "no");
}

/* What the processes at the other end of `fd` wrote, until they close it. */
static void relay(int fd)
{
    char buf[256];
    ssize_t n, len = 0;
    while ((n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += n;
    buf[len] = 0;
    close(fd);
    say("%s", buf);
}

/* A grandchild whose group is orphaned when its parent (the child) exits:
 * it reports through `rep`. */
static void orphan_checks(void)
{
    int rep[2];
    pipe(rep);
    pid_t child = fork();
    if (child == 0) {
        close(rep[0]);
        int go[2];
        pipe(go);
        pid_t parent = getpid();
        pid_t g = fork();
        if (g == 0) {
            char c;
            setpgid(0, 0);
            close(go[1]);
            read(go[0], &c, 1);
            while (getppid() == parent)       /* until the child has gone: reparented */
                usleep(1000);
            out = rep[1];
            raise(SIGTSTP);
            say("SIGTSTP in an orphaned group: not stopped\n");
            read_tty();
            _exit(0);
        }
        setpgid(g, g);
        close(go[0]);
        write(go[1], "g", 1);
        _exit(0);                             /* the grandchild goes on once reparented */
    }
    close(rep[1]);
    int st;
    waitpid(child, &st, 0);
    relay(rep[0]);
}

static int hup_pipe = -1;

static void on_hup(int sig)
{
    (void)sig;
    write(hup_pipe, "SIGHUP reached the stopped orphan\n", 34);
}

static void orphaned_with_a_stopped_member(void)
{
    int rep[2];
    pipe(rep);
    pid_t child = fork();
    if (child == 0) {
        close(rep[0]);
        pid_t g = fork();
        if (g == 0) {
            setpgid(0, 0);
            hup_pipe = rep[1];
            signal(SIGHUP, on_hup);
            raise(SIGSTOP);                   /* orphaned while stopped: SIGHUP, SIGCONT */
            write(rep[1], "and it was continued\n", 21);
            _exit(0);
        }
        setpgid(g, g);
        int st;
        waitpid(g, &st, WUNTRACED);           /* it is stopped: now leave it */
        _exit(0);
    }
    close(rep[1]);
    int st;
    waitpid(child, &st, 0);
    relay(rep[0]);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: jobctl OUT\n");
        return 2;
    }
    out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (out < 0) {
        perror(argv[1]);
        return 1;
    }
    if (!isatty(0) || tcgetpgrp(0) < 0) {
        say("no controlling terminal on stdin\n");
        return 1;
    }
    say("session leader: %s, foreground group is ours: %s\n", getsid(0) == getpid() ? "yes" : "no",
        tcgetpgrp(0) == getpgrp() ? "yes" : "no");
    say("tcgetsid is our session: %s\n", tcgetsid(0) == getsid(0) ? "yes" : "no");
    int p[2];
    pipe(p);
    errno = 0;
    say("tcgetpgrp of a pipe: %s\n", tcgetpgrp(p[0]) < 0 ? errno_name(errno) : "a group");
    close(p[0]);
    close(p[1]);
    int r = tcsetpgrp(0, -1);
    say("tcsetpgrp(-1): %s\n", r < 0 ? errno_name(errno) : "ok");
    r = tcsetpgrp(0, 0x3ffffff0);
    say("tcsetpgrp of no such group: %s\n", r < 0 ? errno_name(errno) : "ok");
    r = tcsetpgrp(0, getpgrp());
    say("tcsetpgrp of our own group: %s\n", r < 0 ? errno_name(errno) : "ok");

    run("a background group reads the terminal", read_tty, 0);
    run("... with SIGTTIN ignored", ignore_ttin_and_read, 0);
    run("... with SIGTTIN blocked", block_ttin_and_read, 0);
    run("a background group calls tcsetpgrp", take_terminal, 1);
    run("... with SIGTTOU ignored", ignore_ttou_and_take, 0);
    run("a background write without TOSTOP", write_tty, 0);
    struct termios t;
    tcgetattr(0, &t);
    t.c_lflag |= TOSTOP;
    r = tcsetattr(0, TCSANOW, &t);
    struct termios back;
    tcgetattr(0, &back);
    say("TOSTOP set: %s, read back: %s\n", r < 0 ? errno_name(errno) : "ok",
        back.c_lflag & TOSTOP ? "set" : "clear");
    run("a background write with TOSTOP", write_tty, 0);
    run("... with SIGTTOU ignored", ignore_ttou_and_write, 0);
    t.c_lflag &= ~TOSTOP;
    tcsetattr(0, TCSANOW, &t);
    new_session();
    say("an orphaned process group\n");
    orphan_checks();
    say("a process group orphaned while one of it is stopped\n");
    orphaned_with_a_stopped_member();
    say("done\n");
    return 0;
}
