// libfuse3's high-level API (libfuse3-dev), for `cairn mount` (CairnMount only).
#define FUSE_USE_VERSION 35
#include <fuse.h>
#include <errno.h>

// fuse_new and fuse_loop_mt are function-like macros (they pick a versioned symbol), which
// Swift cannot call: these are the same calls as functions.

/// fuse_new with the size of the operations table filled in.
static inline struct fuse *cfuse_new(struct fuse_args *args, const struct fuse_operations *ops, void *private_data) {
    return fuse_new(args, ops, sizeof(*ops), private_data);
}

/// fuse_loop_mt (the worker threads share one /dev/fuse descriptor); at most `idle_threads`
/// threads are kept waiting when there is little to do.
static inline int cfuse_loop_mt(struct fuse *f, unsigned int idle_threads) {
    struct fuse_loop_config config = { .clone_fd = 0, .max_idle_threads = idle_threads };
    return fuse_loop_mt(f, &config);
}
