/* fsprobe OP ARGS... [ -- OP ARGS ...]: performs file-system operations and
 * prints one line per operation: "op args: ret=R errno=NAME".  Used to compare
 * path resolution under `azemu exec --root DIR` with a real chroot(DIR).
 * Operations:
 *   open PATH | creat PATH | opendir PATH | stat PATH | lstat PATH
 *   readlink PATH | mkdir PATH | rmdir PATH | unlink PATH | rename A B
 *   link A B | symlink TARGET PATH | chmod PATH | chdir PATH | getcwd
 *   read PATH (prints the first line of the file) | list PATH (sorted names)
 *   atopen DIR REL (openat relative to an fd of DIR) | atmkdir DIR REL
 *   atrename DIR REL NEW (renameat from DIR to NEW)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *ename(int e) {
    switch (e) {
    case 0: return "0"; case ENOENT: return "ENOENT"; case EACCES: return "EACCES";
    case EEXIST: return "EEXIST"; case ENOTDIR: return "ENOTDIR"; case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP"; case ENAMETOOLONG: return "ENAMETOOLONG"; case EXDEV: return "EXDEV";
    case EROFS: return "EROFS"; case EPERM: return "EPERM"; case EINVAL: return "EINVAL";
    case ENOTEMPTY: return "ENOTEMPTY"; case EBUSY: return "EBUSY"; case EBADF: return "EBADF";
    default: { static char b[32]; snprintf(b, sizeof b, "E%d", e); return b; }
    }
}

static void report(const char *what, const char *a, const char *b, long ret) {
    printf("%s %s%s%s: ret=%ld errno=%s\n", what, a ? a : "", b ? " " : "", b ? b : "",
           ret < 0 ? -1L : ret, ret < 0 ? ename(errno) : "0");
}

static int cmp(const void *x, const void *y) { return strcmp(*(char **)x, *(char **)y); }

int main(int argc, char **argv) {
    int i = 1;
    while (i < argc) {
        const char *op = argv[i++];
        const char *a = i < argc ? argv[i] : NULL, *b = i + 1 < argc ? argv[i + 1] : NULL;
        const char *c = i + 2 < argc ? argv[i + 2] : NULL;
        long r;
        struct stat st;
        char buf[4096];
        errno = 0;
        if (!strcmp(op, "open")) { r = open(a, O_RDONLY); report(op, a, NULL, r < 0 ? -1 : 0); if (r >= 0) close(r); i += 1; }
        else if (!strcmp(op, "creat")) { r = open(a, O_CREAT | O_WRONLY, 0644); report(op, a, NULL, r < 0 ? -1 : 0); if (r >= 0) close(r); i += 1; }
        else if (!strcmp(op, "opendir")) { r = open(a, O_RDONLY | O_DIRECTORY); report(op, a, NULL, r < 0 ? -1 : 0); if (r >= 0) close(r); i += 1; }
        else if (!strcmp(op, "stat")) { r = stat(a, &st); report(op, a, NULL, r); i += 1; }
        else if (!strcmp(op, "lstat")) { r = lstat(a, &st); report(op, a, NULL, r); i += 1; }
        else if (!strcmp(op, "readlink")) {
            r = readlink(a, buf, sizeof buf - 1);
            if (r >= 0) { buf[r] = 0; printf("readlink %s: %s\n", a, buf); } else report(op, a, NULL, r);
            i += 1;
        }
        else if (!strcmp(op, "mkdir")) { r = mkdir(a, 0755); report(op, a, NULL, r); i += 1; }
        else if (!strcmp(op, "rmdir")) { r = rmdir(a); report(op, a, NULL, r); i += 1; }
        else if (!strcmp(op, "unlink")) { r = unlink(a); report(op, a, NULL, r); i += 1; }
        else if (!strcmp(op, "chmod")) { r = chmod(a, 0600); report(op, a, NULL, r); i += 1; }
        else if (!strcmp(op, "chdir")) { r = chdir(a); report(op, a, NULL, r); i += 1; }
        else if (!strcmp(op, "rename")) { r = rename(a, b); report(op, a, b, r); i += 2; }
        else if (!strcmp(op, "link")) { r = link(a, b); report(op, a, b, r); i += 2; }
        else if (!strcmp(op, "symlink")) { r = symlink(a, b); report(op, a, b, r); i += 2; }
        else if (!strcmp(op, "getcwd")) { printf("getcwd: %s\n", getcwd(buf, sizeof buf) ? buf : ename(errno)); }
        else if (!strcmp(op, "read")) {
            FILE *f = fopen(a, "r");
            if (!f) report(op, a, NULL, -1);
            else { if (!fgets(buf, sizeof buf, f)) buf[0] = 0; buf[strcspn(buf, "\n")] = 0; printf("read %s: %s\n", a, buf); fclose(f); }
            i += 1;
        }
        else if (!strcmp(op, "list")) {
            DIR *d = opendir(a);
            if (!d) { report(op, a, NULL, -1); i += 1; continue; }
            char *names[256]; int n = 0; struct dirent *e;
            while ((e = readdir(d)) && n < 256) names[n++] = strdup(e->d_name);
            closedir(d);
            qsort(names, n, sizeof *names, cmp);
            printf("list %s:", a);
            for (int k = 0; k < n; k++) { printf(" %s", names[k]); free(names[k]); }
            printf("\n");
            i += 1;
        }
        else if (!strcmp(op, "atopen") || !strcmp(op, "atmkdir") || !strcmp(op, "atrename")) {
            int d = open(a, O_RDONLY | O_DIRECTORY);
            if (d < 0) { report(op, a, b, -1); i += !strcmp(op, "atrename") ? 3 : 2; continue; }
            if (!strcmp(op, "atopen")) { r = openat(d, b, O_RDONLY); if (r >= 0) close(r); r = r < 0 ? -1 : 0; report(op, a, b, r); i += 2; }
            else if (!strcmp(op, "atmkdir")) { r = mkdirat(d, b, 0755); report(op, a, b, r); i += 2; }
            else { r = renameat(d, b, AT_FDCWD, c); report(op, b, c, r); i += 3; }
            close(d);
        }
        else if (!strcmp(op, "--")) continue;
        else { fprintf(stderr, "fsprobe: unknown operation %s\n", op); return 2; }
    }
    return 0;
}
