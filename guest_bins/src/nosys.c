/* nosys: calls syscalls that azemu does not offer.  Under azemu io_setup
 * (not offered), futex_waitv (not implemented) and an unknown number fail
 * with ENOSYS, reported once each; kexec_load is refused (EPERM) as a
 * guest's business it is not, without a report.  Natively they give other
 * results, which is expected. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errname.h"

static void report(const char *name, long r)
{
    int e = r < 0 ? errno : 0;
    printf("%s: ret=%ld errno=%s\n", name, r, errno_name(e));
}

int main(void)
{
    for (int i = 0; i < 3; i++) {
        errno = 0;
        report("io_setup", syscall(SYS_io_setup, 0, NULL));
    }
    errno = 0;
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0));
    errno = 0;
    report("futex_waitv", syscall(449, 0, 0, 0, 0, 0));
    errno = 0;
    report("syscall_1000", syscall(1000));
    return 0;
}
