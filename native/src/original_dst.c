/*
 * getOriginalDst(fd) -> { address, port, family }
 *
 * A connection redirected by iptables REDIRECT/DNAT arrives at the sidecar's
 * listener; the kernel keeps the address the client originally dialled in
 * conntrack, readable with getsockopt(SOL_IP, SO_ORIGINAL_DST) (IPv4) or
 * getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST) (IPv6). Node has no API for
 * it, hence this addon. Linux only; elsewhere it throws ENOSYS.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <node_api.h>

#ifdef __linux__
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/netfilter_ipv4.h>   /* SO_ORIGINAL_DST */
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80     /* linux/netfilter_ipv6/ip6_tables.h */
#endif
#endif

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  char code[32];
  snprintf(code, sizeof code, "errno:%d", err);
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value get_original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "getOriginalDst(fd): fd must be a non-negative integer");
    return NULL;
  }
#ifdef __linux__
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &len) != 0) return throw_errno(env, errno, "getsockname");

  struct sockaddr_storage dst;
  memset(&dst, 0, sizeof dst);
  len = sizeof dst;
  int rc;
  if (local.ss_family == AF_INET6) {
    rc = getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &len);
    /* An IPv4 connection on a dual-stack socket: ask the IPv4 table. */
    if (rc != 0) {
      len = sizeof dst;
      rc = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len);
    }
  } else {
    rc = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len);
  }
  if (rc != 0) return throw_errno(env, errno, "getsockopt(SO_ORIGINAL_DST)");

  char addr[INET6_ADDRSTRLEN];
  int port;
  const char *family;
  if (dst.ss_family == AF_INET6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&dst;
    if (!inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr)) return throw_errno(env, errno, "inet_ntop");
    port = ntohs(s6->sin6_port);
    family = "IPv6";
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&dst;
    if (!inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof addr)) return throw_errno(env, errno, "inet_ntop");
    port = ntohs(s4->sin_port);
    family = "IPv4";
  }

  napi_value result, v_addr, v_port, v_family;
  if (napi_create_object(env, &result) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, addr, NAPI_AUTO_LENGTH, &v_addr) != napi_ok) return NULL;
  if (napi_create_int32(env, port, &v_port) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, family, NAPI_AUTO_LENGTH, &v_family) != napi_ok) return NULL;
  napi_set_named_property(env, result, "address", v_addr);
  napi_set_named_property(env, result, "port", v_port);
  napi_set_named_property(env, result, "family", v_family);
  return result;
#else
  (void)fd;
  return throw_errno(env, ENOSYS, "getOriginalDst is only available on Linux");
#endif
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "getOriginalDst", NAPI_AUTO_LENGTH, get_original_dst, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "getOriginalDst", fn) != napi_ok) return NULL;
  return exports;
}
