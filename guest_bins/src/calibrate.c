/* calibrate: native micro-measurements for azemu's cost model.
 *
 * Run on the host (never under azemu) by `azemu calibrate`.  Each figure is
 * the median of 9 timed runs, in nanoseconds per operation, printed as
 * "name value" lines:
 *   cycle_ns          one cycle: a chain of dependent register adds (1-cycle latency)
 *   getpid_ns         a real getpid syscall (the `syscall` instruction)
 *   page_fault_ns     a minor page fault: the first write to a page of fresh
 *                     anonymous memory (frame allocation, zeroing, PTE)
 *   cow_fault_ns      a copy-on-write fault: the first write to a page shared
 *                     with a forked child (a 4 KiB copy)
 *   fork_ns           fork, the child _exits at once, the parent waits
 *   exec_ns           fork, the child execs this program (static) which exits
 *                     at once, the parent waits
 *   shootdown_ns      one TLB shootdown to one other core: an mprotect that
 *                     takes write permission away from a touched page while a
 *                     second thread of the process runs on another CPU, less
 *                     the same mprotect with no other thread (-1: one CPU)
 *   call_ns           a call to a non-inlined function and its return
 *   reg_ns            saving or restoring one register (one push, or one pop)
 *   lock_ns           acquiring and releasing an uncontended spin lock
 *   line_transfer_ns  one cache line moving between two cores (ping-pong);
 *                     -1 when fewer than two CPUs are available
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNS 9

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v) {
    qsort(v, RUNS, sizeof *v, cmp);
    return v[RUNS / 2];
}

static double per_op(void (*body)(long), long n) {
    double v[RUNS];
    body(n / 10);                       /* warm up */
    for (int r = 0; r < RUNS; r++) {
        double t = now();
        body(n);
        v[r] = (now() - t) / n;
    }
    return median(v);
}

/* 100 dependent adds per iteration, register to register: recent cores
 * (Golden Cove and later) fold chains of add-immediate in the renamer, several
 * a cycle, so an immediate operand would time the renamer, not the clock. */
static void adds(long n) {
    long x = 0, one = 1;
    for (long i = 0; i < n / 100; i++) {
        __asm__ volatile(".rept 100\n\tadd %1, %0\n\t.endr" : "+r"(x) : "r"(one));
    }
}

static void getpids(long n) {
    for (long i = 0; i < n; i++) {
        long r;
        __asm__ volatile("syscall" : "=a"(r) : "a"((long)SYS_getpid) : "rcx", "r11", "memory");
    }
}

__attribute__((noinline)) static long callee(long x) {
    __asm__ volatile("" : "+r"(x));
    return x + 1;
}
static long (*volatile callee_ptr)(long) = callee;

static void calls(long n) {
    long x = 0;
    for (long i = 0; i < n; i++)
        x = callee_ptr(x);
    __asm__ volatile("" : : "r"(x));
}

static void regs(long n) {             /* 14 registers pushed and popped per iteration */
    for (long i = 0; i < n / 14; i++) {
        __asm__ volatile(
            "push %%rbx; push %%rbp; push %%r12; push %%r13; push %%r14; push %%r15; push %%rsi\n\t"
            "push %%rdi; push %%r8; push %%r9; push %%r10; push %%r11; push %%rdx; push %%rcx\n\t"
            "pop %%rcx; pop %%rdx; pop %%r11; pop %%r10; pop %%r9; pop %%r8; pop %%rdi\n\t"
            "pop %%rsi; pop %%r15; pop %%r14; pop %%r13; pop %%r12; pop %%rbp; pop %%rbx"
            ::: "memory");
    }
}

static volatile int spin;

static void locks(long n) {
    for (long i = 0; i < n; i++) {
        while (__atomic_exchange_n(&spin, 1, __ATOMIC_ACQUIRE))
            ;
        __atomic_store_n(&spin, 0, __ATOMIC_RELEASE);
    }
}

/* Ping-pong: two threads on two CPUs take turns writing one cache line. */
static volatile long ball __attribute__((aligned(64)));
static long rounds;

static void pin(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    sched_setaffinity(0, sizeof s, &s);
}

static void *pong(void *arg) {
    pin(*(int *)arg);
    for (long i = 0; i < rounds; i++) {
        while (__atomic_load_n(&ball, __ATOMIC_ACQUIRE) != 2 * i + 1)
            ;
        __atomic_store_n(&ball, 2 * i + 2, __ATOMIC_RELEASE);
    }
    return NULL;
}

static double line_transfer(void) {
    cpu_set_t s;
    sched_getaffinity(0, sizeof s, &s);
    int cpus[2], k = 0;
    for (int c = 0; c < CPU_SETSIZE && k < 2; c++)
        if (CPU_ISSET(c, &s))
            cpus[k++] = c;
    if (k < 2)
        return -1;
    double v[RUNS];
    rounds = 200000;
    for (int r = 0; r < RUNS; r++) {
        pthread_t t;
        ball = 0;
        pin(cpus[0]);
        pthread_create(&t, NULL, pong, &cpus[1]);
        double t0 = now();
        for (long i = 0; i < rounds; i++) {
            while (__atomic_load_n(&ball, __ATOMIC_ACQUIRE) != 2 * i)
                ;
            __atomic_store_n(&ball, 2 * i + 1, __ATOMIC_RELEASE);
        }
        while (__atomic_load_n(&ball, __ATOMIC_ACQUIRE) != 2 * rounds)
            ;
        v[r] = (now() - t0) / (2.0 * rounds);     /* two transfers per round */
        pthread_join(t, NULL);
    }
    return median(v);
}

#define FAULT_PAGES 8192                 /* 32 MiB */

static double page_faults(void) {
    double v[RUNS];
    for (int r = 0; r < RUNS; r++) {
        char *p = mmap(NULL, FAULT_PAGES * 4096L, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        double t0 = now();
        for (long i = 0; i < FAULT_PAGES; i++)
            p[i * 4096] = 1;
        v[r] = (now() - t0) / FAULT_PAGES;
        munmap(p, FAULT_PAGES * 4096L);
    }
    return median(v);
}

static double cow_faults(void) {
    double v[RUNS];
    for (int r = 0; r < RUNS; r++) {
        char *p = mmap(NULL, FAULT_PAGES * 4096L, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        memset(p, 1, FAULT_PAGES * 4096L);
        int go[2];
        if (pipe(go))
            return -1;
        pid_t child = fork();
        if (child == 0) {                    /* keeps the frames shared, then goes */
            char c;
            if (read(go[0], &c, 1) < 0)
                _exit(1);
            _exit(0);
        }
        double t0 = now();
        for (long i = 0; i < FAULT_PAGES; i++)
            p[i * 4096] = 2;
        v[r] = (now() - t0) / FAULT_PAGES;
        if (write(go[1], "x", 1) < 0)
            return -1;
        waitpid(child, NULL, 0);
        close(go[0]);
        close(go[1]);
        munmap(p, FAULT_PAGES * 4096L);
    }
    return median(v);
}

static void forks(long n) {
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        waitpid(pid, NULL, 0);
    }
}

static void execs(long n) {
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", "calibrate", "--exit", (char *)0);
            _exit(127);
        }
        waitpid(pid, NULL, 0);
    }
}

static volatile int spinning;
static char *shared_page;

static void *toucher(void *arg) {
    pin(*(int *)arg);
    while (spinning)
        (void)*(volatile char *)shared_page;   /* keeps this CPU in the mm, with the entry */
    return NULL;
}

static double mprotect_flips(long n) {
    double t0 = now();
    for (long i = 0; i < n; i++) {
        mprotect(shared_page, 4096, PROT_READ);
        mprotect(shared_page, 4096, PROT_READ | PROT_WRITE);
        shared_page[0] = (char)i;
    }
    return (now() - t0) / n;
}

static cpu_set_t initial_cpus;          /* before any pinning */

static double shootdown(void) {
    cpu_set_t s = initial_cpus;
    int cpus[2], k = 0;
    for (int c = 0; c < CPU_SETSIZE && k < 2; c++)
        if (CPU_ISSET(c, &s))
            cpus[k++] = c;
    if (k < 2)
        return -1;
    shared_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    shared_page[0] = 1;
    pin(cpus[0]);
    double alone[RUNS], with[RUNS];
    for (int r = 0; r < RUNS; r++) {
        alone[r] = mprotect_flips(20000);
        pthread_t t;
        spinning = 1;
        pthread_create(&t, NULL, toucher, &cpus[1]);
        usleep(1000);
        with[r] = mprotect_flips(20000);
        spinning = 0;
        pthread_join(t, NULL);
    }
    munmap(shared_page, 4096);
    double d = median(with) - median(alone);
    return d > 0 ? d : 0;                    /* one flip = one shootdown (the R one) */
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--exit") == 0)
        return 0;                            /* exec_ns's program */
    sched_getaffinity(0, sizeof initial_cpus, &initial_cpus);
    printf("cycle_ns %.4f\n", per_op(adds, 20000000));
    printf("getpid_ns %.4f\n", per_op(getpids, 200000));
    printf("call_ns %.4f\n", per_op(calls, 20000000));
    printf("reg_ns %.4f\n", per_op(regs, 20000000) / 2);   /* push + pop = save + restore */
    printf("lock_ns %.4f\n", per_op(locks, 10000000));
    printf("line_transfer_ns %.4f\n", line_transfer());
    printf("page_fault_ns %.4f\n", page_faults());
    printf("cow_fault_ns %.4f\n", cow_faults());
    printf("fork_ns %.4f\n", per_op(forks, 200));
    printf("exec_ns %.4f\n", per_op(execs, 100));
    printf("shootdown_ns %.4f\n", shootdown());
    return 0;
}
