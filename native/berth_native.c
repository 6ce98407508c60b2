/*
 * berth_native: the few system calls Node.js does not offer.
 *
 * sendDatagram(path, data): one AF_UNIX SOCK_DGRAM message, as sd_notify(3) sends to
 * $NOTIFY_SOCKET. Node's dgram module has no unix sockets. A leading '@' names an
 * abstract socket, as systemd allows.
 * mknod(path, mode, major, minor): FIFOs, and overlayfs whiteouts (char device 0/0).
 * lsetxattr / lgetxattr / llistxattr: overlayfs opaque directories (trusted.overlay.opaque)
 * and file capabilities carried in image layers.
 * seqpacketOpen(path, onPacket, onWritable): conmon's attach socket is AF_UNIX SOCK_SEQPACKET,
 * which Node's net module cannot use (libuv calls the fd UNKNOWN). The handle watches the fd
 * with uv_poll on the calling thread's own loop: every packet arrives whole as a Buffer
 * (onPacket(buf), then onPacket(null) at the end), sends never block (send returns -1 when
 * the socket is full; onWritable says when to try again), shutdown() half-closes, close() ends.
 * socketInNetns(nsPath, tcp, ip, port): a socket bound (and, for TCP, listening) inside
 * another network namespace — the embedded DNS server's, at 127.0.0.11 in a container's. The
 * calling thread enters the namespace with setns(2) (which is per thread), makes the socket,
 * and returns to its own before anything else runs on it; the socket stays in the namespace it
 * was made in. Node adopts the fd (dgram bind({fd}), net listen({fd})).
 * openat2 / mkdirat / symlinkat / linkat / unlinkat / mknodat / fchownat / fchmodat /
 * utimensat / readlinkat / fstatat: the *at(2) calls `docker cp` needs to work inside a container's
 * root through directory fds (openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so a
 * container racing symlink swaps cannot steer berthd outside it (CVE-2018-15664's class).
 * Errors are thrown as Error with `code` set to the errno name (as Node's own fs errors).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <node_api.h>
#include <uv.h>
#include <stdbool.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <sys/mount.h>
#include <linux/falloc.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <unistd.h>

#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif

static const char *errno_name(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOSPC: return "ENOSPC";
    case ENODATA: return "ENODATA";
    case ENOTSUP: return "ENOTSUP";
    case ERANGE: return "ERANGE";
    case EINVAL: return "EINVAL";
    case ENOTDIR: return "ENOTDIR";
    case EROFS: return "EROFS";
    case EDQUOT: return "EDQUOT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ELOOP: return "ELOOP";
    case EXDEV: return "EXDEV";
    case EISDIR: return "EISDIR";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EBADF: return "EBADF";
    case EMLINK: return "EMLINK";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EAGAIN: return "EAGAIN";
    case ENOSYS: return "ENOSYS";
    case EFBIG: return "EFBIG";
    default: return "EIO";
  }
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_throw(env, error);
  return NULL;
}

/* get_path copies a string argument into buf (PATH_MAX). */
static int get_path(napi_env env, napi_value v, char *buf, size_t len) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, buf, len, &n) != napi_ok || n == 0 || n >= len - 1) {
    napi_throw_type_error(env, NULL, "expected a non-empty path");
    return -1;
  }
  return 0;
}

static napi_value js_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  if (argc != 4 || get_path(env, argv[0], path, sizeof path)) return NULL;
  uint32_t mode = 0, major_ = 0, minor_ = 0;
  napi_get_value_uint32(env, argv[1], &mode);
  napi_get_value_uint32(env, argv[2], &major_);
  napi_get_value_uint32(env, argv[3], &minor_);
  if (mknod(path, (mode_t)mode, makedev(major_, minor_)) != 0) return throw_errno(env, path, errno);
  return NULL;
}

static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096], name[256];
  if (argc != 3 || get_path(env, argv[0], path, sizeof path) || get_path(env, argv[1], name, sizeof name)) return NULL;
  void *data = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "value must be a Buffer");
    return NULL;
  }
  if (lsetxattr(path, name, data, len, 0) != 0) return throw_errno(env, path, errno);
  return NULL;
}

/* lgetxattr returns a Buffer, or null when the attribute is absent. */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096], name[256];
  if (argc != 2 || get_path(env, argv[0], path, sizeof path) || get_path(env, argv[1], name, sizeof name)) return NULL;
  char value[65536];
  ssize_t n = lgetxattr(path, name, value, sizeof value);
  napi_value out;
  if (n < 0) {
    if (errno == ENODATA || errno == ENOTSUP) {
      napi_get_null(env, &out);
      return out;
    }
    return throw_errno(env, path, errno);
  }
  void *copy = NULL;
  napi_create_buffer_copy(env, (size_t)n, value, &copy, &out);
  return out;
}

/* llistxattr returns the attribute names of a path (not following a final symlink). */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  if (argc != 1 || get_path(env, argv[0], path, sizeof path)) return NULL;
  char names[65536];
  ssize_t n = llistxattr(path, names, sizeof names);
  napi_value arr;
  napi_create_array(env, &arr);
  if (n < 0) {
    if (errno == ENOTSUP) return arr;
    return throw_errno(env, path, errno);
  }
  uint32_t idx = 0;
  for (ssize_t i = 0; i < n;) {
    size_t len = strlen(names + i);
    napi_value s;
    napi_create_string_utf8(env, names + i, len, &s);
    napi_set_element(env, arr, idx++, s);
    i += (ssize_t)len + 1;
  }
  return arr;
}

static napi_value send_datagram(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) {
    napi_throw_type_error(env, NULL, "sendDatagram(path, data) takes two arguments");
    return NULL;
  }
  char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
  size_t path_len = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "path must be a string");
    return NULL;
  }
  if (path_len == 0 || path_len >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
    napi_throw_range_error(env, NULL, "socket path is empty or too long");
    return NULL;
  }
  void *data = NULL;
  size_t data_len = 0;
  if (napi_get_buffer_info(env, argv[1], &data, &data_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "data must be a Buffer");
    return NULL;
  }

  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, path_len);
  socklen_t addr_len = offsetof(struct sockaddr_un, sun_path) + path_len;
  if (path[0] == '@') {
    addr.sun_path[0] = '\0'; /* abstract namespace: no trailing NUL counted */
  } else {
    addr_len += 1;
  }

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  ssize_t n = sendto(fd, data, data_len, MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
  int err = errno;
  close(fd);
  if (n < 0) return throw_errno(env, "sendto", err);
  return NULL;
}

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref on_packet;
  napi_ref on_writable;
  int fd;
  int events;
  int closing;
  int handle_closed;
  int free_when_closed;
} seqpacket_t;

static void sp_call(seqpacket_t *sp, napi_ref ref, napi_value arg) {
  napi_handle_scope scope;
  napi_open_handle_scope(sp->env, &scope);
  napi_value fn, global;
  napi_get_reference_value(sp->env, ref, &fn);
  napi_get_global(sp->env, &global);
  if (fn) napi_make_callback(sp->env, NULL, global, fn, arg ? 1 : 0, arg ? &arg : NULL, NULL);
  napi_close_handle_scope(sp->env, scope);
}

/* The struct lives until both the poll handle is closed and the JS object is collected, so a
 * call on a closed handle finds `closing` set instead of freed memory. */
static void sp_closed(uv_handle_t *h) {
  seqpacket_t *sp = (seqpacket_t *)h->data;
  napi_delete_reference(sp->env, sp->on_packet);
  napi_delete_reference(sp->env, sp->on_writable);
  close(sp->fd);
  sp->fd = -1;
  sp->handle_closed = 1;
  if (sp->free_when_closed) free(sp);
}

static void sp_stop(seqpacket_t *sp) {
  if (sp->closing) return;
  sp->closing = 1;
  uv_poll_stop(&sp->poll);
  uv_close((uv_handle_t *)&sp->poll, sp_closed);
}

static void sp_on_poll(uv_poll_t *h, int status, int events) {
  seqpacket_t *sp = (seqpacket_t *)h->data;
  if (sp->closing) return;
  if (status < 0 || (events & UV_READABLE)) {
    char buf[65536];
    for (;;) {
      ssize_t n = status < 0 ? -1 : recv(sp->fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        napi_handle_scope scope;
        napi_open_handle_scope(sp->env, &scope);
        napi_value b;
        void *copy = NULL;
        napi_create_buffer_copy(sp->env, (size_t)n, buf, &copy, &b);
        sp_call(sp, sp->on_packet, b);
        napi_close_handle_scope(sp->env, scope);
        if (sp->closing) return;
        continue;
      }
      if (n < 0 && status >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
      /* 0: the peer closed; or an error: either way the stream is over. */
      napi_handle_scope scope;
      napi_open_handle_scope(sp->env, &scope);
      napi_value null_;
      napi_get_null(sp->env, &null_);
      sp_call(sp, sp->on_packet, null_);
      napi_close_handle_scope(sp->env, scope);
      sp->events &= ~UV_READABLE;
      if (!sp->closing) {
        if (sp->events) uv_poll_start(&sp->poll, sp->events, sp_on_poll);
        else uv_poll_stop(&sp->poll);
      }
      return;
    }
  }
  if (events & UV_WRITABLE) {
    sp->events &= ~UV_WRITABLE;
    uv_poll_start(&sp->poll, sp->events ? sp->events : UV_READABLE, sp_on_poll);
    if (!sp->events) uv_poll_stop(&sp->poll);
    sp_call(sp, sp->on_writable, NULL);
  }
}

static void sp_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  seqpacket_t *sp = (seqpacket_t *)data;
  if (sp->handle_closed) {
    free(sp);
    return;
  }
  sp->free_when_closed = 1;
  sp_stop(sp);
}

static seqpacket_t *sp_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  napi_get_cb_info(env, info, argc, argv, &self, NULL);
  seqpacket_t *sp = NULL;
  napi_unwrap(env, self, (void **)&sp);
  return sp;
}

/* write(buf) → bytes sent, or -1 when the socket is full (onWritable follows). */
static napi_value sp_write(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  seqpacket_t *sp = sp_this(env, info, &argc, argv);
  void *data = NULL;
  size_t len = 0;
  if (!sp || sp->closing || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) {
    napi_throw_error(env, "EPIPE", "the attach socket is closed");
    return NULL;
  }
  ssize_t n = send(sp->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    sp->events |= UV_WRITABLE;
    uv_poll_start(&sp->poll, sp->events, sp_on_poll);
    napi_create_int32(env, -1, &out);
    return out;
  }
  if (n < 0) return throw_errno(env, "send", errno);
  napi_create_int32(env, (int32_t)n, &out);
  return out;
}

static napi_value sp_shutdown(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  seqpacket_t *sp = sp_this(env, info, &argc, NULL);
  if (sp && !sp->closing) shutdown(sp->fd, SHUT_WR);
  return NULL;
}

static napi_value sp_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  seqpacket_t *sp = sp_this(env, info, &argc, NULL);
  if (sp) sp_stop(sp);
  return NULL;
}

static napi_value js_seqpacket_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  size_t n = 0;
  if (argc != 3 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &n) != napi_ok || n == 0 || n >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "seqpacketOpen(path, onPacket, onWritable): a socket path shorter than 108 bytes");
    return NULL;
  }
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, n);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, path, err);
  }
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  seqpacket_t *sp = calloc(1, sizeof *sp);
  sp->env = env;
  sp->fd = fd;
  sp->events = UV_READABLE;
  napi_create_reference(env, argv[1], 1, &sp->on_packet);
  napi_create_reference(env, argv[2], 1, &sp->on_writable);
  uv_poll_init(loop, &sp->poll, fd);
  sp->poll.data = sp;
  uv_poll_start(&sp->poll, sp->events, sp_on_poll);

  napi_value obj, fn;
  napi_create_object(env, &obj);
  napi_create_function(env, "write", NAPI_AUTO_LENGTH, sp_write, NULL, &fn);
  napi_set_named_property(env, obj, "write", fn);
  napi_create_function(env, "shutdown", NAPI_AUTO_LENGTH, sp_shutdown, NULL, &fn);
  napi_set_named_property(env, obj, "shutdown", fn);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, sp_close, NULL, &fn);
  napi_set_named_property(env, obj, "close", fn);
  napi_wrap(env, obj, sp, sp_finalize, NULL, NULL);
  return obj;
}

static napi_value js_socket_in_netns(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char ns[4096], ip[64];
  if (argc < 4 || get_path(env, argv[0], ns, sizeof ns) < 0 || get_path(env, argv[2], ip, sizeof ip) < 0) return NULL;
  bool tcp = false;
  int32_t port = 0;
  napi_get_value_bool(env, argv[1], &tcp);
  napi_get_value_int32(env, argv[3], &port);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) {
    napi_throw_type_error(env, NULL, "expected an IPv4 address");
    return NULL;
  }
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) return throw_errno(env, "open /proc/thread-self/ns/net", errno);
  int target = open(ns, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int e = errno;
    close(self);
    return throw_errno(env, ns, e);
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int e = errno;
    close(self);
    close(target);
    return throw_errno(env, "setns", e);
  }
  int fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || (tcp && listen(fd, 64) < 0)) {
      err = errno;
      close(fd);
      fd = -1;
    }
  }
  /* Back to this thread's own namespace whatever happened: nothing else may run in the other. */
  if (setns(self, CLONE_NEWNET) < 0) abort();
  close(self);
  close(target);
  if (fd < 0) return throw_errno(env, "socket in the namespace", err);
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}


/*
 * netnsCreate(path): a new network namespace, kept by a bind mount on path (an existing empty
 * file), with its loopback up — what `unshare --net=path ip link set lo up` does, without the
 * two processes. The calling thread unshares, binds, sets lo up and goes back to its own
 * namespace before anything else runs on it.
 */
static napi_value js_netns_create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  if (argc != 1 || get_path(env, argv[0], path, sizeof path)) return NULL;
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) return throw_errno(env, "open /proc/thread-self/ns/net", errno);
  if (unshare(CLONE_NEWNET) < 0) {
    int e = errno;
    close(self);
    return throw_errno(env, "unshare", e);
  }
  const char *what = NULL;
  int err = 0;
  if (mount("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL) < 0) {
    what = path;
    err = errno;
  } else {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) < 0)) {
      what = "lo up";
      err = errno;
      umount2(path, MNT_DETACH);
    }
    if (s >= 0) close(s);
  }
  /* Back to this thread's own namespace whatever happened: nothing else may run in the new one. */
  if (setns(self, CLONE_NEWNET) < 0) abort();
  close(self);
  if (what) return throw_errno(env, what, err);
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* ---- *at(2) calls for docker cp: everything relative to a directory fd ------------------- */

/* get_str copies a string argument (which may be empty: "" with AT_EMPTY_PATH) into buf. */
static int get_str(napi_env env, napi_value v, char *buf, size_t len) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, buf, len, &n) != napi_ok || n >= len - 1) {
    napi_throw_type_error(env, NULL, "expected a string shorter than PATH_MAX");
    return -1;
  }
  return 0;
}

static int32_t arg_i32(napi_env env, napi_value v) {
  int32_t x = 0;
  napi_get_value_int32(env, v, &x);
  return x;
}

static double arg_f64(napi_env env, napi_value v) {
  double x = 0;
  napi_get_value_double(env, v, &x);
  return x;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* openat2(dirfd, path, flags, mode, resolve) → fd. O_CLOEXEC is always added. */
static napi_value js_openat2(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  if (argc != 5 || get_str(env, argv[1], path, sizeof path)) return NULL;
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(uint32_t)arg_i32(env, argv[2]) | O_CLOEXEC;
  how.mode = (how.flags & (O_CREAT | O_TMPFILE)) ? (uint64_t)(arg_i32(env, argv[3]) & 07777) : 0;
  how.resolve = (uint64_t)(uint32_t)arg_i32(env, argv[4]);
  long fd;
  do fd = syscall(__NR_openat2, arg_i32(env, argv[0]), path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN && (how.resolve & (RESOLVE_IN_ROOT | RESOLVE_BENEATH)));
  if (fd < 0) return throw_errno(env, path[0] ? path : "openat2", errno);
  napi_value out;
  napi_create_int32(env, (int32_t)fd, &out);
  return out;
}

static napi_value js_mkdirat(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[4096];
  if (argc != 3 || get_str(env, argv[1], name, sizeof name)) return NULL;
  if (mkdirat(arg_i32(env, argv[0]), name, (mode_t)(arg_i32(env, argv[2]) & 07777)) != 0) return throw_errno(env, name, errno);
  return undefined(env);
}

/* symlinkat(target, dirfd, name) */
static napi_value js_symlinkat(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char target[4096], name[4096];
  if (argc != 3 || get_str(env, argv[0], target, sizeof target) || get_str(env, argv[2], name, sizeof name)) return NULL;
  if (symlinkat(target, arg_i32(env, argv[1]), name) != 0) return throw_errno(env, name, errno);
  return undefined(env);
}

/* linkat(olddirfd, oldname, newdirfd, newname, flags) */
static napi_value js_linkat(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char oldname[4096], newname[4096];
  if (argc != 5 || get_str(env, argv[1], oldname, sizeof oldname) || get_str(env, argv[3], newname, sizeof newname)) return NULL;
  if (linkat(arg_i32(env, argv[0]), oldname, arg_i32(env, argv[2]), newname, arg_i32(env, argv[4])) != 0) return throw_errno(env, newname, errno);
  return undefined(env);
}

/* unlinkat(dirfd, name, flags) */
static napi_value js_unlinkat(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[4096];
  if (argc != 3 || get_str(env, argv[1], name, sizeof name)) return NULL;
  if (unlinkat(arg_i32(env, argv[0]), name, arg_i32(env, argv[2])) != 0) return throw_errno(env, name, errno);
  return undefined(env);
}

/* punchHole(fd, offset, length): frees a file's blocks in that range, its size unchanged
 * (fallocate PUNCH_HOLE|KEEP_SIZE): conmon's log, once converted, stops holding memory on /run. */
static napi_value js_punch_hole(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 3) return NULL;
  int64_t off = 0, len = 0;
  napi_get_value_int64(env, argv[1], &off);
  napi_get_value_int64(env, argv[2], &len);
  if (fallocate(arg_i32(env, argv[0]), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) != 0) return throw_errno(env, "fallocate", errno);
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* closeFd(fd): close(2) of an fd this addon opened (Node's fs.close would warn that it did not open it). */
static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 1) return NULL;
  if (close(arg_i32(env, argv[0])) != 0) return throw_errno(env, "close", errno);
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* The work of one mount or umount2, done on a libuv pool thread: an unmount can wait for the
 * filesystem's writeback for hundreds of milliseconds, which must not stall the actor's loop. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int is_mount;
  char source[4096], target[4096], fstype[256], data[4096];
  unsigned long flags;
  int err;
} mount_job_t;

static void mount_execute(napi_env env, void *data) {
  (void)env;
  mount_job_t *j = data;
  int rc = j->is_mount ? mount(j->source, j->target, j->fstype[0] ? j->fstype : NULL, j->flags, j->data[0] ? j->data : NULL)
                       : umount2(j->target, (int)j->flags);
  j->err = rc != 0 ? errno : 0;
}

static void mount_complete(napi_env env, napi_status status, void *data) {
  mount_job_t *j = data;
  if (status == napi_ok && j->err == 0) {
    napi_value u;
    napi_get_undefined(env, &u);
    napi_resolve_deferred(env, j->deferred, u);
  } else {
    int err = j->err ? j->err : EIO;
    char msg[4400];
    snprintf(msg, sizeof msg, "%s: %s", j->target, strerror(err));
    napi_value code, message, error;
    napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &error);
    napi_reject_deferred(env, j->deferred, error);
  }
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value queue_mount_job(napi_env env, mount_job_t *j) {
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, j->is_mount ? "berth.mount" : "berth.umount2", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, mount_execute, mount_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

/*
 * mount(source, target, fstype, flags, data) and umount2(target, flags) → Promise: the syscalls
 * the graph actor used mount(8) and umount(8) processes for, on every container's create, start
 * and exit. data is at most a page, as the kernel takes it.
 */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  mount_job_t *j = calloc(1, sizeof *j);
  if (!j) return throw_errno(env, "mount", ENOMEM);
  j->is_mount = 1;
  if (argc != 5 || get_str(env, argv[0], j->source, sizeof j->source) || get_str(env, argv[1], j->target, sizeof j->target) ||
      get_str(env, argv[2], j->fstype, sizeof j->fstype) || get_str(env, argv[4], j->data, sizeof j->data)) {
    free(j);
    return NULL;
  }
  j->flags = (unsigned long)(uint32_t)arg_i32(env, argv[3]);
  return queue_mount_job(env, j);
}

static napi_value js_umount2(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  mount_job_t *j = calloc(1, sizeof *j);
  if (!j) return throw_errno(env, "umount2", ENOMEM);
  if (argc != 2 || get_str(env, argv[0], j->target, sizeof j->target)) {
    free(j);
    return NULL;
  }
  j->flags = (unsigned long)(uint32_t)arg_i32(env, argv[1]);
  return queue_mount_job(env, j);
}

/* mknodat(dirfd, name, mode, major, minor): mode includes the file type. */
static napi_value js_mknodat(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[4096];
  if (argc != 5 || get_str(env, argv[1], name, sizeof name)) return NULL;
  dev_t dev = makedev((unsigned)arg_i32(env, argv[3]), (unsigned)arg_i32(env, argv[4]));
  if (mknodat(arg_i32(env, argv[0]), name, (mode_t)arg_i32(env, argv[2]), dev) != 0) return throw_errno(env, name, errno);
  return undefined(env);
}

/* fchownat(dirfd, name, uid, gid, flags) */
static napi_value js_fchownat(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[4096];
  if (argc != 5 || get_str(env, argv[1], name, sizeof name)) return NULL;
  if (fchownat(arg_i32(env, argv[0]), name, (uid_t)arg_f64(env, argv[2]), (gid_t)arg_f64(env, argv[3]), arg_i32(env, argv[4])) != 0)
    return throw_errno(env, name, errno);
  return undefined(env);
}

/* fchmodat(dirfd, name, mode, flags): fchmodat2(2), which (unlike glibc's fchmodat) honours
 * AT_SYMLINK_NOFOLLOW, so a name swapped for a symlink is refused instead of followed. */
static napi_value js_fchmodat(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[4096];
  if (argc != 4 || get_str(env, argv[1], name, sizeof name)) return NULL;
  if (syscall(__NR_fchmodat2, arg_i32(env, argv[0]), name, (mode_t)(arg_i32(env, argv[2]) & 07777), arg_i32(env, argv[3])) != 0)
    return throw_errno(env, name, errno);
  return undefined(env);
}

/* utimensat(dirfd, name, atimeSec, atimeNsec, mtimeSec, mtimeNsec, flags) */
static napi_value js_utimensat(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[4096];
  if (argc != 7 || get_str(env, argv[1], name, sizeof name)) return NULL;
  struct timespec ts[2];
  ts[0].tv_sec = (time_t)arg_f64(env, argv[2]);
  ts[0].tv_nsec = (long)arg_f64(env, argv[3]);
  ts[1].tv_sec = (time_t)arg_f64(env, argv[4]);
  ts[1].tv_nsec = (long)arg_f64(env, argv[5]);
  if (utimensat(arg_i32(env, argv[0]), name, ts, arg_i32(env, argv[6])) != 0) return throw_errno(env, name, errno);
  return undefined(env);
}

/* readlinkat(dirfd, name) → the link's target ("" names an O_PATH fd of the link itself). */
static napi_value js_readlinkat(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[4096], target[4097];
  if (argc != 2 || get_str(env, argv[1], name, sizeof name)) return NULL;
  ssize_t n = readlinkat(arg_i32(env, argv[0]), name, target, sizeof target - 1);
  if (n < 0) return throw_errno(env, name[0] ? name : "readlinkat", errno);
  napi_value out;
  napi_create_string_utf8(env, target, (size_t)n, &out);
  return out;
}

static void set_num(napi_env env, napi_value obj, const char *key, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, obj, key, x);
}

/* fstatat(dirfd, name, flags) → {mode, uid, gid, size, nlink, dev, ino (a string), rdevMajor,
 * rdevMinor, mtimeSec, mtimeNsec}, or null when the name does not exist (ENOENT). */
static napi_value js_fstatat(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[4096];
  if (argc != 3 || get_str(env, argv[1], name, sizeof name)) return NULL;
  struct stat st;
  napi_value out;
  if (fstatat(arg_i32(env, argv[0]), name, &st, arg_i32(env, argv[2])) != 0) {
    if (errno == ENOENT) {
      napi_get_null(env, &out);
      return out;
    }
    return throw_errno(env, name[0] ? name : "fstatat", errno);
  }
  napi_create_object(env, &out);
  set_num(env, out, "mode", st.st_mode);
  set_num(env, out, "uid", st.st_uid);
  set_num(env, out, "gid", st.st_gid);
  set_num(env, out, "size", (double)st.st_size);
  set_num(env, out, "nlink", (double)st.st_nlink);
  set_num(env, out, "dev", (double)st.st_dev);
  set_num(env, out, "rdevMajor", major(st.st_rdev));
  set_num(env, out, "rdevMinor", minor(st.st_rdev));
  set_num(env, out, "mtimeSec", (double)st.st_mtim.tv_sec);
  set_num(env, out, "mtimeNsec", (double)st.st_mtim.tv_nsec);
  char ino[32];
  snprintf(ino, sizeof ino, "%llu", (unsigned long long)st.st_ino);
  napi_value s;
  napi_create_string_utf8(env, ino, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, out, "ino", s);
  return out;
}

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

static napi_value init(napi_env env, napi_value exports) {
  export_fn(env, exports, "sendDatagram", send_datagram);
  export_fn(env, exports, "mknod", js_mknod);
  export_fn(env, exports, "lsetxattr", js_lsetxattr);
  export_fn(env, exports, "lgetxattr", js_lgetxattr);
  export_fn(env, exports, "llistxattr", js_llistxattr);
  export_fn(env, exports, "seqpacketOpen", js_seqpacket_open);
  export_fn(env, exports, "socketInNetns", js_socket_in_netns);
  export_fn(env, exports, "openat2", js_openat2);
  export_fn(env, exports, "mkdirat", js_mkdirat);
  export_fn(env, exports, "symlinkat", js_symlinkat);
  export_fn(env, exports, "linkat", js_linkat);
  export_fn(env, exports, "unlinkat", js_unlinkat);
  export_fn(env, exports, "mknodat", js_mknodat);
  export_fn(env, exports, "fchownat", js_fchownat);
  export_fn(env, exports, "fchmodat", js_fchmodat);
  export_fn(env, exports, "utimensat", js_utimensat);
  export_fn(env, exports, "readlinkat", js_readlinkat);
  export_fn(env, exports, "fstatat", js_fstatat);
  export_fn(env, exports, "mount", js_mount);
  export_fn(env, exports, "closeFd", js_close_fd);
  export_fn(env, exports, "punchHole", js_punch_hole);
  export_fn(env, exports, "netnsCreate", js_netns_create);
  export_fn(env, exports, "umount2", js_umount2);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
