/* creds: the set*id family with Linux's permission rules, supplementary
 * groups, fsuid, and the capability sets as they follow the ids — checked
 * in children so that each starts as the caller.  Run as root, a child
 * drops to other ids and finds what it may no longer do; run as another
 * user, it finds what it may not do.  One line per check. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

/* <linux/capability.h>'s, which musl's headers lack */
struct cap_header { unsigned version; int pid; };
struct cap_data { unsigned effective, permitted, inheritable; };
#define CAP_V3 0x20080522

static const char *res(long r) { return r < 0 ? errno_name(errno) : "ok"; }

static void ids(const char *what)
{
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    unsigned fs = setfsuid(-1);
    printf("%s: uid %u %u %u fsuid %u, gid %u %u %u\n", what, r, e, s, fs, gr, ge, gs);
}

static void caps(const char *what)
{
    struct cap_header h = {CAP_V3, 0};
    struct cap_data d[2];
    memset(d, 0, sizeof d);
    syscall(SYS_capget, &h, d);
    printf("%s: effective %s, permitted %s\n", what, d[0].effective ? "some" : "none",
           d[0].permitted ? "some" : "none");
}

static void as_root(void)
{
    caps("root");
    gid_t g[2] = {5, 6}, back[8];
    printf("setgroups: %s", res(setgroups(2, g)));
    int n = getgroups(8, back);
    printf(", getgroups %d: %u %u\n", n, back[0], back[1]);
    printf("setresgid(100, 100, 100): %s\n", res(setresgid(100, 100, 100)));
    printf("seteuid(1000): %s\n", res(seteuid(1000)));
    ids("after seteuid");
    caps("effective 1000, saved 0");
    printf("seteuid(0) back: %s\n", res(seteuid(0)));
    printf("setresuid(1000, 1000, 1000): %s\n", res(setresuid(1000, 1000, 1000)));
    ids("dropped");
    caps("dropped");
    printf("setuid(0): %s\n", res(setuid(0)));
    printf("seteuid(0): %s\n", res(seteuid(0)));
    printf("setgroups: %s\n", res(setgroups(0, NULL)));
    printf("setfsuid(0) keeps %u\n", setfsuid(0));
    ids("still");
}

static void as_user(void)
{
    uid_t me = getuid();
    printf("setuid(0): %s\n", res(setuid(0)));
    printf("setresuid(-1, 0, -1): %s\n", res(setresuid(-1, 0, -1)));
    printf("setuid(self): %s\n", res(setuid(me)));
    printf("setgroups: %s\n", res(setgroups(0, NULL)));
    caps("user");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t c = fork();
    if (c == 0) {
        if (getuid() == 0)
            as_root();
        else
            as_user();
        _exit(0);
    }
    waitpid(c, NULL, 0);
    ids("the parent, unchanged");
    printf("done\n");
    return 0;
}
