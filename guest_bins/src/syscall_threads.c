/* syscall_threads [NTHREADS] [ITERS]: NTHREADS threads (default 4) each make
 * ITERS getpid calls (default 2000) and ITERS/10 mmap/munmap pairs, all
 * released together by a barrier — a syscall-heavy load for
 * benchmarks/scaling.py.  Prints the number of calls made. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static long iters;
static pthread_barrier_t start;

static void *work(void *arg) {
    (void)arg;
    pthread_barrier_wait(&start);
    for (long i = 0; i < iters; i++) {
        syscall(SYS_getpid);
        if (i % 10 == 0) {
            void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) { perror("mmap"); exit(1); }
            munmap(p, 4096);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4;
    iters = argc > 2 ? atol(argv[2]) : 2000;
    pthread_t t[256];
    if (n < 1 || n > 256) { fprintf(stderr, "1..256 threads\n"); return 2; }
    pthread_barrier_init(&start, NULL, n);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, work, NULL)) { perror("pthread_create"); return 1; }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    printf("%d threads, %ld getpid and %ld mmap/munmap each\n", n, iters, (iters + 9) / 10);
    return 0;
}
