#include "atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace cam {

void write_file_atomically(const std::string& path, const std::string& head, const void* data, size_t size) {
  std::string tmp = path + ".tmp" + std::to_string(getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error(path + ": cannot create (" + std::strerror(errno) + ")");
  bool ok = std::fwrite(head.data(), 1, head.size(), f) == head.size() &&
            (size == 0 || std::fwrite(data, 1, size, f) == size) && std::fflush(f) == 0;
  int err = errno;
  if (std::fclose(f) != 0 && ok) ok = false, err = errno;
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) ok = false, err = errno;
  if (ok) return;
  std::remove(tmp.c_str());
  std::string message = path + ": cannot write (" + std::strerror(err) + ")";
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) throw OutputFullError(message);
  throw Error(message);
}

}  // namespace cam
