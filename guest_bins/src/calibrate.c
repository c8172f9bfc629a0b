/* calibrate: native micro-measurements for azemu's cost model.
 *
 * Run on the host (never under azemu) by `azemu calibrate`.  Each figure is
 * the median of 9 timed runs, in nanoseconds per operation, printed as
 * "name value" lines:
 *   cycle_ns          one cycle: a chain of dependent adds (1-cycle latency)
 *   getpid_ns         a real getpid syscall (the `syscall` instruction)
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
#include <sys/syscall.h>
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

static void adds(long n) {             /* 100 dependent adds per iteration */
    long x = 0;
    for (long i = 0; i < n / 100; i++) {
        __asm__ volatile(".rept 100\n\tadd $1, %0\n\t.endr" : "+r"(x));
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

int main(void) {
    printf("cycle_ns %.4f\n", per_op(adds, 20000000));
    printf("getpid_ns %.4f\n", per_op(getpids, 200000));
    printf("call_ns %.4f\n", per_op(calls, 20000000));
    printf("reg_ns %.4f\n", per_op(regs, 20000000) / 2);   /* push + pop = save + restore */
    printf("lock_ns %.4f\n", per_op(locks, 10000000));
    printf("line_transfer_ns %.4f\n", line_transfer());
    return 0;
}
