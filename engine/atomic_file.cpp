#include "atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace cam {
namespace {

bool is_full(int err) {
  return err == ENOSPC || err == EDQUOT || err == EFBIG;  // ENOSPC is also "no free inodes"
}

// Writes all of `size` bytes; false with errno set otherwise.
bool write_all(int fd, const char* p, size_t size) {
  while (size) {
    const ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;
      return false;
    }
    p += n, size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string temporary_name_for(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  const size_t slash = path.rfind('/');
  const std::string folder = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  return folder + kTemporaryPrefix + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".tmp";
}

void write_file_atomically(const std::string& path, const std::string& head, const void* data, size_t size) {
  const std::string tmp = temporary_name_for(path);
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    const std::string message = path + ": cannot create (" + std::strerror(err) + ")";
    if (is_full(err)) throw OutputFullError(message);
    throw Error(message);
  }
  bool ok = write_all(fd, head.data(), head.size()) && write_all(fd, static_cast<const char*>(data), size);
  int err = errno;
  if (close(fd) != 0 && ok) ok = false, err = errno;
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) ok = false, err = errno;
  if (ok) return;
  unlink(tmp.c_str());
  const std::string message = path + ": cannot write (" + std::strerror(err) + ")";
  if (is_full(err)) throw OutputFullError(message);
  throw Error(message);
}

}  // namespace cam
