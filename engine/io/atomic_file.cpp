#include "engine/io/atomic_file.h"

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

AtomicFile::AtomicFile(const std::string& path) : path_(path), temporary_(temporary_name_for(path)) {
  fd_ = open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int err = errno;
    const std::string message = path + ": cannot create (" + std::strerror(err) + ")";
    if (is_full(err)) throw OutputFullError(message);
    throw Error(message);
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ < 0) return;
  close(fd_);
  unlink(temporary_.c_str());
}

void AtomicFile::fail(int err) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  unlink(temporary_.c_str());
  const std::string message = path_ + ": cannot write (" + std::strerror(err) + ")";
  if (is_full(err)) throw OutputFullError(message);
  throw Error(message);
}

void AtomicFile::append(const void* data, size_t size) {
  if (!write_all(fd_, static_cast<const char*>(data), size)) fail(errno);
}

void AtomicFile::commit() {
  const int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) {
    const int err = errno;
    unlink(temporary_.c_str());
    fail(err);
  }
  if (std::rename(temporary_.c_str(), path_.c_str()) != 0) fail(errno);
}

void write_file_atomically(const std::string& path, const std::string& head, const void* data, size_t size) {
  AtomicFile file(path);
  file.append(head);
  file.append(data, size);
  file.commit();
}

}  // namespace cam
