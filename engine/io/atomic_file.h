// Files that appear whole or not at all. Bytes go to a temporary file next to the target; every write and the
// close are checked; only then is the file renamed into place, so a full disk or a size limit never leaves a
// truncated output under its final name.
#pragma once
#include <cstddef>
#include <string>

#include "engine/base/error.h"

namespace cam {

// The output cannot take more bytes (disk full, quota, file size limit): writing anything else will fail too.
class OutputFullError : public Error {
 public:
  explicit OutputFullError(const std::string& message) : Error(message) {}
};

// Temporary files are "<folder>/.cam-tmp-<pid>-<n>.tmp": unique per write (duplicate inputs, threads), short
// (a 255-byte output name still has a legal temporary name), and recognisable, so a run that holds the
// output folder's lock removes the ones a killed run left.
constexpr const char* kTemporaryPrefix = ".cam-tmp-";
std::string temporary_name_for(const std::string& path);

// A file written piece by piece: the bytes go to a temporary file beside `path`, and commit() closes it and
// renames it into place. Destroyed before commit(), the temporary file is removed. Throws OutputFullError for
// ENOSPC/EDQUOT/EFBIG, otherwise cam::Error naming the path and the system's reason.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void append(const void* data, size_t size);
  void append(const std::string& text) { append(text.data(), text.size()); }
  void commit();

 private:
  [[noreturn]] void fail(int err);
  std::string path_, temporary_;
  int fd_ = -1;
};

// Writes `head` then `size` bytes of `data` to `path` as one AtomicFile.
void write_file_atomically(const std::string& path, const std::string& head, const void* data, size_t size);

}  // namespace cam
