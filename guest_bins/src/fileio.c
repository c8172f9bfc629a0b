/* fileio: file and directory syscalls inside a given (empty) directory.
 * Usage: fileio DIR
 * Leaves behind: a.txt, b.txt, link_to_a -> a.txt, sub/one.txt, sub/three.txt
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, what)                                                  \
    do {                                                                   \
        if (!(cond)) {                                                     \
            printf("FAIL: %s (errno=%d)\n", what, errno);                  \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static void print_data(const char *label, const char *buf, ssize_t n)
{
    printf("%s: %zd bytes: \"", label, n);
    for (ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\n')
            printf("\\n");
        else if (c < 32 || c > 126)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    printf("\"\n");
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(const char *path, const char *label)
{
    DIR *d = opendir(path);
    CHECK(d != NULL, "opendir");
    if (!d)
        return;
    char *names[64];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n < 64)
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmpstr);
    printf("listing %s: %d entries:", label, n);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

static const char *accmode_name(int fl)
{
    switch (fl & O_ACCMODE) {
    case O_RDONLY: return "O_RDONLY";
    case O_WRONLY: return "O_WRONLY";
    case O_RDWR: return "O_RDWR";
    default: return "?";
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    char path[4096];
    char buf[256];
    ssize_t n;

    /* 1. create + write */
    snprintf(path, sizeof path, "%s/a.txt", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0, "open a.txt for writing");
    printf("open a.txt O_CREAT|O_WRONLY|O_TRUNC: %s\n", fd >= 0 ? "ok" : "failed");
    const char *lines[] = {"line one\n", "line two\n", "line three\n", "line four\n"};
    size_t total = 0;
    for (int i = 0; i < 4; i++) {
        n = write(fd, lines[i], strlen(lines[i]));
        CHECK(n == (ssize_t)strlen(lines[i]), "write");
        total += (size_t)n;
    }
    printf("write: %zu bytes in 4 writes\n", total);

    /* 2. pwrite at an offset (overwrites "two" with "TWO") */
    n = pwrite(fd, "TWO", 3, 14);
    CHECK(n == 3, "pwrite");
    printf("pwrite at offset 14: %zd\n", n);
    off_t pos = lseek(fd, 0, SEEK_CUR);
    printf("file offset after pwrite (unchanged): %ld\n", (long)pos);
    CHECK(close(fd) == 0, "close");
    printf("close: ok\n");

    /* 3. reopen read-only, lseek, read, pread */
    fd = open(path, O_RDONLY);
    CHECK(fd >= 0, "open a.txt read-only");
    printf("reopen O_RDONLY: %s\n", fd >= 0 ? "ok" : "failed");
    n = read(fd, buf, 9);
    print_data("read first 9", buf, n);
    pos = lseek(fd, 5, SEEK_CUR);
    printf("lseek(5, SEEK_CUR) -> %ld\n", (long)pos);
    n = read(fd, buf, 5);
    print_data("read 5", buf, n);
    pos = lseek(fd, -10, SEEK_END);
    printf("lseek(-10, SEEK_END) -> %ld\n", (long)pos);
    n = read(fd, buf, sizeof buf);
    print_data("read to end", buf, n);
    n = read(fd, buf, sizeof buf);
    printf("read at EOF: %zd\n", n);
    pos = lseek(fd, 0, SEEK_SET);
    printf("lseek(0, SEEK_SET) -> %ld\n", (long)pos);
    n = read(fd, buf, sizeof buf);
    print_data("read all", buf, n);
    n = pread(fd, buf, 8, 9);
    print_data("pread 8 at 9", buf, n);
    printf("offset after pread: %ld\n", (long)lseek(fd, 0, SEEK_CUR));

    /* 4. fstat / stat */
    struct stat st;
    int r = fstat(fd, &st);
    printf("fstat: ret=%d size=%ld regular=%d\n", r, (long)st.st_size,
           S_ISREG(st.st_mode) ? 1 : 0);
    close(fd);
    r = stat(path, &st);
    printf("stat: ret=%d size=%ld regular=%d\n", r, (long)st.st_size,
           S_ISREG(st.st_mode) ? 1 : 0);
    r = stat(dir, &st);
    printf("stat dir: ret=%d isdir=%d\n", r, S_ISDIR(st.st_mode) ? 1 : 0);
    snprintf(path, sizeof path, "%s/does-not-exist", dir);
    errno = 0;
    r = stat(path, &st);
    printf("stat missing: ret=%d enoent=%s\n", r, errno == ENOENT ? "yes" : "no");

    /* 5. writev / readv */
    snprintf(path, sizeof path, "%s/b.txt", dir);
    fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(fd >= 0, "open b.txt");
    struct iovec iov[3] = {
        {(void *)"alpha ", 6}, {(void *)"beta ", 5}, {(void *)"gamma\n", 6}};
    n = writev(fd, iov, 3);
    printf("writev 3 iovecs: %zd\n", n);
    lseek(fd, 0, SEEK_SET);
    char r1[4], r2[7], r3[32];
    memset(r3, 0, sizeof r3);
    struct iovec riov[3] = {{r1, sizeof r1}, {r2, sizeof r2}, {r3, sizeof r3}};
    n = readv(fd, riov, 3);
    printf("readv: %zd\n", n);
    print_data("  iov0", r1, sizeof r1);
    print_data("  iov1", r2, sizeof r2);
    print_data("  iov2", r3, n - (ssize_t)(sizeof r1 + sizeof r2));
    close(fd);

    /* 6. subdirectory with stdio files */
    snprintf(path, sizeof path, "%s/sub", dir);
    r = mkdir(path, 0755);
    printf("mkdir sub: %d\n", r);
    errno = 0;
    r = mkdir(path, 0755);
    printf("mkdir sub again: %d eexist=%s\n", r, errno == EEXIST ? "yes" : "no");
    const char *subnames[] = {"one.txt", "two.txt", "three.txt"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/sub/%s", dir, subnames[i]);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL, "fopen");
        if (f) {
            fprintf(f, "file %d: %s\n", i + 1, subnames[i]);
            for (int j = 0; j <= i; j++)
                fprintf(f, "%d squared is %d\n", j, j * j);
            fclose(f);
        }
        printf("fopen/fprintf sub/%s: %s\n", subnames[i], f ? "ok" : "failed");
    }
    snprintf(path, sizeof path, "%s/sub/three.txt", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char line[128];
        while (fgets(line, sizeof line, f))
            printf("  sub/three.txt: %s", line);
        fclose(f);
    }

    /* 7. directory listings */
    list_dir(dir, "DIR");
    snprintf(path, sizeof path, "%s/sub", dir);
    list_dir(path, "DIR/sub");

    /* 8. rename + unlink */
    char path2[4096];
    snprintf(path, sizeof path, "%s/sub/one.txt", dir);
    snprintf(path2, sizeof path2, "%s/sub/uno.txt", dir);
    r = rename(path, path2);
    printf("rename sub/one.txt -> sub/uno.txt: %d\n", r);
    snprintf(path, sizeof path, "%s/sub/two.txt", dir);
    r = unlink(path);
    printf("unlink sub/two.txt: %d\n", r);
    errno = 0;
    r = unlink(path);
    printf("unlink again: %d enoent=%s\n", r, errno == ENOENT ? "yes" : "no");
    snprintf(path, sizeof path, "%s/sub", dir);
    list_dir(path, "DIR/sub");

    /* 9. access */
    snprintf(path, sizeof path, "%s/a.txt", dir);
    printf("access a.txt F_OK: %d\n", access(path, F_OK));
    printf("access a.txt R_OK|W_OK: %d\n", access(path, R_OK | W_OK));
    snprintf(path, sizeof path, "%s/sub/two.txt", dir);
    errno = 0;
    r = access(path, F_OK);
    printf("access sub/two.txt F_OK: %d enoent=%s\n", r, errno == ENOENT ? "yes" : "no");

    /* 10. chdir + getcwd */
    r = chdir(dir);
    printf("chdir: %d\n", r);
    char cwd[4096];
    char *c = getcwd(cwd, sizeof cwd);
    int match = 0;
    if (c) {
        /* compare basename of cwd with basename of argv[1] */
        char want[4096];
        snprintf(want, sizeof want, "%s", dir);
        size_t wl = strlen(want);
        while (wl > 1 && want[wl - 1] == '/')
            want[--wl] = '\0';
        const char *wb = strrchr(want, '/');
        wb = wb ? wb + 1 : want;
        const char *cb = strrchr(cwd, '/');
        cb = cb ? cb + 1 : cwd;
        match = strcmp(wb, cb) == 0;
    }
    printf("getcwd: %s, basename matches: %s\n", c ? "ok" : "failed", match ? "yes" : "no");
    /* from here on use relative paths */
    r = stat("a.txt", &st);
    printf("stat relative a.txt: ret=%d size=%ld\n", r, (long)st.st_size);

    /* 11. dup / dup2 */
    fd = open("a.txt", O_WRONLY | O_APPEND);
    CHECK(fd >= 0, "open a.txt O_APPEND");
    int d1 = dup(fd);
    printf("dup: %s\n", d1 > fd ? "ok (higher fd)" : d1 >= 0 ? "ok" : "failed");
    n = write(d1, "via dup\n", 8);
    printf("write via dup: %zd\n", n);
    int d2 = dup2(fd, 42);
    printf("dup2(fd, 42): %d\n", d2);
    n = write(42, "via dup2\n", 9);
    printf("write via dup2: %zd\n", n);
    close(d1);
    close(42);
    close(fd);
    fd = open("a.txt", O_RDONLY);
    n = read(fd, buf, sizeof buf);
    print_data("a.txt now", buf, n);
    close(fd);

    /* 12. pipe */
    int pfd[2];
    r = pipe(pfd);
    printf("pipe: %d\n", r);
    n = write(pfd[1], "through the pipe", 16);
    printf("pipe write: %zd\n", n);
    n = read(pfd[0], buf, sizeof buf);
    print_data("pipe read", buf, n);
    close(pfd[1]);
    n = read(pfd[0], buf, sizeof buf);
    printf("pipe read after writer closed: %zd\n", n);
    close(pfd[0]);

    /* 13. fcntl */
    fd = open("b.txt", O_RDWR);
    int fl = fcntl(fd, F_GETFL);
    printf("F_GETFL: accmode=%s append=%d nonblock=%d\n", accmode_name(fl),
           !!(fl & O_APPEND), !!(fl & O_NONBLOCK));
    r = fcntl(fd, F_SETFL, fl | O_APPEND | O_NONBLOCK);
    fl = fcntl(fd, F_GETFL);
    printf("F_SETFL(+O_APPEND|O_NONBLOCK): %d -> accmode=%s append=%d nonblock=%d\n", r,
           accmode_name(fl), !!(fl & O_APPEND), !!(fl & O_NONBLOCK));
    int fdfl = fcntl(fd, F_GETFD);
    printf("F_GETFD: %d\n", fdfl);
    r = fcntl(fd, F_SETFD, FD_CLOEXEC);
    fdfl = fcntl(fd, F_GETFD);
    printf("F_SETFD(FD_CLOEXEC): %d -> F_GETFD: %d\n", r, fdfl);
    int d3 = fcntl(fd, F_DUPFD, 100);
    printf("F_DUPFD(100): %d, cloexec on dup: %d\n", d3, fcntl(d3, F_GETFD));
    close(d3);
    close(fd);

    /* 14. symlink / readlink / lstat */
    r = symlink("a.txt", "link_to_a");
    printf("symlink link_to_a -> a.txt: %d\n", r);
    char lbuf[256];
    n = readlink("link_to_a", lbuf, sizeof lbuf - 1);
    if (n >= 0)
        lbuf[n] = '\0';
    printf("readlink: %zd \"%s\"\n", n, n >= 0 ? lbuf : "");
    r = lstat("link_to_a", &st);
    printf("lstat link: ret=%d islnk=%d\n", r, S_ISLNK(st.st_mode) ? 1 : 0);
    r = stat("link_to_a", &st);
    printf("stat via link: ret=%d regular=%d size=%ld\n", r, S_ISREG(st.st_mode) ? 1 : 0,
           (long)st.st_size);
    errno = 0;
    n = readlink("a.txt", lbuf, sizeof lbuf);
    printf("readlink on regular file: %zd einval=%s\n", n, errno == EINVAL ? "yes" : "no");

    /* final listing */
    list_dir(".", ".");
    list_dir("sub", "sub");

    printf("fileio: %s\n", failures ? "FAILED" : "done");
    return failures ? 1 : 0;
}
