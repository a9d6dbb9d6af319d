#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <sys/xattr.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <malloc.h>
#include <unistd.h>

/// pipe2(fds, O_CLOEXEC): both ends close on exec, set atomically.
static inline int cposix_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
