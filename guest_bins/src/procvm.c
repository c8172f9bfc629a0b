/* procvm: process_vm_readv, process_vm_writev and kcmp between a parent and its
 * child — scattered into two local buffers, stopped at a PROT_NONE page
 * (the count so far), EFAULT on it alone, a write the child then sees, and
 * the argument checks; a child turned another user may not read its
 * parent. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
static char secret[64] = "child's own words";

static const char *kcmp_name(long r)
{
    if (r < 0)
        return strerror(errno);
    return r == 0 ? "same" : r == 1 || r == 2 ? "different (ordered)" : "different";
}
int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int ready[2], done[2];
    pipe(ready); pipe(done);
    char *ro = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(ro, "page one"); strcpy(ro + 4096, "page two");
    pid_t kid = fork();
    if (kid == 0) {
        strcpy(secret, "changed in the child");
        mprotect(ro + 4096, 4096, PROT_NONE);
        write(ready[1], "r", 1);
        char c; read(done[0], &c, 1);
        printf("child sees after writev: %s\n", secret);
        fflush(stdout);
        _exit(0);
    }
    char c; read(ready[0], &c, 1);
    char a[8], b[32];
    struct iovec local[2] = {{a, 7}, {b, 13}}, remote[1] = {{secret, 20}};
    ssize_t n = process_vm_readv(kid, local, 2, remote, 1, 0);
    printf("readv: %zd: %.7s|%.13s\n", n, a, b);
    char big[8192];
    struct iovec l1 = {big, 8192}, r1 = {ro, 8192};
    n = process_vm_readv(kid, &l1, 1, &r1, 1, 0);
    printf("readv across a PROT_NONE page: %zd (%s)\n", n, big);
    struct iovec r2 = {ro + 4096, 10};
    n = process_vm_readv(kid, &l1, 1, &r2, 1, 0);
    printf("readv of the PROT_NONE page: %s\n", n < 0 ? strerror(errno) : "read?");
    struct iovec w = {"WRITTEN by the parent", 22}, rw = {secret, 22};
    n = process_vm_writev(kid, &w, 1, &rw, 1, 0);
    printf("writev: %zd\n", n);
    printf("bad flags: %s\n", process_vm_readv(kid, local, 2, remote, 1, 1) < 0 ? strerror(errno) : "ok");
    printf("no such pid: %s\n", process_vm_readv(999999, local, 2, remote, 1, 0) < 0 ? strerror(errno) : "ok");
    /* kcmp: which resources parent and child share */
    pid_t me = getpid();
    int other = open("/dev/null", O_RDONLY), dupd = dup(0);
#define KCMP(a, b, t, i, j) kcmp_name(syscall(SYS_kcmp, a, b, t, i, j))
    printf("kcmp VM parent/child: %s, parent/itself: %s\n", KCMP(me, kid, 1, 0, 0), KCMP(me, me, 1, 0, 0));
    printf("kcmp FILES parent/child: %s\n", KCMP(me, kid, 2, 0, 0));
    printf("kcmp FILE inherited fd 0: %s, dup of it: %s, another open: %s\n",
           KCMP(me, kid, 0, 0, 0), KCMP(me, me, 0, 0, dupd), KCMP(me, me, 0, 0, other));
    printf("kcmp FILE of a closed fd: %s\n", KCMP(me, me, 0, 0, 999));
    printf("kcmp bad type: %s\n", KCMP(me, me, 99, 0, 0));
    close(other);
    close(dupd);

    write(done[1], "d", 1);
    waitpid(kid, NULL, 0);

    /* another user's process: refused, as ptrace would be */
    pid_t parent = getpid();
    kid = fork();
    if (kid == 0) {
        int dropped = getuid() == 0 && setuid(65534) == 0;
        char x[8];
        struct iovec lx = {x, 8}, rx = {secret, 8};
        ssize_t r = process_vm_readv(parent, &lx, 1, &rx, 1, 0);
        printf("%s reads its parent's memory: %s\n", dropped ? "a child turned nobody" : "a child",
               r < 0 ? strerror(errno) : "read");
        fflush(stdout);
        _exit(0);
    }
    waitpid(kid, NULL, 0);
    return 0;
}
