/* errname.h: errno values as their names, for guest programs whose output is
 * compared between native Linux and azemu (libc strerror texts differ between
 * glibc and musl; names do not).  Unknown values print as "errnoN". */
#ifndef AZEMU_ERRNAME_H
#define AZEMU_ERRNAME_H
#include <errno.h>
#include <stdio.h>

static const char *errno_name(int e)
{
    static char buf[32];
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ESRCH: return "ESRCH";
    case ECHILD: return "ECHILD";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENOSPC: return "ENOSPC";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ESPIPE: return "ESPIPE";
    case EPIPE: return "EPIPE";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case E2BIG: return "E2BIG";
    case EFBIG: return "EFBIG";
    case ENOMSG: return "ENOMSG";
    case EIDRM: return "EIDRM";
    default:
        snprintf(buf, sizeof buf, "errno%d", e);
        return buf;
    }
}
#endif
