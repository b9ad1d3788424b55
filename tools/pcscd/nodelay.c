/*
 * nodelay.c - LD_PRELOAD shim for pcscd that turns off Nagle's algorithm on its TCP sockets.
 *
 * Why: Debian's vsmartcard vpcd driver (libifdvpcd.so, 0.8) runs inside pcscd, listens on TCP 35963/35964 and
 * sends every frame to the virtual card as two send() calls (2-byte length, then payload). With Nagle enabled
 * the second send waits for the peer's ACK of the first, and the peer delays that ACK by ~40 ms, so every APDU
 * costs ~44 ms (docs: protocol.md section 6). Setting TCP_NODELAY on the card's end does not help; pcscd's end
 * must have it. This shim sets TCP_NODELAY on every TCP socket pcscd (or a driver loaded into it) accepts,
 * connects or listens on. The accepted sockets are what matters (vpcd writes to them); the listening socket is
 * set too, harmlessly.
 *
 * Build:  tools/pcscd/build.sh            (writes .cache/pcscd/libnodelay.so under the project root)
 * Use:    LD_PRELOAD=/path/to/libnodelay.so pcscd --foreground      (tools/pcscd/run.sh does this)
 *
 * Environment (read once, when the library is loaded):
 *   PCSCD_NODELAY_VERBOSE=1   print one line on stderr for each socket it tunes
 *   PCSCD_NODELAY_QUICKACK=1  also set TCP_QUICKACK after accept/connect (one-shot in Linux: the kernel may fall
 *                             back to delayed ACKs later). Measured with tools/pcscd/bench-roundtrip.ts: no gain
 *                             over TCP_NODELAY alone (median ~0.1 ms either way), so it is off by default.
 *   PCSCD_NODELAY_DISABLE=1   pass everything through untouched (for A/B measurements with the same command line)
 *
 * Only AF_INET/AF_INET6 stream sockets are touched; pcscd's unix socket (/run/pcscd/pcscd.comm) is left alone.
 * errno is preserved so the wrapped call's result looks exactly like the real one to the caller.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*listen_fn)(int, int);

/*
 * Settings and the real libc functions, filled by the constructor below before pcscd's main() starts its
 * threads, so the wrappers only read them. The lazy fallbacks in the wrappers cover a call made by another
 * library's constructor before ours ran (single-threaded at that point).
 */
static int verbose, quickack, disabled;
static accept_fn real_accept;
static accept4_fn real_accept4;
static connect_fn real_connect;
static listen_fn real_listen;

static int flag_from_env(const char *name) {
    const char *value = getenv(name);
    return value != NULL && value[0] != '\0' && strcmp(value, "0") != 0;
}

/* Resolves the next definition of a symbol (libc's); aborts loudly if it cannot, rather than recursing. */
static void *next_symbol(const char *name) {
    void *symbol = dlsym(RTLD_NEXT, name);
    if (symbol == NULL) {
        fprintf(stderr, "libnodelay: cannot resolve %s: %s\n", name, dlerror());
        abort();
    }
    return symbol;
}

__attribute__((constructor)) static void initialise(void) {
    verbose = flag_from_env("PCSCD_NODELAY_VERBOSE");
    quickack = flag_from_env("PCSCD_NODELAY_QUICKACK");
    disabled = flag_from_env("PCSCD_NODELAY_DISABLE");
    real_accept = (accept_fn)next_symbol("accept");
    real_accept4 = (accept4_fn)next_symbol("accept4");
    real_connect = (connect_fn)next_symbol("connect");
    real_listen = (listen_fn)next_symbol("listen");
    if (verbose) {
        fprintf(stderr, "libnodelay: loaded (%s%s)\n", disabled ? "DISABLED" : "TCP_NODELAY",
                !disabled && quickack ? " + TCP_QUICKACK" : "");
    }
}

/* Sets TCP_NODELAY (and optionally TCP_QUICKACK) on fd if it is a TCP socket. Never changes errno. */
static void tune_socket(int fd, const char *where) {
    if (disabled || fd < 0) return;

    int saved_errno = errno;
    struct sockaddr_storage address;
    socklen_t address_length = sizeof address;
    int type = 0;
    socklen_t type_length = sizeof type;
    if (getsockname(fd, (struct sockaddr *)&address, &address_length) == 0 &&
        (address.ss_family == AF_INET || address.ss_family == AF_INET6) &&
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) == 0 && type == SOCK_STREAM) {
        int one = 1;
        int nodelay_result = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int quickack_result = quickack ? setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one) : 0;
        if (verbose) {
            fprintf(stderr, "libnodelay: %s fd %d: TCP_NODELAY %s%s\n", where, fd,
                    nodelay_result == 0 ? "set" : "FAILED",
                    quickack ? (quickack_result == 0 ? ", TCP_QUICKACK set" : ", TCP_QUICKACK FAILED") : "");
        }
    }
    errno = saved_errno;
}

int accept(int fd, struct sockaddr *address, socklen_t *address_length) {
    if (real_accept == NULL) real_accept = (accept_fn)next_symbol("accept");
    int result = real_accept(fd, address, address_length);
    if (result >= 0) tune_socket(result, "accept");
    return result;
}

int accept4(int fd, struct sockaddr *address, socklen_t *address_length, int flags) {
    if (real_accept4 == NULL) real_accept4 = (accept4_fn)next_symbol("accept4");
    int result = real_accept4(fd, address, address_length, flags);
    if (result >= 0) tune_socket(result, "accept4");
    return result;
}

int connect(int fd, const struct sockaddr *address, socklen_t address_length) {
    if (real_connect == NULL) real_connect = (connect_fn)next_symbol("connect");
    /* Before the call, so that a non-blocking connect (EINPROGRESS) is covered too. */
    tune_socket(fd, "connect");
    return real_connect(fd, address, address_length);
}

int listen(int fd, int backlog) {
    if (real_listen == NULL) real_listen = (listen_fn)next_symbol("listen");
    int result = real_listen(fd, backlog);
    if (result == 0) tune_socket(fd, "listen");
    return result;
}
