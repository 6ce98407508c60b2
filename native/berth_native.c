/*
 * berth_native: the few system calls Node.js does not offer.
 *
 * sendDatagram(path, data): one AF_UNIX SOCK_DGRAM message, as sd_notify(3) sends to
 * $NOTIFY_SOCKET. Node's dgram module has no unix sockets. A leading '@' names an
 * abstract socket, as systemd allows.
 */
#include <errno.h>
#include <node_api.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
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

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sendDatagram", NAPI_AUTO_LENGTH, send_datagram, NULL, &fn);
  napi_set_named_property(env, exports, "sendDatagram", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
