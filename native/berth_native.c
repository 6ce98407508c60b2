/*
 * berth_native: the few system calls Node.js does not offer.
 *
 * sendDatagram(path, data): one AF_UNIX SOCK_DGRAM message, as sd_notify(3) sends to
 * $NOTIFY_SOCKET. Node's dgram module has no unix sockets. A leading '@' names an
 * abstract socket, as systemd allows.
 * mknod(path, mode, major, minor): FIFOs, and overlayfs whiteouts (char device 0/0).
 * lsetxattr / lgetxattr / llistxattr: overlayfs opaque directories (trusted.overlay.opaque)
 * and file capabilities carried in image layers.
 * Errors are thrown as Error with `code` set to the errno name (as Node's own fs errors).
 */
#include <errno.h>
#include <node_api.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

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
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
