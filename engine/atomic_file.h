// Files that appear whole or not at all. Bytes go to a temporary file next to the target; every write and the
// close are checked; only then is the file renamed into place, so a full disk or a size limit never leaves a
// truncated output under its final name.
#pragma once
#include <cstddef>
#include <string>

#include "error.h"

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

// Writes `head` then `size` bytes of `data` to `path`. Throws OutputFullError for ENOSPC/EDQUOT/EFBIG,
// otherwise cam::Error naming the path and the system's reason.
void write_file_atomically(const std::string& path, const std::string& head, const void* data, size_t size);

}  // namespace cam
