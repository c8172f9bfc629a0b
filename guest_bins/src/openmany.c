/* openmany DIR [N] [PHASES]: the path-walk workload of benchmarks/pathwalk.py.
 * Makes DIR/sub/dir (if needed) and N files in it, then runs the phases named
 * by the letters of PHASES (default "cosalu"), each over all N files, and
 * prints one line per phase: "<phase> <N> <seconds>".
 *   c  create: open(O_CREAT|O_WRONLY|O_TRUNC), write 8 bytes, close
 *   o  open, fstat, close (by absolute path)
 *   s  stat (absolute path)
 *   a  fstatat relative to an fd of the directory
 *   l  open all N at once (RLIMIT_NOFILE raised to fit), then close them all
 *   u  unlink
 * Exit status 0 when every call succeeded, 1 otherwise. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const char *what, const char *path) {
    fprintf(stderr, "openmany: %s %s: %s\n", what, path, strerror(errno));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: openmany DIR [N] [PHASES]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    const char *phases = argc > 3 ? argv[3] : "cosalu";
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/sub", argv[1]);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/sub/dir", argv[1]);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return fail("mkdir", dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0)
        return fail("open", dir);
    int *fds = calloc(n, sizeof *fds);
    int bad = 0;
    for (const char *ph = phases; *ph; ph++) {
        double t0 = now();
        for (int i = 0; i < n && !bad; i++) {
            char name[32];
            struct stat st;
            snprintf(name, sizeof name, "file%05d.txt", i);
            snprintf(path, sizeof path, "%s/%s", dir, name);
            if (*ph == 'c') {
                int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
                if (fd < 0 || write(fd, "01234567", 8) != 8)
                    bad = fail("create", path);
                if (fd >= 0)
                    close(fd);
            } else if (*ph == 'o') {
                int fd = open(path, O_RDONLY);
                if (fd < 0 || fstat(fd, &st) < 0 || st.st_size != 8)
                    bad = fail("open", path);
                if (fd >= 0)
                    close(fd);
            } else if (*ph == 's') {
                if (stat(path, &st) < 0 || st.st_size != 8)
                    bad = fail("stat", path);
            } else if (*ph == 'a') {
                if (fstatat(dfd, name, &st, 0) < 0 || st.st_size != 8)
                    bad = fail("fstatat", name);
            } else if (*ph == 'l') {
                if (i == 0) {
                    struct rlimit rl;
                    getrlimit(RLIMIT_NOFILE, &rl);
                    if (rl.rlim_cur < (rlim_t)n + 16) {
                        rl.rlim_cur = rl.rlim_max < (rlim_t)n + 16 ? rl.rlim_max : (rlim_t)n + 16;
                        setrlimit(RLIMIT_NOFILE, &rl);
                    }
                }
                if ((fds[i] = open(path, O_RDONLY)) < 0)
                    bad = fail("open (held)", path);
                if (i == n - 1 || bad)
                    for (int j = 0; j <= i; j++)
                        if (fds[j] >= 0)
                            close(fds[j]);
            } else if (*ph == 'u') {
                if (unlink(path) < 0)
                    bad = fail("unlink", path);
            } else {
                fprintf(stderr, "openmany: unknown phase %c\n", *ph);
                return 2;
            }
        }
        printf("%c %d %.6f\n", *ph, n, now() - t0);
        fflush(stdout);
        if (bad)
            return 1;
    }
    if (strchr(phases, 'u')) {
        rmdir(dir);
        snprintf(dir, sizeof dir, "%s/sub", argv[1]);
        rmdir(dir);
    }
    return 0;
}
