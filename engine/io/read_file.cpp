#include "engine/io/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/base/error.h"

namespace cam {
namespace {

std::string file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Closes the descriptor on every way out.
struct Descriptor {
  int fd;
  ~Descriptor() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

std::vector<uint8_t> read_regular_file(const std::string& path, size_t max_bytes, const std::string& what) {
  const Descriptor file{open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (file.fd < 0) throw Error(path + ": cannot open " + what + " (" + std::strerror(errno) + ")");
  struct stat st;
  if (fstat(file.fd, &st) != 0)
    throw Error(path + ": cannot open " + what + " (" + std::strerror(errno) + ")");
  if (!S_ISREG(st.st_mode))
    throw Error(path + ": not " + (std::strchr("aeiou", what[0]) ? "an " : "a ") + what + " (" +
                file_kind(st.st_mode) + ")");
  const size_t size = static_cast<size_t>(st.st_size);
  if (size > max_bytes)
    throw Error(path + ": file is " + std::to_string(size) + " bytes, over the limit of " +
                std::to_string(max_bytes) + " bytes for " + what);
  std::vector<uint8_t> bytes(size);
  for (size_t done = 0; done < size;) {
    const ssize_t n = read(file.fd, bytes.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error(path + ": read error (" +
                  (n < 0 ? std::strerror(errno) : "the file shrank while it was read") + ")");
    done += static_cast<size_t>(n);
  }
  return bytes;
}

}  // namespace cam
