/* partition_spy: one partition of a machine trying to reach another's data
 * (tests/test_isolation.py).
 *
 *   partition_spy hold MARKER SECONDS   keep MARKER in memory for SECONDS
 *   partition_spy spy MARKER PATH...    look for MARKER: in each PATH (read),
 *                                       in every process's memory that /proc
 *                                       shows, in /dev/shm; and try to append
 *                                       to each PATH
 *
 * The spy prints a line for everything it reached ("FOUND ...", "WROTE ...")
 * and "spy: done" at the end; a partition that is isolated prints only that. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int contains(const char *buf, size_t n, const char *marker) {
    size_t m = strlen(marker);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(buf + i, marker, m) == 0)
            return 1;
    return 0;
}

static int file_has(const char *path, const char *marker) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    static char buf[1 << 16];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n > 0 && contains(buf, (size_t)n, marker);
}

/* Every readable region of process `pid`, through /proc/PID/maps and mem. */
static void scan_process(const char *pid, const char *marker) {
    char path[300];
    snprintf(path, sizeof path, "/proc/%s/maps", pid);
    FILE *maps = fopen(path, "r");
    if (!maps)
        return;
    snprintf(path, sizeof path, "/proc/%s/mem", pid);
    int mem = open(path, O_RDONLY);
    char line[512];
    static char buf[1 << 16];
    while (mem >= 0 && fgets(line, sizeof line, maps)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r')
            continue;
        for (unsigned long at = lo; at < hi; at += sizeof buf) {
            size_t want = hi - at < sizeof buf ? hi - at : sizeof buf;
            ssize_t n = pread(mem, buf, want, (off_t)at);
            if (n <= 0)
                break;
            if (contains(buf, (size_t)n, marker) && strcmp(pid, "self") != 0) {
                printf("FOUND in the memory of process %s\n", pid);
                break;
            }
        }
    }
    if (mem >= 0)
        close(mem);
    fclose(maps);
}

static void scan_dir_files(const char *dir, const char *marker) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && file_has(path, marker))
            printf("FOUND in %s\n", path);
    }
    closedir(d);
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "hold") == 0) {
        size_t n = strlen(argv[2]);
        char *copy = malloc(n + 1);
        memcpy(copy, argv[2], n + 1);
        struct timespec ts = {atoi(argv[3]), 0};
        nanosleep(&ts, NULL);
        printf("held %zu bytes\n", strlen(copy));
        return 0;
    }
    if (argc < 3 || strcmp(argv[1], "spy") != 0) {
        fprintf(stderr, "usage: partition_spy hold MARKER SECONDS | spy MARKER PATH...\n");
        return 2;
    }
    /* the marker, kept apart from argv so that our own memory does not count */
    char marker[128];
    snprintf(marker, sizeof marker, "%s", argv[2]);
    for (size_t i = 0; marker[i]; i++)
        argv[2][i] = 'x';
    for (int i = 3; i < argc; i++) {
        if (file_has(argv[i], marker))
            printf("FOUND in %s\n", argv[i]);
        int fd = open(argv[i], O_WRONLY | O_APPEND);
        if (fd >= 0 && write(fd, "spy was here\n", 13) == 13)
            printf("WROTE %s\n", argv[i]);
        if (fd >= 0)
            close(fd);
    }
    DIR *proc = opendir("/proc");
    struct dirent *e;
    while (proc && (e = readdir(proc)))
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && atoi(e->d_name) != getpid())
            scan_process(e->d_name, marker);
    if (proc)
        closedir(proc);
    scan_dir_files("/dev/shm", marker);
    scan_dir_files("/tmp", marker);
    printf("spy: done\n");
    return 0;
}
