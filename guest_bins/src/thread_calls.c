/* thread_calls [NTHREADS] [ITERS]: NTHREADS threads (default 8) each make
 * ITERS rounds (default 300) of syscalls whose results depend only on the
 * thread's own arguments, and check every result: lseek on its own open file
 * to its own offsets, write and read of its own pattern through its own
 * pipe, mmap of its own size filled and checked, gettid through syscall()
 * stable, and now and then a sched_yield and a short nanosleep (a call that
 * waits while other threads run).  In a source-compatible unikernel image
 * every one of these is a libOS call: a thread that saw another's arguments
 * or result would fail a check.  Prints one line per failure and a summary. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long iters;
static const char *self_path;
static pthread_barrier_t start;
static pthread_mutex_t report = PTHREAD_MUTEX_INITIALIZER;

static long fail(int who, const char *what, long got, long want) {
    pthread_mutex_lock(&report);
    printf("thread %d: %s gave %ld, expected %ld\n", who, what, got, want);
    pthread_mutex_unlock(&report);
    return 1;
}

static void *work(void *arg) {
    int me = (int)(long)arg;
    long bad = 0;
    int fd = open(self_path, O_RDONLY);
    int p[2];
    if (fd < 0 || pipe(p) != 0) {
        perror("open/pipe");
        return (void *)1L;
    }
    long tid = syscall(SYS_gettid);
    pthread_barrier_wait(&start);
    for (long i = 0; i < iters && bad < 5; i++) {
        long off = me * 4096 + i;
        long r = lseek(fd, off, SEEK_SET);
        if (r != off) bad += fail(me, "lseek", r, off);
        char out[64], in[64];
        size_t n = 1 + (size_t)(me + i) % 60;
        memset(out, 'a' + me % 26, n);
        r = write(p[1], out, n);
        if (r != (long)n) bad += fail(me, "write", r, (long)n);
        r = read(p[0], in, sizeof in);
        if (r != (long)n || memcmp(in, out, n)) bad += fail(me, "read", r, (long)n);
        size_t len = 4096 * (size_t)(1 + me % 4);
        unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            bad += fail(me, "mmap", -1, (long)len);
        } else {
            memset(m, me, len);
            for (size_t k = 0; k < len; k += 512)
                if (m[k] != (unsigned char)me) { bad += fail(me, "mmap contents", m[k], me); break; }
            r = munmap(m, len);
            if (r != 0) bad += fail(me, "munmap", r, 0);
        }
        r = syscall(SYS_gettid);
        if (r != tid) bad += fail(me, "gettid", r, tid);
        if (i % 50 == 7) {
            struct timespec ts = {0, 1000};
            if (sched_yield() != 0) bad += fail(me, "sched_yield", -1, 0);
            if (nanosleep(&ts, NULL) != 0) bad += fail(me, "nanosleep", -1, 0);
        }
    }
    close(fd);
    close(p[0]);
    close(p[1]);
    return (void *)bad;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 8;
    iters = argc > 2 ? atol(argv[2]) : 300;
    self_path = argv[0];
    pthread_t t[64];
    if (n < 1 || n > 64) { fprintf(stderr, "1..64 threads\n"); return 2; }
    pthread_barrier_init(&start, NULL, n);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, work, (void *)(long)i)) { perror("pthread_create"); return 1; }
    long bad = 0;
    for (int i = 0; i < n; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    printf("%d threads x %ld rounds of lseek, write, read, mmap, munmap, gettid: %s\n",
           n, iters, bad ? "FAILED" : "every result ok");
    return bad != 0;
}
