/* proc_bench OP N [MIB]: N process operations in a loop, timed by the program
 * itself (CLOCK_MONOTONIC around the loop); prints "ns/op: X" on stderr.
 * benchmarks/procs.py runs it natively, under qemu-user and under azemu.
 *   fork   - fork, the child _exits at once, the parent waits
 *   exec   - fork, the child execs this program again as `proc_bench true`
 *            (a static program that exits at once), the parent waits
 *   vfork  - vfork + the same exec, wait
 *   true   - exit 0 (the exec target)
 * MIB (default 0) MiB are allocated and written before the loop, so the cost of
 * fork with a large touched address space can be compared (copy-on-write). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "true"))
        return 0;
    if (argc < 3) { fprintf(stderr, "usage: proc_bench fork|exec|vfork N [MIB]\n"); return 2; }
    const char *op = argv[1];
    long n = atol(argv[2]), mib = argc > 3 ? atol(argv[3]) : 0;
    char *mem = NULL;
    if (mib) {
        mem = malloc(mib << 20);
        if (!mem) { perror("malloc"); return 1; }
        memset(mem, 1, mib << 20);
    }
    double t0 = now();
    for (long i = 0; i < n; i++) {
        pid_t c;
        if (!strcmp(op, "fork")) {
            if ((c = fork()) == 0) _exit(0);
        } else if (!strcmp(op, "exec")) {
            if ((c = fork()) == 0) { execl("/proc/self/exe", "proc_bench", "true", (char *)0); _exit(127); }
        } else if (!strcmp(op, "vfork")) {
            if ((c = vfork()) == 0) { execl("/proc/self/exe", "proc_bench", "true", (char *)0); _exit(127); }
        } else {
            fprintf(stderr, "proc_bench: unknown op %s\n", op);
            return 2;
        }
        int st;
        if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st)) {
            fprintf(stderr, "proc_bench: %s failed at %ld\n", op, i);
            return 1;
        }
    }
    double dt = now() - t0;
    fprintf(stderr, "ns/op: %.1f\n", n ? dt / n : 0.0);
    printf("%s: %ld ops, %ld MiB touched\n", op, n, mib);
    return mem && mem[0] != 1;
}
