// Service-manager plumbing Node has no API for: a datagram to $NOTIFY_SOCKET (READY=1, WATCHDOG=1,
// STATUS=...) and the credentials of the peer of a unix stream socket (SO_PEERCRED), which the
// control socket checks before it answers anyone. No policy here: what to send and whom to trust is TS.
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "../errors.h"
#include "../modules.h"

namespace salvor {
namespace {

// notifySocket(path, message): one datagram; a path starting with '@' is in the abstract namespace.
Napi::Value NotifySocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    CodeError(env, "SALVOR_EINVAL", "notifySocket(path, message) takes two strings").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string message = info[1].As<Napi::String>().Utf8Value();
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path || (path[0] != '/' && path[0] != '@')) {
    ErrnoError(env, EINVAL, "connect", path).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = socklen_t(offsetof(struct sockaddr_un, sun_path) + path.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ErrnoError(env, errno, "socket", path).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ssize_t sent;
  do sent = sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&addr), len);
  while (sent < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (sent < 0) {
    ErrnoError(env, err, "sendto", path).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, double(sent));
}

// peerCredentials(fd) -> { pid, uid, gid } of the process at the other end of a unix socket.
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return info.Env().Undefined();
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    ErrnoError(info.Env(), errno, "getsockopt(SO_PEERCRED)").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("pid", double(cred.pid));
  out.Set("uid", double(cred.uid));
  out.Set("gid", double(cred.gid));
  return out;
}

}  // namespace

void InitNotify(Napi::Env env, Napi::Object exports) {
  exports.Set("notifySocket", Napi::Function::New(env, NotifySocket, "notifySocket"));
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials, "peerCredentials"));
}

}  // namespace salvor
