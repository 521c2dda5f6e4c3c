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

// Writes `head` then `size` bytes of `data` to `path`. Throws OutputFullError for ENOSPC/EDQUOT/EFBIG,
// otherwise cam::Error naming the path and the system's reason.
void write_file_atomically(const std::string& path, const std::string& head, const void* data, size_t size);

}  // namespace cam
