#include <sys/xattr.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <malloc.h>
#include <unistd.h>

// glibc declares pipe2 only under _GNU_SOURCE, and defining that here would make this module's
// view of the C headers differ from Glibc's (clang then rejects the two modules' fd_set).
extern int pipe2(int pipefd[2], int flags);
// Also GNU-only in the headers (glibc 2.34+): close every descriptor from `from` up in a
// spawned child, so helpers (ssh, password commands) inherit nothing but 0, 1 and 2.
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

/// pipe2(fds, O_CLOEXEC): both ends close on exec, set atomically.
static inline int cposix_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

/// O_PATH (Linux; glibc shows it only under _GNU_SOURCE): open a folder just to walk from it.
#ifdef O_PATH
static const int cposix_o_path = O_PATH;
#else
static const int cposix_o_path = 010000000;
#endif

/// lseek's SEEK_DATA and SEEK_HOLE (Linux 3.1+; glibc shows them only under _GNU_SOURCE).
#ifdef SEEK_DATA
static const int cposix_seek_data = SEEK_DATA;
static const int cposix_seek_hole = SEEK_HOLE;
#else
static const int cposix_seek_data = 3;
static const int cposix_seek_hole = 4;
#endif
